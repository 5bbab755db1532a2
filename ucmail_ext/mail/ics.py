"""iCalendar invitations (RFC 5545 + iTIP METHOD:REQUEST) for dialer mail.

Times go out with their zone: an IANA zone (``zoneinfo.ZoneInfo``) is written as
``TZID=`` with a matching VTIMEZONE, anything else (fixed offsets, UTC) is
converted to UTC, because a ``TZID`` without a VTIMEZONE is read by clients as
floating local time.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar, Event, Timezone, vCalAddress

from .headers import check_header_value, is_valid_address

__all__ = ["CONTENT_TYPE", "PRODID", "build_invite", "parse_event_datetime"]

PRODID = "-//ucmail//ucmail_ext dialer//EN"
CONTENT_TYPE = 'text/calendar; method=REQUEST; charset="UTF-8"'

_MAX_DATETIME_INPUT = 64
# Display names go into a CN parameter; icalendar escapes them (RFC 6868), but
# Outlook shows RFC 6868 escapes literally, so line breaks become spaces.
_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]+")


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone {tz[:_MAX_DATETIME_INPUT]!r}") from exc


def parse_event_datetime(value: str, tz: str) -> datetime:
    """An aware datetime from ISO 8601 text such as a CSV variable supplies.

    Accepted: ``2026-12-01T10:00``, ``2026-12-01 10:00``, with seconds, with an
    offset (``+02:00``) or ``Z``. Without an offset the time is in ``tz`` (an
    IANA name). A bare date is refused: an event needs a time, and a silent
    midnight start is worse than an error.
    """
    if not isinstance(value, str):
        raise ValueError("date and time must be text such as 2026-12-01T10:00")
    text = value.strip()
    shown = text[:40]
    if not text or len(text) > _MAX_DATETIME_INPUT or len(text) < 16:
        raise ValueError(f"not a date and time: {shown!r} (expected e.g. 2026-12-01T10:00)")
    if text[10:11] not in ("T", "t", " "):
        raise ValueError(f"not a date and time: {shown!r} (expected e.g. 2026-12-01T10:00)")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"not a date and time: {shown!r} (expected e.g. 2026-12-01T10:00)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_zone(tz))
    return parsed


def _for_ical(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got a naive datetime)")
    if isinstance(moment.tzinfo, ZoneInfo):
        return moment
    return moment.astimezone(UTC)


def _param_text(value: str) -> str:
    return _CONTROL.sub(" ", value).strip()


def build_invite(
    *,
    uid: str,
    title: str,
    organizer_name: str,
    organizer_email: str,
    attendee_email: str,
    start: datetime,
    end: datetime,
    description: str = "",
    location: str = "",
    dtstamp: datetime | None = None,
) -> bytes:
    """A one-event VCALENDAR asking ``attendee_email`` to accept.

    ``dtstamp`` defaults to now; pass it for a byte-identical invite on retry.
    """
    check_header_value(uid, "uid")
    for field, address in (
        ("organizer_email", organizer_email),
        ("attendee_email", attendee_email),
    ):
        if not is_valid_address(address):
            raise ValueError(f"{field}: not a valid email address ({address[:40]!r})")
    begins = _for_ical(start, "start")
    ends = _for_ical(end, "end")
    if ends <= begins:
        raise ValueError("end must be after start")
    stamp = datetime.now(UTC) if dtstamp is None else _for_ical(dtstamp, "dtstamp")

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "REQUEST")

    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", begins)
    event.add("dtend", ends)
    event.add("summary", title)
    if description:
        event.add("description", description)
    if location:
        event.add("location", location)

    organizer = vCalAddress(f"mailto:{organizer_email}")
    if organizer_name.strip():
        organizer.params["cn"] = _param_text(organizer_name)
    event.add("organizer", organizer)

    attendee = vCalAddress(f"mailto:{attendee_email}")
    attendee.params["role"] = "REQ-PARTICIPANT"
    attendee.params["partstat"] = "NEEDS-ACTION"
    attendee.params["rsvp"] = "TRUE"
    event.add("attendee", attendee)

    event.add("sequence", 0)
    event.add("status", "CONFIRMED")
    calendar.add_component(event)
    # What add_missing_timezones() would insert before the event, built once per zone:
    # a VTIMEZONE takes milliseconds to build and write, and a dialer sends thousands.
    zones = b"".join(_vtimezone(tzid) for tzid in sorted(calendar.get_missing_tzids()))
    head, event_start, rest = calendar.to_ical().partition(b"BEGIN:VEVENT")
    return head + zones + event_start + rest


@functools.lru_cache(maxsize=64)
def _vtimezone(tzid: str) -> bytes:
    try:
        return Timezone.from_tzid(tzid).to_ical()
    except ValueError:
        return b""
