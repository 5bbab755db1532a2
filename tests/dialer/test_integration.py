"""The issue's acceptance run: a 1,000-row list with 20 bad rows, sent to a real SMTP server."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest

from example_host_app.extensions import db
from tests.dialer import helpers
from tests.dialer.helpers import CAMPAIGN, csv_text, upload
from tests.fixtures.servers import SmtpSink
from ucmail_ext.models import Dialer, DialerList
from ucmail_ext.services.dialer import dialers as dialer_service
from ucmail_ext.services.dialer import lists as dialer_lists

pytestmark = pytest.mark.integration

BAD_KINDS = (
    ("{c};broken-address;;;;", "invalid email address"),
    ("Other campaign;x{n}@mail.example;;;;", "unknown campaign"),
    ("{c};y{n}@mail.example;;missingtoken{n:04d};;", "unknown attachment token"),
    ('{c};z{n}@mail.example;;;"name" "oops";', "malformed variables"),
)


def _rows(pdf: str, png: str) -> tuple[list[str], dict[int, str]]:
    rows: list[str] = []
    bad: dict[int, str] = {}
    for n in range(1000):
        line = n + 2  # the header is line 1
        if n % 50 == 7:
            template, reason = BAD_KINDS[len(bad) % len(BAD_KINDS)]
            rows.append(template.format(c=CAMPAIGN, n=n))
            bad[line] = reason
            continue
        files = pdf if n % 2 else f"{pdf},{png}"
        day = 1 + n % 28
        when = f"2026-12-{day:02d}"
        variables = f'"name":"Person {n}","start":"{when}T10:00","end":"{when}T11:30"'
        rows.append(
            f"{CAMPAIGN};person{n}@mail.example;Hello ${{name}}, see you on day {day}.;"
            f"{files};{variables};{n % 7}"
        )
    return rows, bad


def test_thousand_row_list_with_twenty_bad_rows_is_reported_and_sent(any_ctx, sink: SmtpSink):
    campaign_id = helpers.make_campaign(sink.port)
    dialer_id = helpers.make_dialer(
        campaign_id,
        event_enabled=True,
        event_title="Visit of ${name}",
        event_organizer_name="Shop Team",
        event_organizer_email="team@shop.example",
        event_start="${start}",
        event_end="${end}",
    )
    pdf = dialer_lists.store_attachment(io.BytesIO(b"%PDF-1.4 " + b"x" * 3000), "terms.pdf")
    png = dialer_lists.store_attachment(io.BytesIO(b"\x89PNG\r\n" + bytes(range(256))), "logo.png")
    rows, bad = _rows(pdf.upload.token, png.upload.token)

    report = upload(dialer_id, csv_text(rows), subject="Your visit, ${name}")

    assert (report.accepted, report.refused) == (980, 20)
    assert {p.line: p.reason.split(" ")[0] for p in report.problems} == {
        line: reason.split(" ")[0] for line, reason in bad.items()
    }
    for problem in report.problems:
        assert bad[problem.line] in problem.reason

    result = dialer_service.play_list(report.list_id, None, "1")
    assert result.ok
    received = sink.wait_for(980, timeout=60)

    assert len(received) == 980
    ids = helpers.message_ids([m.raw for m in received])
    assert len(set(ids)) == 980
    assert helpers.states(report.list_id) == {"sent": 980}
    db.session.expire_all()
    assert db.session.get(DialerList, report.list_id).state == "done"
    assert db.session.get(Dialer, dialer_id).state == "stopped"

    madrid = ZoneInfo("Europe/Madrid")
    for item, message_id in zip(received, ids, strict=True):
        message = helpers.parse_quick(item.raw)
        to = item.rcpt_tos[0]
        n = int(to.removeprefix("person").split("@")[0])
        day = 1 + n % 28
        assert message["Subject"] == f"Your visit, Person {n}"
        parts = {part.get_content_type(): part for part in message.walk()}
        text = parts["text/plain"].get_payload(decode=True).decode()
        assert text.strip() == f"Hello Person {n}, see you on day {day}."
        files = {
            part.get_filename(): part.get_payload(decode=True)
            for part in message.walk()
            if part.get_filename()
        }
        assert files["terms.pdf"] == b"%PDF-1.4 " + b"x" * 3000
        assert ("logo.png" in files) == (n % 2 == 0)
        calendar_part = parts["text/calendar"]
        assert calendar_part.get_param("method") == "REQUEST"
        calendar = icalendar.Calendar.from_ical(calendar_part.get_payload(decode=True))
        assert str(calendar["METHOD"]) == "REQUEST"
        [event] = calendar.walk("VEVENT")
        assert str(event["SUMMARY"]) == f"Visit of Person {n}"
        assert event.decoded("DTSTART") == datetime(2026, 12, day, 10, 0, tzinfo=madrid)
        assert event.decoded("DTEND") == datetime(2026, 12, day, 11, 30, tzinfo=madrid)
        assert str(event["ORGANIZER"]) == "mailto:team@shop.example"
        assert str(event["ATTENDEE"]) == f"mailto:{to}"
        assert str(event["UID"]) == message_id.strip("<>")
        assert files["invite.ics"] == calendar_part.get_payload(decode=True)
