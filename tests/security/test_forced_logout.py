"""Supervision's "log out" ends the agent's session everywhere, also in a browser that
never opened the portal: recordings, exports, attachments, the agent JSON and the API."""

from __future__ import annotations

import pytest

from tests.fixtures.app import USERS, csrf_token, login
from tests.supervision.factories import (
    add_member,
    add_message,
    make_campaign,
    make_interaction,
    session,
)

RECORDINGS = "/ucmail/recordings"


@pytest.fixture
def conversation(app, users):
    """agent1 and agent2 work in Sales; it has one conversation with an attachment."""
    with app.app_context():
        sales = make_campaign("Sales")
        add_member(sales, str(users["agent1"].id))
        add_member(sales, str(users["agent2"].id))
        chat = make_interaction(sales, "c@example.org", "Sales question")
        message = add_message(chat, "in", "hello", attachments=[("a.txt", "text/plain", b"a")])
        session().commit()
        return {"interaction": chat.id, "attachment": message.attachments[0].id}


def supervisor_logs_out(app, client_for, agent_id: str) -> None:
    supervisor = client_for("supervisor")
    response = supervisor.post(
        f"/ucmail/supervision/agents/{agent_id}/logout",
        headers={"X-CSRFToken": csrf_token(supervisor, app), "Accept": "application/json"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def endpoints(ids):
    return [
        f"{RECORDINGS}/",
        f"{RECORDINGS}/{ids['interaction']}",
        f"{RECORDINGS}/{ids['interaction']}/export.mbox",
        f"{RECORDINGS}/attachments/{ids['attachment']}",
        f"/ucmail/agent/attachments/{ids['attachment']}",
        "/ucmail/agent/tray.json",
        "/ucmail/api/campaigns",
    ]


@pytest.mark.parametrize("which", range(7))
def test_logout_reaches_a_browser_that_never_opened_the_portal(
    app, users, client_for, conversation, which
):
    agent = client_for("agent1")
    url = endpoints(conversation)[which]
    before = agent.get(url)
    before.close()
    assert before.status_code in (200, 403), (url, before.status_code)  # logged in

    supervisor_logs_out(app, client_for, str(users["agent1"].id))

    after = agent.get(url)
    after.close()
    if after.status_code == 302:
        assert "/login" in after.headers["Location"]
    else:
        assert after.status_code == 401, (url, after.status_code)
    # The session is over, not just this one answer.
    again = agent.get(f"{RECORDINGS}/")
    assert again.status_code == 302 and "/login" in again.headers["Location"]


def test_json_answers_say_logged_out(app, users, client_for, conversation):
    agent = client_for("agent1")
    supervisor_logs_out(app, client_for, str(users["agent1"].id))
    response = agent.get("/ucmail/agent/tray.json", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.get_json()["logged_out"] is True


def test_logging_in_again_after_the_logout_works(app, users, client_for, conversation):
    agent = client_for("agent1")
    supervisor_logs_out(app, client_for, str(users["agent1"].id))
    assert agent.get(f"{RECORDINGS}/").status_code == 302
    login(agent, app, USERS["agent1"][0])
    assert agent.get(f"{RECORDINGS}/").status_code == 200


def test_another_agents_logout_leaves_this_session_alone(app, users, client_for, conversation):
    agent = client_for("agent1")
    supervisor_logs_out(app, client_for, str(users["agent2"].id))
    assert agent.get(f"{RECORDINGS}/").status_code == 200


# ------------------------------------------------------------- remember-me cookies


def remembered_agent1(app):
    """agent1 logged in with "Remember me": a remember-me cookie besides the session."""
    client = app.test_client()
    login(client, app, USERS["agent1"][0], remember=True)
    assert client.get_cookie("remember_token") is not None
    return client


def close_browser(client, app) -> None:
    """The session cookie ends with the browser; the remember-me cookie stays."""
    client.delete_cookie(app.config["SESSION_COOKIE_NAME"])


def test_a_remembered_login_comes_back_after_the_browser_closes(app, users, conversation):
    agent = remembered_agent1(app)
    close_browser(agent, app)
    assert agent.get(f"{RECORDINGS}/").status_code == 200


def test_logout_reaches_a_remember_me_cookie_while_the_browser_is_closed(
    app, users, client_for, conversation
):
    agent = remembered_agent1(app)
    close_browser(agent, app)
    supervisor_logs_out(app, client_for, str(users["agent1"].id))

    response = agent.get(f"{RECORDINGS}/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert agent.get_cookie("remember_token") is None
    again = agent.get(f"{RECORDINGS}/")
    assert again.status_code == 302 and "/login" in again.headers["Location"]
    login(agent, app, USERS["agent1"][0])
    assert agent.get(f"{RECORDINGS}/").status_code == 200


def test_logout_reaches_a_remember_me_cookie_when_the_browser_is_open(
    app, users, client_for, conversation
):
    agent = remembered_agent1(app)
    supervisor_logs_out(app, client_for, str(users["agent1"].id))
    assert agent.get(f"{RECORDINGS}/").status_code == 302
    close_browser(agent, app)
    assert agent.get(f"{RECORDINGS}/").status_code == 302


@pytest.mark.parametrize("epoch_cookie", ["", '["1", 0]', "forged.token"])
def test_a_remember_me_cookie_needs_the_signed_epoch_of_its_login(
    app, users, conversation, epoch_cookie
):
    """Missing (a login from before ucmail set it), unsigned or forged: log in again."""
    agent = remembered_agent1(app)
    close_browser(agent, app)
    if epoch_cookie:
        agent.set_cookie("ucmail_epoch", epoch_cookie)
    else:
        agent.delete_cookie("ucmail_epoch")
    assert agent.get(f"{RECORDINGS}/").status_code == 302
