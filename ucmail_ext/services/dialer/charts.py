"""A list's charts: sent, seen, clicked and bounced over time, and its top links.

Counted in the database per time bucket (one grouped query per series, however
big the list), then made cumulative: a line that climbs as the list is sent and
keeps climbing as people open and click, which is how the question "how is this
mailing doing" is asked. Buckets are sized so the chart has at most about thirty
points whether the list ran for a minute or a month.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, extract, func, select

from ucmail_ext.extension import get_state
from ucmail_ext.i18n import format_date, format_time
from ucmail_ext.i18n import gettext as _
from ucmail_ext.models import DialerList, DialerRecord
from ucmail_ext.services import charts
from ucmail_ext.services.dialer import clicks

BUCKET_SECONDS = (5, 10, 30, 60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400, 604800)
MAX_POINTS = 30


def _series() -> tuple[tuple[str, str, Any, Any], ...]:
    """(key, label, time column, extra condition) of each line, in drawing order."""
    return (
        ("sent", _("Sent"), DialerRecord.sent_at, None),
        ("seen", _("Seen"), DialerRecord.seen_at, None),
        ("clicked", _("Clicked"), DialerRecord.clicked_at, None),
        ("bounced", _("Bounced"), DialerRecord.updated_at, DialerRecord.state == "rejected"),
    )


def bucket_size(seconds: float) -> int:
    for size in BUCKET_SECONDS:
        if seconds / size <= MAX_POINTS:
            return size
    return BUCKET_SECONDS[-1]


def _label(moment: datetime, size: int) -> str:
    """The bucket's start in the user's zone and language."""
    if size < 60:
        return format_time(moment, "HH:mm:ss")
    if size < 86400:
        return format_time(moment, "HH:mm")
    return format_date(moment, "d MMM")


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _start(dialer_list: DialerList) -> datetime | None:
    first_sent = get_state().session.scalar(
        select(func.min(DialerRecord.sent_at)).where(DialerRecord.list_id == dialer_list.id)
    )
    candidates = [_as_utc(m) for m in (dialer_list.started_at, first_sent) if m is not None]
    return min(candidates) if candidates else None


def activity_chart(dialer_list: DialerList, now: datetime | None = None) -> charts.LineChart:
    """Cumulative sent / seen / clicked / bounced since the list started (times in the
    user's zone)."""
    title = _("Sent, seen, clicked and bounced over time")
    now = _as_utc(now or datetime.now(UTC))
    start = _start(dialer_list)
    if start is None:
        return charts.line_chart(title, [], [(key, label, []) for key, label, _, _ in _series()])
    start = start.replace(microsecond=0)
    size = bucket_size(max(1.0, (now - start).total_seconds()))
    count = max(1, math.floor((now - start).total_seconds() / size) + 1)
    begin = int(start.timestamp())
    session = get_state().session
    lines = []
    for key, label, column, condition in _series():
        bucket = (cast(extract("epoch", column), Integer) - begin) // size
        stmt = (
            select(bucket, func.count())
            .where(DialerRecord.list_id == dialer_list.id, column.is_not(None))
            .group_by(bucket)
        )
        if condition is not None:
            stmt = stmt.where(condition)
        per_bucket = [0] * count
        for index, number in session.execute(stmt):
            per_bucket[min(max(int(index or 0), 0), count - 1)] += int(number)
        running, cumulative = 0, []
        for number in per_bucket:
            running += number
            cumulative.append(float(running))
        lines.append((key, label, cumulative))
    labels = [_label(start + timedelta(seconds=size * i), size) for i in range(count)]
    return charts.line_chart(title, labels, lines)


def top_links_chart(dialer_list: DialerList, limit: int = 10) -> charts.BarChart:
    links = clicks.top_links(dialer_list.id, limit)
    return charts.bar_chart(
        _("Most clicked links"),
        [(link.url, float(link.clicks)) for link in links],
        horizontal=True,
        header=(_("Link"), _("Clicks")),
    )


def list_charts(dialer_list: DialerList, now: datetime | None = None) -> dict[str, Any]:
    """Both charts of the list page, laid out."""
    return {"activity": activity_chart(dialer_list, now), "links": top_links_chart(dialer_list)}
