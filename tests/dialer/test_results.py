"""What happened to each record of a list: the ones not simply sent, with address,
reason and time, filtered by state, paged, and exported as CSV (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from sqlalchemy import update

from example_host_app.extensions import db
from tests.dialer.helpers import CAMPAIGN, csv_text, upload
from tests.fixtures.servers import SmtpSink
from ucmail_ext.models import DialerList, DialerRecord
from ucmail_ext.services import blacklist
from ucmail_ext.services.dialer import dialers as dialer_service
from ucmail_ext.services.dialer import lists as dialer_lists
from ucmail_ext.services.dialer.recovery import INTERRUPTED


def _sent_list(dialer_id: int, sink: SmtpSink) -> DialerList:
    """A list played to the end against the real sink: one of each outcome."""
    sink.refused_recipients["nobody@mail.example"] = "550 5.1.1 no such user"
    blacklist.add("gone@mail.example", "manual")
    db.session.commit()
    rows = [
        f'{CAMPAIGN};ok@mail.example;;;"name":"Ok";',
        f'{CAMPAIGN};nobody@mail.example;;;"name":"Nobody";',
        f"{CAMPAIGN};nameless@mail.example;;;;",
        f'{CAMPAIGN};gone@mail.example;;;"name":"Gone";',
        f'{CAMPAIGN};fine@mail.example;;;"name":"Fine";',
    ]
    report = upload(dialer_id, csv_text(rows), subject="Hello ${name}")
    result = dialer_service.play_list(report.list_id, None, "1")
    assert result.ok, result.message
    db.session.expire_all()
    return db.session.get(DialerList, report.list_id)


def test_records_not_sent_are_shown_with_address_reason_and_time(
    any_dialer_id: int, sink: SmtpSink
) -> None:
    dialer_list = _sent_list(any_dialer_id, sink)

    page = dialer_lists.problem_records(dialer_list, "", 1)
    shown = [(r.line, r.email, r.state) for r in page.items]
    assert shown == [
        (3, "nobody@mail.example", "rejected"),
        (4, "nameless@mail.example", "failed"),
        (5, "gone@mail.example", "skipped"),
    ]
    reasons = {r.email: r.error for r in page.items}
    assert "no such user" in reasons["nobody@mail.example"]
    assert "missing variable(s): name" in reasons["nameless@mail.example"]
    assert "blacklist" in reasons["gone@mail.example"]
    assert all(r.updated_at is not None for r in page.items)
    assert page.total == 3


def test_records_are_filtered_by_state_and_paged(any_dialer_id: int, sink: SmtpSink) -> None:
    dialer_list = _sent_list(any_dialer_id, sink)

    failed = dialer_lists.problem_records(dialer_list, "failed", 1)
    assert [r.email for r in failed.items] == ["nameless@mail.example"]
    assert dialer_lists.problem_records(dialer_list, "spam", 1).total == 0
    # An unknown state is no filter, never an error (and never the sent ones).
    assert dialer_lists.problem_records(dialer_list, "bogus", 1).total == 3

    first = dialer_lists.problem_records(dialer_list, "", 1, per_page=2)
    second = dialer_lists.problem_records(dialer_list, "", 2, per_page=2)
    assert (first.pages, first.has_next, second.has_next) == (2, True, False)
    assert [r.line for r in first.items + second.items] == [3, 4, 5]


def test_interrupted_records_have_a_filter_of_their_own(any_dialer_id: int, sink: SmtpSink) -> None:
    dialer_list = _sent_list(any_dialer_id, sink)
    db.session.execute(
        update(DialerRecord)
        .where(DialerRecord.email == "fine@mail.example")
        .values(state="failed", error=INTERRUPTED)
    )
    db.session.commit()

    interrupted = dialer_lists.problem_records(dialer_list, "interrupted", 1)
    assert [r.email for r in interrupted.items] == ["fine@mail.example"]
    assert dialer_lists.problem_records(dialer_list, "failed", 1).total == 2


def test_export_is_csv_of_the_same_records_safe_from_formulas(
    any_dialer_id: int, sink: SmtpSink
) -> None:
    dialer_list = _sent_list(any_dialer_id, sink)
    db.session.execute(
        update(DialerRecord)
        .where(DialerRecord.email == "nameless@mail.example")
        .values(error='=HYPERLINK("http://evil.example","x")')
    )
    db.session.commit()

    text = "".join(dialer_lists.problem_records_csv(dialer_list, ""))
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == list(dialer_lists.EXPORT_COLUMNS)
    assert [(row[0], row[1], row[2]) for row in rows[1:]] == [
        ("3", "nobody@mail.example", "rejected"),
        ("4", "nameless@mail.example", "failed"),
        ("5", "gone@mail.example", "skipped"),
    ]
    assert rows[2][4] == '\'=HYPERLINK("http://evil.example","x")'
    assert rows[1][3] == "550" and rows[1][6]

    only_skipped = "".join(dialer_lists.problem_records_csv(dialer_list, "skipped"))
    assert only_skipped.count("\r\n") == 2 and "gone@mail.example" in only_skipped


def test_results_show_every_status_including_sent_seen_and_clicked(
    any_dialer_id: int, sink: SmtpSink
) -> None:
    dialer_list = _sent_list(any_dialer_id, sink)
    now = datetime.now(UTC)
    db.session.execute(
        update(DialerRecord).where(DialerRecord.email == "ok@mail.example").values(seen_at=now)
    )
    db.session.execute(
        update(DialerRecord)
        .where(DialerRecord.email == "fine@mail.example")
        .values(seen_at=now, clicked_at=now)
    )
    db.session.commit()

    def emails(state: str) -> list[str]:
        return [r.email for r in dialer_lists.problem_records(dialer_list, state, 1).items]

    assert emails("sent") == ["ok@mail.example", "fine@mail.example"]
    assert emails("seen") == ["ok@mail.example", "fine@mail.example"]
    assert emails("clicked") == ["fine@mail.example"]
    assert emails("skipped") == ["gone@mail.example"]
    assert len(emails("all")) == 5
    assert emails("pending") == []

    text = "".join(dialer_lists.problem_records_csv(dialer_list, "clicked"))
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][-3:] == ["sent_at", "seen_at", "clicked_at"]
    assert rows[1][1] == "fine@mail.example" and all(rows[1][-3:])
    everything = "".join(dialer_lists.problem_records_csv(dialer_list, "all"))
    assert everything.count("\r\n") == 6


def test_monitoring_counts_clicked_and_unsubscribed(any_dialer_id: int, sink: SmtpSink) -> None:
    _sent_list(any_dialer_id, sink)
    db.session.execute(
        update(DialerRecord)
        .where(DialerRecord.email == "fine@mail.example")
        .values(seen_at=datetime.now(UTC), clicked_at=datetime.now(UTC))
    )
    db.session.execute(
        update(DialerRecord)
        .where(DialerRecord.email == "ok@mail.example")
        .values(state="unsubscribed")
    )
    db.session.commit()

    [row] = dialer_service.monitor(None)
    assert (row.clicked, row.unsubscribed, row.seen) == (1, 1, 1)
    assert row.as_dict()["clicked"] == 1


def test_the_list_page_filters_results_and_exports_them(dialer_id: int, sink, client_for) -> None:
    dialer_list = _sent_list(dialer_id, sink)
    client = client_for("supervisor")
    page = client.get(f"/ucmail/dialer/lists/{dialer_list.id}?state=sent")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "ok@mail.example" in text and "fine@mail.example" in text
    assert "nobody@mail.example" not in text
    export = client.get(f"/ucmail/dialer/lists/{dialer_list.id}/records.csv?state=all")
    assert export.headers["Content-Disposition"].endswith(f'list-{dialer_list.id}-all.csv"')
    assert export.get_data(as_text=True).count("\r\n") == 6
