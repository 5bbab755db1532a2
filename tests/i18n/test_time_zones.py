"""Day boundaries in the user's zone: recordings' "from"/"to" are local days."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from werkzeug.datastructures import MultiDict

from tests.admin.helpers import make_campaign
from tests.fixtures.app import USERS, create_users, login
from tests.i18n.helpers import answered_interaction
from tests.i18n.test_language import HOOKED
from ucmail_ext.extension import get_state
from ucmail_ext.i18n import local_day_bounds, zone_or_utc
from ucmail_ext.services.supervision import recordings

MONTEVIDEO = "America/Montevideo"  # UTC-3, no daylight saving time since 2015
# 22:30 on 9 March 2026 in Montevideo is already 01:30 on the 10th in UTC.
EVENING_CLOCK = datetime(2026, 3, 10, 1, 30, tzinfo=UTC)
THAT_EVENING = datetime(2026, 3, 10, 0, 5, tzinfo=UTC)  # 21:05 local, 9 March
THE_NIGHT_BEFORE = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)  # 23:00 local, 8 March
THIS_MORNING = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # 09:00 local, 9 March


def _subjects(query: recordings.RecordingQuery) -> list[str]:
    stmt = recordings.search_statement(query, None)
    return sorted(i.subject for i in get_state().session.scalars(stmt))


def _seed() -> None:
    campaign = make_campaign("Soporte", timezone=MONTEVIDEO)
    for subject, when in (
        ("evening", THAT_EVENING),
        ("night before", THE_NIGHT_BEFORE),
        ("morning", THIS_MORNING),
    ):
        answer = answered_interaction(campaign, arrived_at=when)
        answer.interaction.subject = subject
    get_state().session.commit()


def test_a_search_for_today_in_montevideo_at_half_past_ten_pm_finds_that_evenings_mail(
    any_app: Flask,
) -> None:
    with any_app.app_context():
        _seed()
        args = MultiDict({"start": "today", "end": "today"})

        query, errors = recordings.parse_query(args, zone=MONTEVIDEO, now=EVENING_CLOCK)

        assert not errors
        assert query.start == query.end == datetime(2026, 3, 9).date()
        assert _subjects(query) == ["evening", "morning"]


def test_the_same_search_in_utc_is_the_utc_day(any_app: Flask) -> None:
    with any_app.app_context():
        _seed()
        args = MultiDict({"start": "today", "end": "today"})
        query, _ = recordings.parse_query(args, zone="UTC", now=EVENING_CLOCK)
        assert query.start == datetime(2026, 3, 10).date()
        assert _subjects(query) == ["evening"]


def test_yesterday_and_iso_dates_are_local_days_too(any_app: Flask) -> None:
    with any_app.app_context():
        _seed()
        query, _ = recordings.parse_query(
            MultiDict({"start": "yesterday", "end": "yesterday"}), MONTEVIDEO, EVENING_CLOCK
        )
        assert _subjects(query) == ["night before"]
        query, _ = recordings.parse_query(
            MultiDict({"start": "2026-03-08", "end": "2026-03-09"}), MONTEVIDEO, EVENING_CLOCK
        )
        assert _subjects(query) == ["evening", "morning", "night before"]


def test_local_day_bounds_follow_daylight_saving_time() -> None:
    madrid = zone_or_utc("Europe/Madrid")
    start, end = local_day_bounds(datetime(2026, 3, 29).date(), madrid)  # clocks go forward
    assert start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert (end - start).total_seconds() == 23 * 3600


def test_the_recordings_page_reads_dates_in_the_users_zone(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(UCMAIL_TIMEZONE_SELECTOR="tests.i18n.test_language:chosen_zone")
    create_users(app)
    with app.app_context():
        _seed()
        make_campaign("Sales")  # campaigns in two zones: without the hook, UTC
    client = app.test_client()
    login(client, app, USERS["supervisor"][0])
    url = "/ucmail/recordings/?start=2026-03-09&end=2026-03-09"
    HOOKED["zone"] = MONTEVIDEO
    try:
        local = client.get(url).get_data(True)
    finally:
        HOOKED["zone"] = None
    in_utc = client.get(url).get_data(True)

    assert "evening" in local and "morning" in local and "night before" not in local
    assert "night before" in in_utc and "morning" in in_utc and "evening" not in in_utc


def test_todays_supervision_hours_are_the_supervisors_day(app_ctx: Flask) -> None:
    from ucmail_ext.services.supervision import hourly

    campaigns = [make_campaign("Soporte", timezone=MONTEVIDEO), make_campaign("Sales")]

    mixed = hourly.hourly_today(campaigns, EVENING_CLOCK)
    local = hourly.hourly_today(campaigns, EVENING_CLOCK, zone=MONTEVIDEO)

    assert mixed.zone == "UTC" and mixed.hours == ["00:00", "01:00"]
    assert local.zone == MONTEVIDEO and len(local.hours) == 23
    assert local.hours[0] == "00:00" and local.hours[-1] == "22:00"


def test_without_the_hook_pages_use_the_zone_the_users_campaigns_share(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    create_users(app)
    with app.app_context():
        _seed()  # one campaign, in Montevideo
    client = app.test_client()
    login(client, app, USERS["supervisor"][0])

    page = client.get("/ucmail/recordings/?start=2026-03-09&end=2026-03-09").get_data(True)

    assert "evening" in page and "morning" in page and "night before" not in page
