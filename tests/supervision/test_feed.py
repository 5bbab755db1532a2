"""The live supervision tables: agents, waiting customers and campaign figures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fixtures.app import create_users
from tests.supervision.factories import (
    acting_as,
    add_member,
    add_message,
    make_campaign,
    make_interaction,
    online,
    session,
)
from ucmail_ext.models import AgentState, Rating, utcnow
from ucmail_ext.services.supervision import feed as supervision


@pytest.fixture
def people(any_app):
    made = create_users(any_app)
    return {key: str(user.id) for key, user in made.items()}


def supervisor_context(app, people, who="supervisor"):
    return acting_as(app, people[who])


@pytest.fixture
def watched(any_app, people):
    context = supervisor_context(any_app, people)
    yield any_app
    context.pop()


def by_agent(feed):
    return {row.agent_id: row for row in feed.agents}


def test_agents_table_shows_every_member_with_the_spec_status_words(watched, people):
    sales = make_campaign("Sales")
    for key in ("agent1", "agent2", "agent3"):
        add_member(sales, people[key])
    online(people["agent1"], "free")
    online(people["agent2"], "break", break_reason="Lunch")
    session().commit()

    rows = by_agent(supervision.feed())
    assert rows[people["agent1"]].status == "Free"
    assert rows[people["agent1"]].icon == "free"
    assert rows[people["agent2"]].status == "Free on break"
    assert rows[people["agent2"]].on_break and rows[people["agent2"]].break_reason == "Lunch"
    assert rows[people["agent3"]].status == "Disconnected"
    assert rows[people["agent3"]].icon == "offline"


def test_agent_names_come_from_the_host(watched, people):
    sales = make_campaign("Sales")
    add_member(sales, people["agent1"])
    session().commit()
    assert supervision.feed().agents[0].name == "Alice Agent"


def test_busy_agent_shows_active_interactions_and_the_email_channel(watched, people):
    sales = make_campaign("Sales")
    add_member(sales, people["agent1"])
    online(people["agent1"], "free", active_count=2)
    make_interaction(sales, "a@example.org", state="assigned", agent_id=people["agent1"])
    make_interaction(sales, "b@example.org", state="assigned", agent_id=people["agent1"])
    session().commit()

    row = by_agent(supervision.feed())[people["agent1"]]
    assert row.status == "Busy" and row.busy and row.icon == "busy"
    assert row.active == 2
    assert row.channels == ("email",)


def test_completed_counts_todays_closed_interactions_incoming_and_outgoing(watched, people):
    sales = make_campaign("Sales")
    other = make_campaign("Other")
    add_member(sales, people["agent1"])
    agent = people["agent1"]
    now = utcnow()
    make_interaction(sales, state="closed", agent_id=agent, closed_at=now)
    make_interaction(sales, state="closed", agent_id=agent, closed_at=now)
    make_interaction(sales, state="closed", agent_id=agent, closed_at=now, origin="outbound")
    make_interaction(sales, state="closed", agent_id=agent, closed_at=now - timedelta(days=2))
    make_interaction(other, state="closed", agent_id=agent, closed_at=now)
    session().commit()

    row = by_agent(supervision.feed([sales.id]))[agent]
    assert (row.completed_in, row.completed_out) == (2, 1)


def test_today_is_the_campaigns_own_day(watched, people):
    tokyo = make_campaign("Tokyo", timezone="Asia/Tokyo")
    add_member(tokyo, people["agent1"])
    now = utcnow().replace(hour=12, minute=0)  # 21:00 in Tokyo
    agent = people["agent1"]
    # 01:00 today in Tokyo, though yesterday in UTC: counted.
    make_interaction(tokyo, state="closed", agent_id=agent, closed_at=now - timedelta(hours=20))
    # 23:00 yesterday in Tokyo: not counted.
    make_interaction(tokyo, state="closed", agent_id=agent, closed_at=now - timedelta(hours=22))
    session().commit()

    row = by_agent(supervision.feed(now=now))[people["agent1"]]
    assert row.completed_in == 1


def test_waiting_table_lists_queued_customers_oldest_first_with_time_on_hold(watched, people):
    sales = make_campaign("Sales", threshold_warning_seconds=600, threshold_critical_seconds=1800)
    now = utcnow()
    make_interaction(sales, "new@example.org", arrived_at=now - timedelta(seconds=30))
    make_interaction(sales, "old@example.org", arrived_at=now - timedelta(hours=1))
    make_interaction(sales, "mid@example.org", arrived_at=now - timedelta(minutes=15))
    make_interaction(sales, "done@example.org", state="closed")
    session().commit()

    feed = supervision.feed(now=now)
    assert [w.customer_email for w in feed.waiting] == [
        "old@example.org",
        "mid@example.org",
        "new@example.org",
    ]
    assert [w.level for w in feed.waiting] == ["critical", "warning", ""]
    assert feed.waiting[0].seconds_on_hold == 3600
    assert feed.waiting_total == 3


def test_campaign_figures_count_queued_and_in_progress(watched, people):
    sales = make_campaign("Sales", threshold_warning_seconds=60)
    now = utcnow()
    make_interaction(sales, arrived_at=now - timedelta(minutes=5))
    make_interaction(sales, arrived_at=now - timedelta(minutes=1))
    make_interaction(sales, state="assigned", agent_id=people["agent1"])
    session().commit()

    (figures,) = supervision.feed(now=now).campaigns
    assert (figures.queued, figures.in_progress) == (2, 1)
    assert figures.oldest_wait_seconds == 300
    assert figures.oldest_wait_level == "warning"
    assert figures.warning_seconds == 60


def test_selecting_campaigns_narrows_every_table(watched, people):
    sales = make_campaign("Sales")
    support = make_campaign("Support")
    add_member(sales, people["agent1"])
    add_member(support, people["agent2"])
    make_interaction(sales, "s@example.org")
    make_interaction(support, "t@example.org")
    session().commit()

    feed = supervision.feed([support.id])
    assert [c.name for c in feed.campaigns] == ["Support"]
    assert [a.agent_id for a in feed.agents] == [people["agent2"]]
    assert [w.customer_email for w in feed.waiting] == ["t@example.org"]
    assert {c.name for c in supervision.feed().campaigns} == {"Sales", "Support"}


def test_deleted_campaigns_are_not_supervised(watched, people):
    gone = make_campaign("Gone", deleted_at=utcnow())
    make_interaction(gone)
    session().commit()
    assert supervision.feed().campaigns == []
    assert supervision.feed([gone.id]).waiting == []


def test_supervisor_scoped_to_members_sees_only_their_campaigns(make_app):
    app = make_app("sqlite", UCMAIL_SUPERVISOR_SCOPE="members")
    people = {k: str(u.id) for k, u in create_users(app).items()}
    context = supervisor_context(app, people)
    try:
        mine = make_campaign("Mine")
        theirs = make_campaign("Theirs")
        add_member(mine, people["supervisor"])
        make_interaction(theirs, "secret@example.org")
        session().commit()
        assert [c.name for c in supervision.feed().campaigns] == ["Mine"]
        assert supervision.feed([theirs.id]).waiting == []
    finally:
        context.pop()


def test_feed_endpoint_answers_json_for_supervisors_only(app, client_for, users):
    with app.app_context():
        sales = make_campaign("Sales <b>")
        add_member(sales, str(users["agent1"].id))
        make_interaction(sales, "x@example.org")
        session().commit()

    response = client_for("supervisor").get("/ucmail/supervision/feed")
    assert response.status_code == 200
    data = response.get_json()
    assert data["campaigns"][0]["name"] == "Sales <b>"
    assert data["agents"][0]["name"] == "Alice Agent"
    assert data["waiting"][0]["customer_email"] == "x@example.org"

    assert client_for("agent1").get("/ucmail/supervision/feed").status_code == 403
    assert app.test_client().get("/ucmail/supervision/feed").status_code in (302, 401)


def test_dashboard_page_escapes_campaign_names(app, client_for):
    with app.app_context():
        make_campaign("<script>alert(1)</script>")
        session().commit()
    html = client_for("supervisor").get("/ucmail/supervision/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_campaign_figures_show_todays_service_level_wait_and_ratings(watched, people):
    sales = make_campaign(
        "Sales", service_level_seconds=600, threshold_warning_seconds=400, timezone="UTC"
    )
    now = utcnow()
    arrived = now - timedelta(seconds=900)
    fast = make_interaction(sales, state="closed", agent_id=people["agent1"], arrived_at=arrived)
    fast.first_response_at = arrived + timedelta(seconds=200)
    slow = make_interaction(sales, state="closed", agent_id=people["agent1"], arrived_at=arrived)
    slow.first_response_at = arrived + timedelta(seconds=800)
    reply = add_message(fast, "out", "Done")
    session().add(
        Rating(
            message_id=reply.id,
            interaction_id=fast.id,
            campaign_id=sales.id,
            agent_id=people["agent1"],
            score=4,
        )
    )
    session().commit()

    (figures,) = supervision.feed(now=now).campaigns
    assert figures.answered_today == 2
    assert figures.service_level_percent == 50.0
    assert figures.avg_wait_seconds == 500
    assert figures.avg_wait_level == "warning"
    assert figures.ratings["count"] == 1 and figures.ratings["average"] == 4


def test_time_in_status_restarts_when_an_agent_turns_busy_and_free_again(watched, people):
    from ucmail_ext.services.desk import portal, routing

    sales = make_campaign("Sales", enabled=True)
    add_member(sales, people["agent1"])
    an_hour_ago = utcnow() - timedelta(hours=1)
    online(people["agent1"], "free", since=an_hour_ago)
    waiting = make_interaction(sales, "a@example.org")
    session().commit()
    assert by_agent(supervision.feed())[people["agent1"]].seconds_in_status >= 3600

    routing.route(sales.id)  # the bulk UPDATE routing claims with
    busy = by_agent(supervision.feed())[people["agent1"]]
    assert busy.status == "Busy"
    assert busy.seconds_in_status < 600

    state = session().get(AgentState, people["agent1"])
    state.since = an_hour_ago  # an hour of Busy, then the agent closes the interaction
    session().commit()
    agent = acting_as(watched, people["agent1"])
    try:
        portal.close(waiting.id)
    finally:
        agent.pop()
    free = by_agent(supervision.feed())[people["agent1"]]
    assert free.status == "Free"
    assert free.seconds_in_status < 600


def test_time_in_status_keeps_running_while_busy_with_more_interactions(watched, people):
    from ucmail_ext.services.desk import routing

    sales = make_campaign("Sales", enabled=True, max_per_agent=5)
    add_member(sales, people["agent1"])
    an_hour_ago = utcnow() - timedelta(hours=1)
    online(people["agent1"], "free", active_count=1, since=an_hour_ago)
    make_interaction(sales, "a@example.org", state="assigned", agent_id=people["agent1"])
    make_interaction(sales, "b@example.org")
    session().commit()

    routing.route(sales.id)

    row = by_agent(supervision.feed())[people["agent1"]]
    assert row.status == "Busy" and row.active == 2
    assert row.seconds_in_status >= 3600
