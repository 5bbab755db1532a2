"""Is a campaign or dialer open now? Weekly windows in the owner's time zone.

No schedule at all means always open (a new campaign works before anyone sets hours).
A window whose end is before its start runs past midnight (22:00-06:00).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class Window(Protocol):
    days_mask: int
    start_time: time
    end_time: time


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def is_valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _day_on(mask: int, weekday: int) -> bool:
    return bool(mask & (1 << weekday))


def window_contains(window: Window, local: datetime) -> bool:
    now, day = local.time(), local.weekday()
    start, end = window.start_time, window.end_time
    if start <= end:
        return _day_on(window.days_mask, day) and start <= now < end
    # Overnight: the part after midnight belongs to the previous day's window.
    if now >= start:
        return _day_on(window.days_mask, day)
    return now < end and _day_on(window.days_mask, (day - 1) % 7)


def is_open(windows: Iterable[Window], tz_name: str, now: datetime | None = None) -> bool:
    windows = list(windows)
    if not windows:
        return True
    local = (now or datetime.now(UTC)).astimezone(zone(tz_name))
    return any(window_contains(w, local) for w in windows)
