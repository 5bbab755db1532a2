"""Routing: oldest queued first, to routable members below their maximum, by strategy."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, time, timedelta

import pytest
from flask import Flask

from tests.routing.helpers import (
    add_members,
    arrivals,
    arrive,
    assignments,
    make_campaign,
    online,
    session,
)
from ucmail_ext.models import AgentState, Interaction, Schedule, utcnow
from ucmail_ext.services.desk import presence, routing


def agents_in_order(decisions: list[routing.RouteDecision]) -> list[str]:
    return [d.agent_id for d in decisions]


def test_linear_fills_agents_in_member_order(app_ctx: Flask) -> None:
    campaign = make_campaign(strategy="linear", max_per_agent=2)
    add_members(campaign, "a", "b", "c")
    online("a", "b", "c")
    arrivals(campaign, 5)

    decisions = routing.route(campaign.id)

    assert agents_in_order(decisions) == ["a", "a", "b", "b", "c"]


def test_rrmemory_continues_after_the_last_agent_served(app_ctx: Flask) -> None:
    campaign = make_campaign(strategy="rrmemory", max_per_agent=5)
    add_members(campaign, "a", "b", "c")
    online("a", "b", "c")
    arrivals(campaign, 4)
    first = routing.route(campaign.id)
    arrivals(campaign, 2)
    second = routing.route(campaign.id)

    assert agents_in_order(first) == ["a", "b", "c", "a"]
    assert agents_in_order(second) == ["b", "c"]


def test_rrmemory_skips_an_offline_agent_but_keeps_the_rotation(app_ctx: Flask) -> None:
    campaign = make_campaign(strategy="rrmemory", max_per_agent=5, rr_last_agent_id="b")
    add_members(campaign, "a", "b", "c", "d")
    online("a", "b", "d")
    arrivals(campaign, 3)

    assert agents_in_order(routing.route(campaign.id)) == ["d", "a", "b"]


def test_leastrecent_picks_the_agent_idle_the_longest(app_ctx: Flask) -> None:
    campaign = make_campaign(strategy="leastrecent", max_per_agent=5)
    add_members(campaign, "a", "b", "c")
    online("a", "b", "c")
    now = utcnow()
    for agent_id, minutes in (("a", 1), ("b", 30), ("c", 10)):
        session().get(AgentState, agent_id).last_assigned_at = now - timedelta(minutes=minutes)
    session().commit()
    arrivals(campaign, 3)

    assert agents_in_order(routing.route(campaign.id)) == ["b", "c", "a"]


def test_fewestcalls_picks_the_agent_with_fewest_completed_today(app_ctx: Flask) -> None:
    campaign = make_campaign(strategy="fewestcalls", max_per_agent=5)
    add_members(campaign, "a", "b", "c")
    online("a", "b", "c")
    now = utcnow()
    for agent_id, closed in (("a", 3), ("b", 1), ("c", 2)):
        for i in range(closed):
            item = arrive(campaign, f"done {agent_id} {i}", at=now - timedelta(minutes=5))
            item.state, item.agent_id, item.closed_at = "closed", agent_id, now
    # Closed before today (in the campaign's zone) does not count.
    old = arrive(campaign, "yesterday", at=now - timedelta(days=2))
    old.state, old.agent_id, old.closed_at = "closed", "b", now - timedelta(days=2)
    session().commit()
    arrivals(campaign, 1)

    assert agents_in_order(routing.route(campaign.id)) == ["b"]


def test_random_spreads_over_every_free_agent(app_ctx: Flask) -> None:
    campaign = make_campaign(strategy="random", max_per_agent=100)
    add_members(campaign, "a", "b", "c")
    online("a", "b", "c")
    arrivals(campaign, 60)

    decisions = routing.route(campaign.id, rng=random.Random(7))

    counts = Counter(agents_in_order(decisions))
    assert sum(counts.values()) == 60
    assert set(counts) == {"a", "b", "c"}
    assert min(counts.values()) >= 10


@pytest.mark.parametrize("strategy", routing.STRATEGIES)
def test_every_strategy_assigns_the_oldest_queued_interaction_first(
    app_ctx: Flask, strategy: str
) -> None:
    campaign = make_campaign(strategy=strategy, max_per_agent=1)
    add_members(campaign, "a")
    online("a")
    now = utcnow()
    newer = arrive(campaign, "newer", at=now - timedelta(minutes=1))
    older = arrive(campaign, "older", at=now - timedelta(minutes=9))

    decisions = routing.route(campaign.id)

    assert [d.interaction_id for d in decisions] == [older.id]
    assert session().get(Interaction, newer.id).state == "queued"


def test_an_agent_never_gets_more_than_the_campaign_maximum(app_ctx: Flask) -> None:
    campaign = make_campaign(max_per_agent=2)
    add_members(campaign, "a", "b")
    online("a", "b")
    arrivals(campaign, 7)

    routing.route(campaign.id)
    routing.route(campaign.id)

    assert Counter(assignments(campaign.id).values()) == {"a": 2, "b": 2}
    queued = session().query(Interaction).filter_by(campaign_id=campaign.id, state="queued")
    assert queued.count() == 3
    assert session().get(AgentState, "a").active_count == 2


def test_the_maximum_counts_this_campaigns_interactions_only(app_ctx: Flask) -> None:
    sales = make_campaign("Sales", max_per_agent=1)
    support = make_campaign("Support", max_per_agent=1)
    add_members(sales, "a")
    add_members(support, "a")
    online("a")
    arrive(sales, "buy")
    arrive(support, "broken")

    routing.route_all()

    assert list(assignments(sales.id).values()) == ["a"]
    assert list(assignments(support.id).values()) == ["a"]


def test_only_online_free_unpaused_members_get_interactions(app_ctx: Flask) -> None:
    campaign = make_campaign(max_per_agent=5)
    add_members(campaign, "onbreak", "paused", "offline", "stale", "ok")
    online("onbreak", status="break")
    online("paused", paused=True)
    online("offline", status="offline")
    online("stale", "ok", "outsider")
    session().get(AgentState, "stale").last_heartbeat_at = utcnow() - timedelta(minutes=5)
    session().commit()
    arrivals(campaign, 3)

    decisions = routing.route(campaign.id)

    assert agents_in_order(decisions) == ["ok", "ok", "ok"]


def test_a_closed_interaction_frees_room_for_the_next(app_ctx: Flask) -> None:
    campaign = make_campaign(max_per_agent=1)
    add_members(campaign, "a")
    online("a")
    first, second = arrivals(campaign, 2)
    routing.route(campaign.id)
    item = session().get(Interaction, first)
    item.state, item.closed_at = "closed", utcnow()
    session().commit()

    decisions = routing.route(campaign.id)

    assert [d.interaction_id for d in decisions] == [second]


def test_routing_waits_for_the_campaign_schedule_in_its_time_zone(app_ctx: Flask) -> None:
    campaign = make_campaign(timezone="America/Montevideo")
    add_members(campaign, "a")
    online("a")
    # Weekdays 09:00-18:00 in Montevideo (UTC-3, no DST).
    session().add(
        Schedule(
            campaign_id=campaign.id, days_mask=0b0011111, start_time=time(9), end_time=time(18)
        )
    )
    session().commit()
    arrivals(campaign, 1)
    monday_0830_local = datetime(2024, 6, 3, 11, 30, tzinfo=UTC)
    monday_0930_local = datetime(2024, 6, 3, 12, 30, tzinfo=UTC)
    session().get(AgentState, "a").last_heartbeat_at = monday_0930_local
    session().commit()

    assert routing.route(campaign.id, now=monday_0830_local) == []
    assert len(routing.route(campaign.id, now=monday_0930_local)) == 1


def test_disabled_or_deleted_campaigns_are_not_routed(app_ctx: Flask) -> None:
    disabled = make_campaign("Off", enabled=False)
    deleted = make_campaign("Gone", deleted_at=utcnow())
    for campaign in (disabled, deleted):
        add_members(campaign, "a")
        arrivals(campaign, 1)
    online("a")

    assert routing.route_all() == []
    assert routing.route(disabled.id) == []


def test_coming_online_routes_waiting_interactions(app_ctx: Flask) -> None:
    campaign = make_campaign()
    add_members(campaign, "a")
    waiting = arrive(campaign)

    presence.heartbeat("a", "Alice")

    assert session().get(Interaction, waiting.id).agent_id == "a"


def test_routing_is_the_same_on_both_databases(any_app: Flask) -> None:
    with any_app.app_context():
        campaign = make_campaign(strategy="rrmemory", max_per_agent=2)
        add_members(campaign, "a", "b")
        online("a", "b")
        arrivals(campaign, 5)

        decisions = routing.route(campaign.id)
        again = routing.route(campaign.id)

        assert agents_in_order(decisions) == ["a", "b", "a", "b"]
        assert again == []
        assert Counter(assignments(campaign.id).values()) == {"a": 2, "b": 2}


def test_order_candidates_handles_an_unknown_strategy_as_linear() -> None:
    cands = [routing.Candidate("b", 1), routing.Candidate("a", 0)]
    assert [c.agent_id for c in routing.order_candidates("nocall", cands)] == ["a", "b"]
