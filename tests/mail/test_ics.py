from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from ucmail_ext.mail.headers import HeaderInjectionError
from ucmail_ext.mail.ics import CONTENT_TYPE, PRODID, build_invite, parse_event_datetime

MADRID = ZoneInfo("Europe/Madrid")
STAMP = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)


def _invite(**overrides):
    arguments = {
        "uid": "dialer-7-record-42@ucmail.example.com",
        "title": "Product demo",
        "organizer_name": "Ana Pérez",
        "organizer_email": "ana@example.com",
        "attendee_email": "john@example.org",
        "start": datetime(2026, 12, 1, 10, 0, tzinfo=MADRID),
        "end": datetime(2026, 12, 1, 11, 30, tzinfo=MADRID),
        "description": "Agenda:\n1. intro; 2. demo, questions",
        "location": "Room 4, 2nd floor",
        "dtstamp": STAMP,
    }
    arguments.update(overrides)
    return build_invite(**arguments)


def _event(ics: bytes):
    calendar = Calendar.from_ical(ics)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


def test_invite_is_a_request_calendar_with_our_prodid():
    calendar, _ = _event(_invite())
    assert str(calendar["PRODID"]) == PRODID
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["METHOD"]) == "REQUEST"
    assert "method=REQUEST" in CONTENT_TYPE


def test_invite_event_carries_every_property():
    _, event = _event(_invite())
    assert str(event["UID"]) == "dialer-7-record-42@ucmail.example.com"
    assert str(event["SUMMARY"]) == "Product demo"
    assert str(event["DESCRIPTION"]) == "Agenda:\n1. intro; 2. demo, questions"
    assert str(event["LOCATION"]) == "Room 4, 2nd floor"
    assert event.decoded("DTSTAMP") == STAMP
    assert int(event["SEQUENCE"]) == 0
    assert str(event["STATUS"]) == "CONFIRMED"


def test_invite_times_keep_their_iana_zone_with_a_vtimezone():
    ics = _invite()
    calendar, event = _event(ics)
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert start == datetime(2026, 12, 1, 10, 0, tzinfo=MADRID)
    assert end == datetime(2026, 12, 1, 11, 30, tzinfo=MADRID)
    assert event["DTSTART"].params["TZID"] == "Europe/Madrid"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Madrid"]
    assert b"DTSTART;TZID=Europe/Madrid:20261201T100000" in ics


def test_fixed_offset_times_are_written_in_utc():
    plus_two = timezone(timedelta(hours=2))
    ics = _invite(
        start=datetime(2026, 12, 1, 10, 0, tzinfo=plus_two),
        end=datetime(2026, 12, 1, 11, 0, tzinfo=plus_two),
    )
    calendar, event = _event(ics)
    assert b"DTSTART:20261201T080000Z" in ics
    assert event.decoded("DTEND") == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert calendar.walk("VTIMEZONE") == []


def test_organizer_is_a_mailto_with_common_name():
    _, event = _event(_invite())
    organizer = event["ORGANIZER"]
    assert str(organizer) == "mailto:ana@example.com"
    assert organizer.params["CN"] == "Ana Pérez"


def test_attendee_is_a_required_participant_asked_to_reply():
    _, event = _event(_invite())
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:john@example.org"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert attendee.params["RSVP"] == "TRUE"


def test_hostile_text_cannot_add_properties():
    ics = _invite(
        title="Demo\r\nATTENDEE:mailto:evil@example.net",
        organizer_name='Ana"\r\nX-EVIL:1',
        description="x\nEND:VEVENT\nBEGIN:VEVENT",
        location="a;b,c\\d",
    )
    calendar, event = _event(ics)
    assert "X-EVIL" not in event
    assert str(event["ATTENDEE"]) == "mailto:john@example.org"
    assert str(event["SUMMARY"]) == "Demo\nATTENDEE:mailto:evil@example.net"
    assert str(event["DESCRIPTION"]) == "x\nEND:VEVENT\nBEGIN:VEVENT"
    assert str(event["LOCATION"]) == "a;b,c\\d"
    assert "\n" not in event["ORGANIZER"].params["CN"]
    assert ics.count(b"\r\nATTENDEE") == 1
    assert ics.count(b"\r\nBEGIN:VEVENT") == 1


def test_empty_description_and_location_are_left_out():
    _, event = _event(_invite(description="", location=""))
    assert "DESCRIPTION" not in event
    assert "LOCATION" not in event


def test_dtstamp_defaults_to_now_in_utc():
    before = datetime.now(UTC).replace(microsecond=0)
    _, event = _event(_invite(dtstamp=None))
    stamp = event.decoded("DTSTAMP")
    assert stamp.utcoffset() == timedelta(0)
    assert before <= stamp <= datetime.now(UTC)


def test_same_dtstamp_gives_a_byte_identical_invite():
    assert _invite() == _invite()


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        _invite(start=datetime(2026, 12, 1, 10, 0))
    with pytest.raises(ValueError, match="end must be timezone-aware"):
        _invite(end=datetime(2026, 12, 1, 11, 0))


def test_end_before_start_is_refused():
    with pytest.raises(ValueError, match="end must be after start"):
        _invite(end=datetime(2026, 12, 1, 9, 0, tzinfo=MADRID))


@pytest.mark.parametrize("field", ["organizer_email", "attendee_email"])
def test_invalid_addresses_are_refused(field):
    with pytest.raises(ValueError, match=field):
        _invite(**{field: "not an address"})


def test_uid_with_a_line_break_is_refused():
    with pytest.raises(HeaderInjectionError):
        _invite(uid="x\r\nATTENDEE:mailto:evil@example.net")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-01T10:00", datetime(2026, 12, 1, 10, 0, tzinfo=MADRID)),
        ("2026-12-01 10:00", datetime(2026, 12, 1, 10, 0, tzinfo=MADRID)),
        ("  2026-12-01T10:00:30 ", datetime(2026, 12, 1, 10, 0, 30, tzinfo=MADRID)),
        ("2026-07-01T10:00", datetime(2026, 7, 1, 10, 0, tzinfo=MADRID)),
        ("2026-12-01T10:00+02:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("2026-12-01T10:00Z", datetime(2026, 12, 1, 10, 0, tzinfo=UTC)),
        ("2026-12-01T10:00:00-05:00", datetime(2026, 12, 1, 15, 0, tzinfo=UTC)),
    ],
)
def test_parse_event_datetime_accepts_iso_8601(value, expected):
    parsed = parse_event_datetime(value, "Europe/Madrid")
    assert parsed == expected
    assert parsed.tzinfo is not None


def test_parse_event_datetime_uses_the_zone_for_local_times():
    parsed = parse_event_datetime("2026-07-01T10:00", "Europe/Madrid")
    assert parsed.tzinfo == MADRID
    assert parsed.utcoffset() == timedelta(hours=2)


def test_parse_event_datetime_keeps_an_explicit_offset():
    parsed = parse_event_datetime("2026-12-01T10:00+02:00", "America/New_York")
    assert parsed.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "tomorrow",
        "2026-12-01",
        "2026-13-01T10:00",
        "2026-12-32T10:00",
        "2026-12-01T25:00",
        "01/12/2026 10:00",
        "2026-12-01T10:00 Europe/Madrid",
        "2026-12-01T10:00" + "0" * 500,
        "${start}",
    ],
)
def test_parse_event_datetime_refuses_garbage_readably(value):
    with pytest.raises(ValueError, match="not a date and time") as info:
        parse_event_datetime(value, "Europe/Madrid")
    assert len(str(info.value)) < 120


def test_parse_event_datetime_refuses_non_text():
    with pytest.raises(ValueError):
        parse_event_datetime(None, "UTC")  # type: ignore[arg-type]


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "../../etc/passwd", ""])
def test_parse_event_datetime_refuses_an_unknown_zone(tz):
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_event_datetime("2026-12-01T10:00", tz)


def test_parsed_datetimes_build_an_invite():
    start = parse_event_datetime("2026-12-01T10:00", "Europe/Madrid")
    end = parse_event_datetime("2026-12-01T11:00", "Europe/Madrid")
    _, event = _event(_invite(start=start, end=end))
    assert event.decoded("DTSTART") == start
    assert event.decoded("DTEND") == end
