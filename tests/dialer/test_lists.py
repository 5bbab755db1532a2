"""Uploading a dialer list: streamed, checked row by row, answered with a report."""

from __future__ import annotations

import io
import json

from example_host_app.extensions import db
from tests.dialer import helpers
from tests.dialer.helpers import CAMPAIGN, csv_text, upload
from ucmail_ext.mail.csvlist import ListRow, read_rows
from ucmail_ext.models import Dialer, DialerList, DialerRecord, Interaction, Upload
from ucmail_ext.services import storage
from ucmail_ext.services.dialer import dialers as dialer_service
from ucmail_ext.services.dialer import lists as dialer_lists


def test_good_rows_are_kept_and_bad_rows_reported_with_their_line(dialer_id: int) -> None:
    rows = [
        f'{CAMPAIGN};ana@mail.example;Hi ${{name}};;"name":"Ana";3',
        f"{CAMPAIGN};not-an-address;;;;",
        'Another campaign;bob@mail.example;;;"name":"Bob";',
        f"{CAMPAIGN};carl@mail.example;;nosuchtoken123;;",
        f'{CAMPAIGN};dora@mail.example;;;"name" "Dora";',
        f"{CAMPAIGN};eve@mail.example;;;name=Eve:code=E1;",
    ]
    report = upload(dialer_id, csv_text(rows))

    assert (report.accepted, report.refused) == (2, 4)
    reasons = {p.line: p.reason for p in report.problems}
    assert sorted(reasons) == [3, 4, 5, 6]
    assert "invalid email address" in reasons[3]
    assert "unknown campaign" in reasons[4]
    assert "unknown attachment token" in reasons[5]
    assert "malformed variables" in reasons[6]

    stored = db.session.get(DialerList, report.list_id)
    assert (stored.total_rows, stored.accepted_rows, stored.refused_rows) == (6, 2, 4)
    assert [item["line"] for item in json.loads(stored.report)] == [3, 4, 5, 6]
    records = db.session.query(DialerRecord).order_by(DialerRecord.line).all()
    assert [(r.line, r.email, r.priority) for r in records] == [
        (2, "ana@mail.example", 3),
        (7, "eve@mail.example", 9999),
    ]
    assert json.loads(records[1].variables) == {"name": "Eve", "code": "E1"}
    assert {r.state for r in records} == {"pending"}


def test_the_spec_example_line_is_accepted(dialer_id: int) -> None:
    line = (
        f'{CAMPAIGN};john@example.com;This is a test message.;;"Var1":"value","Var2":"value";9999'
    )
    report = upload(dialer_id, csv_text([line], header=False))

    assert (report.accepted, report.refused) == (1, 0)
    record = db.session.query(DialerRecord).one()
    assert json.loads(record.variables) == {"Var1": "value", "Var2": "value"}


def test_campaign_column_is_matched_without_regard_to_case(dialer_id: int) -> None:
    report = upload(dialer_id, csv_text([f"{CAMPAIGN.upper()};a@mail.example;;;;"]))
    assert report.accepted == 1


def test_large_list_is_inserted_in_chunks_with_exact_counts_and_a_capped_report(
    dialer_id: int, monkeypatch
) -> None:
    monkeypatch.setattr(dialer_lists, "REPORT_CAP", 5)
    rows = helpers.simple_rows(2300) + [f"{CAMPAIGN};bad{n};;;;" for n in range(12)]
    report = upload(dialer_id, csv_text(rows))

    assert (report.accepted, report.refused) == (2300, 12)
    assert len(report.problems) == 5
    assert db.session.query(DialerRecord).count() == 2300
    stored = db.session.get(DialerList, report.list_id)
    assert stored.refused_rows == 12 and len(json.loads(stored.report)) == 5


def test_a_list_over_the_size_limit_is_refused_whole(dialer_id: int, ctx) -> None:
    ctx.config["UCMAIL_UPLOAD_MAX_BYTES"] = 2000
    report = upload(dialer_id, csv_text(helpers.simple_rows(100)))

    assert report.list_id is None and "too large" in report.error
    assert db.session.query(DialerList).count() == 0
    assert db.session.query(DialerRecord).count() == 0


def test_a_subject_with_a_line_break_is_refused(dialer_id: int) -> None:
    report = upload(dialer_id, csv_text(helpers.simple_rows(1)), subject="Hi\r\nBcc: x@y.z")
    assert report.list_id is None and "one line" in report.error


def test_attached_file_gives_a_token_the_csv_can_name(dialer_id: int) -> None:
    result = dialer_lists.store_attachment(io.BytesIO(b"%PDF-1.4 data"), "../../terms.pdf")

    assert result.upload is not None
    token = result.upload.token
    assert result.upload.filename == "terms.pdf"
    assert result.upload.content_type == "application/pdf"
    report = upload(dialer_id, csv_text([f"{CAMPAIGN};a@mail.example;;{token};;"]))
    assert report.accepted == 1
    assert db.session.query(DialerRecord).one().attachments == token
    assert db.session.query(Upload).count() == 1


def test_an_empty_attachment_is_refused(ctx) -> None:
    result = dialer_lists.store_attachment(io.BytesIO(b""), "empty.txt")
    assert result.upload is None and "empty" in result.error


def test_the_example_csv_uploads_as_it_is(dialer_id: int) -> None:
    example = dialer_lists.example_csv(CAMPAIGN)
    parsed = list(read_rows(io.BytesIO(example.encode())))

    assert all(isinstance(row, ListRow) for row in parsed) and len(parsed) == 2
    report = upload(dialer_id, example.encode())
    assert (report.accepted, report.refused) == (2, 0)


def test_the_example_csv_defuses_a_formula_in_the_campaign_name(ctx) -> None:
    example = dialer_lists.example_csv('=HYPERLINK("http://x")')
    assert example.splitlines()[1].startswith("\"'=HYPERLINK")


def _with_event(dialer_id: int, start: str, end: str) -> None:
    dialer = db.session.get(Dialer, dialer_id)
    dialer.event_enabled = True
    dialer.event_title = "Visit of ${name}"
    dialer.event_start = start
    dialer.event_end = end
    db.session.commit()


def test_event_dates_taken_from_variables_are_checked_at_upload(dialer_id: int) -> None:
    _with_event(dialer_id, "${start}", "${end}")
    rows = [
        f'{CAMPAIGN};ok@mail.example;;;"name":"Ok","start":"2026-12-01T10:00","end":"2026-12-01T11:00";',
        f'{CAMPAIGN};back@mail.example;;;"name":"B","start":"2026-12-01T10:00","end":"2026-12-01T09:00";',
        f'{CAMPAIGN};month@mail.example;;;"name":"M","start":"2026-13-01T10:00","end":"2026-12-01T11:00";',
        f'{CAMPAIGN};none@mail.example;;;"name":"N","start":"2026-12-01T10:00";',
    ]
    report = upload(dialer_id, csv_text(rows))

    assert (report.accepted, report.refused) == (1, 3)
    reasons = {p.line: p.reason for p in report.problems}
    assert "ends (2026-12-01 09:00) before it starts" in reasons[3]
    assert "the event start (${start})" in reasons[4] and "2026-13-01T10:00" in reasons[4]
    assert "the event end (${end}) needs the variable end" in reasons[5]
    assert [r.email for r in db.session.query(DialerRecord)] == ["ok@mail.example"]


def test_a_fixed_start_and_a_variable_end_are_checked_together(dialer_id: int) -> None:
    _with_event(dialer_id, "2026-12-01T10:00", "${end}")
    rows = [
        f'{CAMPAIGN};a@mail.example;;;"name":"A","end":"2026-12-01 10:30";',
        f'{CAMPAIGN};b@mail.example;;;"name":"B","end":"2026-12-01T10:00";',
    ]
    report = upload(dialer_id, csv_text(rows))
    assert (report.accepted, report.refused) == (1, 1)
    assert report.problems[0].line == 3 and "must end after it starts" in report.problems[0].reason


def test_an_upload_with_no_accepted_row_creates_no_list(dialer_id: int) -> None:
    rows = [f"{CAMPAIGN};not-an-address;;;;", "Other;a@mail.example;;;;"]
    report = upload(dialer_id, csv_text(rows))

    assert report.list_id is None
    assert "No row was accepted (2 refused), so no list was created" in report.error
    assert [p.line for p in report.problems] == [2, 3]
    assert db.session.query(DialerList).count() == 0
    assert db.session.query(DialerRecord).count() == 0


def test_an_empty_file_creates_no_list(dialer_id: int) -> None:
    report = upload(dialer_id, csv_text([]))
    assert report.list_id is None and "no rows" in report.error
    assert db.session.query(DialerList).count() == 0


def test_a_colon_in_the_legacy_variables_form_is_explained_with_the_quoted_form(
    dialer_id: int,
) -> None:
    report = upload(dialer_id, csv_text([f"{CAMPAIGN};a@mail.example;;;name=Ana:time=10:30;"]))

    [problem] = report.problems
    assert "cannot contain ':'" in problem.reason
    assert '"name":"Ana","time":"10:30"' in problem.reason
    fixed = upload(
        dialer_id, csv_text([f'{CAMPAIGN};a@mail.example;;;"name":"Ana","time":"10:30";'])
    )
    assert fixed.accepted == 1


def test_the_example_csv_writes_variables_in_the_quoted_form(ctx) -> None:
    example = dialer_lists.example_csv(CAMPAIGN)
    variables = [line.split(";")[4] for line in example.splitlines()[1:]]
    assert variables and all(v.startswith('"') and "=" not in v for v in variables)
    assert any(
        ":" in value
        for row in read_rows(io.BytesIO(example.encode()))
        for value in row.variables.values()
    )


def test_with_members_scope_another_campaigns_file_is_neither_listed_nor_accepted(
    ctx, dialer_id: int
) -> None:
    ctx.config["UCMAIL_SUPERVISOR_SCOPE"] = "members"
    mine = db.session.get(Dialer, dialer_id).campaign_id
    other = helpers.make_campaign(25, name="Other shop")
    theirs = dialer_lists.store_attachment(io.BytesIO(b"theirs"), "t.pdf", campaign_id=other)
    own = dialer_lists.store_attachment(io.BytesIO(b"mine"), "m.pdf", campaign_id=mine)
    legacy = dialer_lists.store_attachment(io.BytesIO(b"old"), "old.pdf")
    assert theirs.upload.campaign_id == other

    assert [u.token for u in dialer_lists.recent_uploads(mine)] == [own.upload.token]
    rows = [
        f"{CAMPAIGN};a@mail.example;;{own.upload.token};;",
        f"{CAMPAIGN};b@mail.example;;{theirs.upload.token};;",
        f"{CAMPAIGN};c@mail.example;;{legacy.upload.token};;",
    ]
    report = upload(dialer_id, csv_text(rows))
    assert (report.accepted, report.refused) == (1, 2)
    assert [p.line for p in report.problems] == [3, 4]
    assert "unknown attachment token" in report.problems[0].reason


def _interaction_for(record: DialerRecord, campaign_id: int) -> int:
    interaction = Interaction(
        campaign_id=campaign_id,
        customer_email=record.email,
        subject="Re: offer",
        origin="dialer",
        dialer_record_id=record.id,
    )
    db.session.add(interaction)
    db.session.commit()
    return interaction.id


def test_deleting_a_list_removes_its_records_and_files_no_other_list_uses(
    any_dialer_id: int,
) -> None:
    campaign_id = db.session.get(Dialer, any_dialer_id).campaign_id
    only = dialer_lists.store_attachment(io.BytesIO(b"only"), "only.pdf", campaign_id=campaign_id)
    shared = dialer_lists.store_attachment(io.BytesIO(b"both"), "b.pdf", campaign_id=campaign_id)
    tokens = f"{only.upload.token},{shared.upload.token}"
    doomed = upload(any_dialer_id, csv_text([f"{CAMPAIGN};a@mail.example;;{tokens};;"] * 2))
    kept = upload(any_dialer_id, csv_text([f"{CAMPAIGN};b@mail.example;;{shared.upload.token};;"]))
    record = db.session.query(DialerRecord).filter_by(list_id=doomed.list_id).first()
    interaction_id = _interaction_for(record, campaign_id)
    only_path = storage.path_of(only.upload.storage_key)
    assert only_path.exists()

    result = dialer_lists.delete_list(db.session.get(DialerList, doomed.list_id), "1")

    assert result.ok and "2 record(s)" in result.message and "1 attached file" in result.message
    db.session.expire_all()
    assert db.session.get(DialerList, doomed.list_id) is None
    assert db.session.query(DialerRecord).filter_by(list_id=doomed.list_id).count() == 0
    assert db.session.query(DialerRecord).filter_by(list_id=kept.list_id).count() == 1
    assert [u.token for u in db.session.query(Upload)] == [shared.upload.token]
    assert not only_path.exists() and storage.path_of(shared.upload.storage_key).exists()
    assert db.session.get(Interaction, interaction_id).dialer_record_id is None


def test_a_running_list_cannot_be_deleted(dialer_id: int, ctx) -> None:
    ctx.config["UCMAIL_DISPATCH"] = "off"
    list_id = upload(dialer_id, csv_text(helpers.simple_rows(2))).list_id
    assert dialer_service.play_list(list_id, None, "1").ok

    result = dialer_lists.delete_list(db.session.get(DialerList, list_id), "1")

    assert not result.ok and "is running: stop it before deleting it" in result.message
    assert db.session.query(DialerRecord).filter_by(list_id=list_id).count() == 2
    assert dialer_service.stop_list(list_id, None, "1").ok
    assert dialer_lists.delete_list(db.session.get(DialerList, list_id), "1").ok
