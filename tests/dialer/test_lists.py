"""Uploading a dialer list: streamed, checked row by row, answered with a report."""

from __future__ import annotations

import io
import json

from example_host_app.extensions import db
from tests.dialer import helpers
from tests.dialer.helpers import CAMPAIGN, csv_text, upload
from ucmail_ext.mail.csvlist import ListRow, read_rows
from ucmail_ext.models import DialerList, DialerRecord, Upload
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
