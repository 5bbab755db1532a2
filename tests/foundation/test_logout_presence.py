from __future__ import annotations

from tests.fixtures.app import csrf_token
from ucmail_ext.extension import get_state
from ucmail_ext.models import AgentState
from ucmail_ext.services.desk import presence


def test_logging_out_of_the_host_takes_the_agent_offline_at_once(app, users, client_for):
    agent = client_for("agent1")
    agent_id = str(users["agent1"].id)
    with app.app_context():
        presence.heartbeat(agent_id, "Alice Agent")
        assert presence.is_online(get_state().session.get(AgentState, agent_id))

    response = agent.post("/logout", data={"csrf_token": csrf_token(agent, app)})
    assert response.status_code == 302

    with app.app_context():
        state = get_state().session.get(AgentState, agent_id)
        assert state.status == "offline"
        assert not presence.is_online(state)
