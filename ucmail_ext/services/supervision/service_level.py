"""Time to first response, and the share of today's interactions answered in time.

The campaign's service level is a number of seconds: an interaction is answered
in time when its first response came within it. An interaction still waiting past
that limit already missed it, so it counts against the level now rather than only
once someone answers it. "Today" is the campaign's own day (its time zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign, Interaction, utcnow
from ucmail_ext.services.desk.routing import local_day_start

# Interactions a customer started: history imports and agent-started mail have no wait.
CUSTOMER_ORIGINS = ("inbound", "dialer")


@dataclass(frozen=True)
class ServiceLevel:
    answered: int
    within: int
    percent: float
    avg_wait_seconds: float | None
    overdue: int = 0


def time_to_first_response(interaction: Interaction) -> float | None:
    if interaction.first_response_at is None:
        return None
    return max(0.0, (interaction.first_response_at - interaction.arrived_at).total_seconds())


def _session() -> Any:
    return get_state().session


def service_level_today(campaign_id: int, now: datetime | None = None) -> ServiceLevel:
    """answered / within the limit / percent in time / average wait, for today."""
    now = now or utcnow()
    campaign = _session().get(Campaign, campaign_id)
    if campaign is None:
        return ServiceLevel(0, 0, 100.0, None)
    limit = float(campaign.service_level_seconds)
    start = local_day_start(campaign.timezone, now)
    rows = _session().execute(
        select(Interaction.arrived_at, Interaction.first_response_at).where(
            Interaction.campaign_id == campaign_id,
            Interaction.origin.in_(CUSTOMER_ORIGINS),
            or_(Interaction.arrived_at >= start, Interaction.first_response_at >= start),
        )
    )
    waits: list[float] = []
    overdue = 0
    for arrived_at, first_response_at in rows:
        if first_response_at is None:
            if arrived_at >= start and (now - arrived_at).total_seconds() > limit:
                overdue += 1
            continue
        if first_response_at >= start:
            waits.append(max(0.0, (first_response_at - arrived_at).total_seconds()))
    within = sum(1 for wait in waits if wait <= limit)
    judged = len(waits) + overdue
    percent = round(100.0 * within / judged, 1) if judged else 100.0
    average = sum(waits) / len(waits) if waits else None
    return ServiceLevel(len(waits), within, percent, average, overdue)
