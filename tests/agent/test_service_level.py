"""Service level: time to first response, and today's share answered within the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask

from tests.routing.helpers import arrive, make_campaign, session
from ucmail_ext.models import Interaction
from ucmail_ext.services.supervision.service_level import (
    service_level_today,
    time_to_first_response,
)

NOON = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)  # 12:00 in Montevideo (UTC-3)


def answered(
    campaign, arrived: datetime, wait: timedelta | None, origin: str = "inbound"
) -> Interaction:  # type: ignore[no-untyped-def]
    item = arrive(campaign, f"at {arrived.isoformat()}", at=arrived)
    item.origin = origin
    item.first_response_at = arrived + wait if wait is not None else None
    session().commit()
    return item


def test_time_to_first_response(app_ctx: Flask) -> None:
    campaign = make_campaign()
    item = answered(campaign, NOON, timedelta(minutes=7))
    waiting = answered(campaign, NOON, None)

    assert time_to_first_response(item) == 420
    assert time_to_first_response(waiting) is None


def test_todays_share_answered_within_the_campaign_limit(app_ctx: Flask) -> None:
    campaign = make_campaign(service_level_seconds=600, timezone="America/Montevideo")
    answered(campaign, NOON - timedelta(hours=2), timedelta(minutes=5))
    answered(campaign, NOON - timedelta(hours=1), timedelta(minutes=20))
    answered(campaign, NOON - timedelta(minutes=30), None)  # overdue: counts against
    answered(campaign, NOON - timedelta(minutes=2), None)  # still inside the limit
    answered(campaign, NOON - timedelta(days=1), timedelta(minutes=1))  # yesterday
    answered(campaign, NOON - timedelta(hours=1), timedelta(0), origin="outbound")

    level = service_level_today(campaign.id, now=NOON)

    assert (level.answered, level.within, level.overdue) == (2, 1, 1)
    assert level.percent == 33.3
    assert level.avg_wait_seconds == 750


def test_today_is_the_campaigns_own_day(app_ctx: Flask) -> None:
    campaign = make_campaign(service_level_seconds=600, timezone="America/Montevideo")
    # 02:00 UTC on the 3rd is still the 2nd in Montevideo.
    answered(campaign, datetime(2024, 6, 3, 2, 0, tzinfo=UTC), timedelta(minutes=1))

    assert service_level_today(campaign.id, now=NOON).answered == 0
    assert (
        service_level_today(campaign.id, now=datetime(2024, 6, 3, 2, 30, tzinfo=UTC)).answered == 1
    )


def test_a_quiet_day_is_a_full_service_level(app_ctx: Flask) -> None:
    campaign = make_campaign()

    level = service_level_today(campaign.id, now=NOON)

    assert (level.answered, level.within, level.percent, level.avg_wait_seconds) == (
        0,
        0,
        100.0,
        None,
    )
