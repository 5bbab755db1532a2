"""Actions on one agent: spy, monitor screen, info, pause, chat, log out; all audited."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.fixtures.app import csrf_token
from tests.supervision.factories import (
    add_member,
    add_message,
    make_campaign,
    make_interaction,
    online,
    session,
)
from ucmail_ext.models import AgentState, AuditEntry, Interaction, SupervisorMessage, utcnow
from ucmail_ext.services.desk import chat, presence, routing

BASE = "/ucmail/supervision/agents"


@pytest.fixture
def floor(app, users):
    """One campaign, agent1 on it and busy with one conversation; agent3 elsewhere."""
    agent = str(users["agent1"].id)
    with app.app_context():
        sales = make_campaign("Sales")
        elsewhere = make_campaign("Elsewhere")
        add_member(sales, agent)
        add_member(elsewhere, str(users["agent3"].id))
        online(agent, "free", active_count=1)
        busy = make_interaction(
            sales,
            "customer@example.org",
            "<b>Broken</b> printer",
            state="assigned",
            agent_id=agent,
            assigned_at=utcnow(),
        )
        add_message(busy, "in", "It prints nothing.", attachments=[("<x>.txt", "text/plain", b"x")])
        session().commit()
        return {
            "agent": agent,
            "other": str(users["agent3"].id),
            "campaign": sales.id,
            "interaction": busy.id,
        }


@pytest.fixture
def boss(client_for):
    return client_for("supervisor")


def post(client, app, url, payload):
    return client.post(url, json=payload, headers={"X-CSRFToken": csrf_token(client, app)})


def audit_actions(app, agent):
    with app.app_context():
        rows = session().scalars(
            select(AuditEntry.action)
            .where(AuditEntry.target_agent_id == agent)
            .order_by(AuditEntry.id)
        )
        return list(rows)


def test_spy_lists_the_agents_active_interactions_read_only(app, floor, boss):
    data = boss.get(f"{BASE}/{floor['agent']}/spy.json").get_json()
    (interaction,) = data["interactions"]
    assert interaction["subject"] == "<b>Broken</b> printer"
    assert interaction["customer_email"] == "customer@example.org"
    (message,) = interaction["messages"]
    assert message["text"] == "It prints nothing."
    assert message["attachments"] == ["<x>.txt"]


def test_spy_shows_new_messages_as_they_are_sent_or_received(app, floor, boss):
    first = boss.get(f"{BASE}/{floor['agent']}/spy.json").get_json()
    last_id = first["interactions"][0]["messages"][-1]["id"]
    with app.app_context():
        interaction = session().get(Interaction, floor["interaction"])
        add_message(interaction, "out", "Try turning it off and on.", status="queued")
        session().commit()

    newer = boss.get(f"{BASE}/{floor['agent']}/spy.json?after={last_id}").get_json()
    (message,) = newer["interactions"][0]["messages"]
    assert message["direction"] == "out"
    assert message["status"] == "queued"
    assert message["text"] == "Try turning it off and on."


def test_spy_page_escapes_what_customers_wrote(app, floor, boss):
    with app.app_context():
        state = session().get(AgentState, floor["agent"])
        state.display_name = "<img src=x onerror=alert(1)>"
        session().commit()
    response = boss.get(f"{BASE}/{floor['agent']}/spy")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<b>Broken</b>" not in html
    assert "onerror=alert(1)>" not in html


def test_monitor_screen_mirrors_the_portal_snapshot(app, floor, boss):
    snapshot = {
        "view": "reply",
        "open_interaction_id": floor["interaction"],
        "draft_subject": "Re: printer",
        "draft_body": "Dear customer, <script>",
        "recipients": ["customer@example.org", "boss@example.org"],
    }
    with app.app_context():
        presence.heartbeat(floor["agent"], screen=json.dumps(snapshot))

    data = boss.get(f"{BASE}/{floor['agent']}/screen.json").get_json()
    assert data["view"] == "reply"
    assert data["open_interaction_id"] == floor["interaction"]
    assert data["open_subject"] == "<b>Broken</b> printer"
    assert data["draft_body"] == "Dear customer, <script>"
    assert data["recipients"] == "customer@example.org, boss@example.org"
    assert data["seconds_ago"] is not None

    page = boss.get(f"{BASE}/{floor['agent']}/screen").get_data(as_text=True)
    assert "Dear customer, &lt;script&gt;" in page


def test_monitor_screen_can_be_turned_off(app, floor, boss):
    app.config["UCMAIL_MONITOR_SCREEN"] = False
    assert boss.get(f"{BASE}/{floor['agent']}/screen").status_code == 404
    assert boss.get(f"{BASE}/{floor['agent']}/screen.json").status_code == 404
    dashboard = boss.get("/ucmail/supervision/").get_data(as_text=True)
    assert "Monitor screen" not in dashboard


def test_monitor_screen_survives_a_garbled_snapshot(app, floor, boss):
    with app.app_context():
        presence.heartbeat(floor["agent"], screen="{not json")
    data = boss.get(f"{BASE}/{floor['agent']}/screen.json").get_json()
    assert data["draft_body"] == "" and data["open_interaction_id"] is None


def test_monitor_screen_hides_an_interaction_of_another_campaign(app, floor, boss, users):
    app.config["UCMAIL_SUPERVISOR_SCOPE"] = "members"
    with app.app_context():
        add_member(
            session().get(Interaction, floor["interaction"]).campaign, str(users["supervisor"].id)
        )
        secret = make_interaction(make_campaign("Hidden"), "secret@example.org", "Secret")
        session().commit()
        presence.heartbeat(floor["agent"], screen=json.dumps({"open_interaction_id": secret.id}))

    data = boss.get(f"{BASE}/{floor['agent']}/screen.json").get_json()
    assert data["open_interaction_id"] is None
    assert data["open_subject"] == ""


def test_info_shows_the_agent_and_todays_figures(app, floor, boss):
    with app.app_context():
        sales = session().get(Interaction, floor["interaction"]).campaign
        make_interaction(sales, state="closed", agent_id=floor["agent"], closed_at=utcnow())
        session().commit()
    html = boss.get(f"{BASE}/{floor['agent']}/info").get_data(as_text=True)
    assert "Alice Agent" in html
    assert "agent1@test.example" in html
    assert "Sales" in html
    assert "<dt>Completed incoming</dt><dd>1</dd>" in html


def test_pause_stops_routing_to_the_agent_and_resume_restarts_it(app, floor, boss):
    response = post(boss, app, f"{BASE}/{floor['agent']}/pause", {"paused": True})
    assert response.get_json() == {"agent_id": floor["agent"], "paused": True}
    with app.app_context():
        waiting = make_interaction(session().get(Interaction, floor["interaction"]).campaign)
        session().commit()
        routing.route(waiting.campaign_id)
        assert session().get(Interaction, waiting.id).state == "queued"
        waiting_id = waiting.id

    post(boss, app, f"{BASE}/{floor['agent']}/pause", {"paused": False})
    with app.app_context():
        assert session().get(Interaction, waiting_id).agent_id == floor["agent"]
    assert audit_actions(app, floor["agent"]) == ["pause", "resume"]


def test_chat_reaches_the_agent_and_the_answer_comes_back(app, floor, boss):
    sent = post(boss, app, f"{BASE}/{floor['agent']}/chat", {"body": "Call me <now>"})
    assert sent.status_code == 200
    with app.app_context():
        (unread,) = chat.unread_for_agent(floor["agent"])
        assert unread.body == "Call me <now>"
        chat.reply_from_agent(floor["agent"], "On my way")

    messages = boss.get(f"{BASE}/{floor['agent']}/chat").get_json()["messages"]
    assert [(m["direction"], m["body"]) for m in messages] == [
        ("to_agent", "Call me <now>"),
        ("to_supervisor", "On my way"),
    ]
    later = boss.get(f"{BASE}/{floor['agent']}/chat?after={messages[0]['id']}").get_json()
    assert [m["body"] for m in later["messages"]] == ["On my way"]


def test_an_empty_chat_message_is_refused_with_a_reason(app, floor, boss):
    response = post(boss, app, f"{BASE}/{floor['agent']}/chat", {"body": "   "})
    assert response.status_code == 400
    assert response.get_json()["error"]
    with app.app_context():
        assert session().scalar(select(SupervisorMessage.id)) is None


def test_log_out_ends_the_agents_portal_session(app, floor, boss):
    with app.app_context():
        epoch = session().get(AgentState, floor["agent"]).session_epoch
    response = post(boss, app, f"{BASE}/{floor['agent']}/logout", {})
    assert response.get_json()["logged_out"] is True
    with app.app_context():
        state = session().get(AgentState, floor["agent"])
        assert state.session_epoch == epoch + 1
        assert presence.display_status(state) == "Disconnected"


def test_every_action_is_audited(app, floor, boss):
    agent = floor["agent"]
    boss.get(f"{BASE}/{agent}/spy")
    boss.get(f"{BASE}/{agent}/spy.json")
    boss.get(f"{BASE}/{agent}/screen")
    boss.get(f"{BASE}/{agent}/info")
    post(boss, app, f"{BASE}/{agent}/pause", {"paused": True})
    post(boss, app, f"{BASE}/{agent}/chat", {"body": "hello"})
    post(boss, app, f"{BASE}/{agent}/logout", {})
    assert audit_actions(app, agent) == ["spy", "monitor", "info", "pause", "chat", "logout"]


def test_an_agent_outside_the_supervisors_campaigns_is_not_found(app, floor, boss):
    app.config["UCMAIL_SUPERVISOR_SCOPE"] = "members"
    for path in ("spy", "spy.json", "screen", "screen.json", "info", "chat"):
        assert boss.get(f"{BASE}/{floor['agent']}/{path}").status_code == 404, path
    for path in ("pause", "chat", "logout"):
        response = post(boss, app, f"{BASE}/{floor['agent']}/{path}", {"paused": True, "body": "x"})
        assert response.status_code == 404, path
    with app.app_context():
        assert session().get(AgentState, floor["agent"]).paused is False
    assert audit_actions(app, floor["agent"]) == []


def test_an_unknown_agent_is_not_found(app, floor, boss):
    assert boss.get(f"{BASE}/nobody/spy.json").status_code == 404
    assert post(boss, app, f"{BASE}/nobody/logout", {}).status_code == 404
    with app.app_context():
        assert session().get(AgentState, "nobody") is None


def test_agents_cannot_supervise(app, floor, client_for):
    agent = client_for("agent1")
    assert agent.get(f"{BASE}/{floor['other']}/spy.json").status_code == 403
    assert post(agent, app, f"{BASE}/{floor['other']}/logout", {}).status_code == 403
