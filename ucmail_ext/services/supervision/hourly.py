"""Today by hour, for the supervision charts: queue length and service level.

Queue length at an hour is how many customers were waiting for an agent when the
hour ended (or now, for the hour under way): arrived, not yet assigned nor closed.
Service level per hour is the contact-center "interval" figure: of the customers
who arrived in that hour, the share answered within their campaign's service
level, a customer still waiting past it counting as missed (as in
``service_level.service_level_today``). Hours are the campaigns' own when they
share a time zone, UTC otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext as _
from ucmail_ext.models import Campaign, Interaction, utcnow
from ucmail_ext.services import charts, schedules
from ucmail_ext.services.desk.routing import local_day_start
from ucmail_ext.services.supervision.service_level import CUSTOMER_ORIGINS


@dataclass(frozen=True)
class HourlyToday:
    zone: str
    hours: list[str]
    queue: list[int]
    service_level: list[float | None]


def _zone(campaigns: Sequence[Campaign]) -> str:
    zones = {c.timezone or "UTC" for c in campaigns}
    return zones.pop() if len(zones) == 1 else "UTC"


def hourly_today(
    campaigns: Sequence[Campaign], now: datetime | None = None, zone: str | None = None
) -> HourlyToday:
    """Today's hours in ``zone`` (the supervisor's, from the host's hook), else in the
    campaigns' common zone, else UTC."""
    now = now or utcnow()
    zone = zone or _zone(campaigns)
    start = local_day_start(zone, now)
    hours = int((now - start).total_seconds() // 3600) + 1
    ends = [min(now, start + timedelta(hours=h + 1)) for h in range(hours)]
    local = schedules.zone(zone)
    labels = [
        (start + timedelta(hours=h)).astimezone(local).strftime("%H:00") for h in range(hours)
    ]
    limits = {c.id: float(c.service_level_seconds) for c in campaigns}
    queue = [0] * hours
    within = [0] * hours
    judged = [0] * hours
    if campaigns:
        rows = get_state().session.execute(
            select(
                Interaction.campaign_id,
                Interaction.arrived_at,
                Interaction.assigned_at,
                Interaction.first_response_at,
                Interaction.closed_at,
            ).where(
                Interaction.campaign_id.in_(list(limits)),
                Interaction.origin.in_(CUSTOMER_ORIGINS),
                Interaction.arrived_at <= now,
                or_(Interaction.assigned_at.is_(None), Interaction.assigned_at >= start),
                or_(Interaction.closed_at.is_(None), Interaction.closed_at >= start),
            )
        )
        for campaign_id, arrived, assigned, responded, closed in rows:
            left = (
                min(t for t in (assigned, closed, responded) if t is not None)
                if (assigned or closed or responded)
                else None
            )
            for h, end in enumerate(ends):
                if arrived < end and (left is None or left >= end):
                    queue[h] += 1
            if arrived < start:
                continue
            h = min(hours - 1, int((arrived - start).total_seconds() // 3600))
            limit = limits[campaign_id]
            if responded is not None:
                judged[h] += 1
                within[h] += (responded - arrived).total_seconds() <= limit
            elif (now - arrived).total_seconds() > limit:
                judged[h] += 1
    level = [round(100.0 * w / j, 1) if j else None for w, j in zip(within, judged, strict=True)]
    return HourlyToday(zone, labels, queue, level)


def queue_chart(today: HourlyToday) -> charts.BarChart:
    return charts.bar_chart(
        _("Queue length by hour, today (%(zone)s)", zone=today.zone),
        [(hour, float(n)) for hour, n in zip(today.hours, today.queue, strict=True)],
        header=(_("Hour"), _("Waiting")),
        label_every=2 if len(today.hours) > 12 else 1,
    )


def service_level_chart(today: HourlyToday) -> charts.BarChart:
    return charts.bar_chart(
        _("Service level by hour of arrival, today (%(zone)s)", zone=today.zone),
        list(zip(today.hours, today.service_level, strict=True)),
        value_suffix="%",
        y_max=100.0,
        header=(_("Hour"), _("Answered in time")),
        label_every=2 if len(today.hours) > 12 else 1,
    )
