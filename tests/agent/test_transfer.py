"""Transfer (issue 12, point 2): to a colleague or a queue, with a note; supervisors
reassign; an agent offline too long gives their interactions back to the queue."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.agent.conftest import Floor, post
from tests.agent.desk_fixtures import Desk, as_other_user, in_thread_context
from tests.agent.helpers import assigned, reload
from tests.routing.helpers import make_campaign, online, session
from ucmail_ext.models import AgentState, AuditEntry, Campaign, Interaction, Member, Note, utcnow
from ucmail_ext.services.desk import portal, routing, transfer


def _notes(interaction_id: int) -> list[Note]:
    session().expire_all()
    return list(session().scalars(select(Note).where(Note.interaction_id == interaction_id)))


def test_an_agent_hands_an_interaction_to_an_online_colleague_with_a_note(desk: Desk) -> None:
    a, b = desk.ids["agent1"], desk.ids["agent2"]
    interaction_id = assigned(desk, a, "Refund")

    transfer.to_agent(interaction_id, b, "please call her back", user=desk.user("agent1"))

    moved = reload(Interaction, interaction_id)
    assert (moved.state, moved.agent_id) == ("assigned", b)
    [line] = _notes(interaction_id)
    assert line.kind == "transfer"
    assert line.body == (
        "Transferred from Alice Agent to Bob Agent by Alice Agent: please call her back"
    )
    audit = session().scalars(select(AuditEntry).where(AuditEntry.action == "transfer")).one()
    assert audit.actor_id == a and "please call her back" in audit.detail
    assert reload(AgentState, a).active_count == 0
    assert reload(AgentState, b).active_count == 1
    assert [item.id for item in portal.tray(desk.user("agent2"))] == [interaction_id]


def test_only_online_members_below_the_maximum_are_offered_and_accepted(desk: Desk) -> None:
    a, b = desk.ids["agent1"], desk.ids["agent2"]
    interaction_id = assigned(desk, a)
    for _ in range(3):
        assigned(desk, b)  # Bob is at the campaign's maximum (3)
    user = desk.user("agent1")

    assert transfer.agent_choices(interaction_id, user) == []
    with pytest.raises(transfer.TransferError, match="online and below"):
        transfer.to_agent(interaction_id, b, user=user)
    state = session().get(AgentState, b)
    state.last_heartbeat_at = None
    session().commit()
    session().execute(
        Interaction.__table__.update().where(Interaction.agent_id == b).values(state="closed")
    )
    session().commit()
    with pytest.raises(transfer.TransferError, match="online and below"):
        transfer.to_agent(interaction_id, b, user=user)  # offline now

    assert reload(Interaction, interaction_id).agent_id == a  # left intact
    assert _notes(interaction_id) == []


def test_an_agent_sends_it_back_to_another_campaigns_queue(desk: Desk) -> None:
    a = desk.ids["agent1"]
    sales = make_campaign("Sales", email_address="sales@example.com")
    session().add(Member(campaign_id=sales.id, agent_id=a))
    session().commit()
    interaction_id = assigned(desk, a, "Wrong desk")

    transfer.to_queue(interaction_id, sales.id, "a sales question", user=desk.user("agent1"))

    moved = reload(Interaction, interaction_id)
    assert (moved.state, moved.campaign_id) == ("assigned", sales.id) or (
        moved.state,
        moved.agent_id,
        moved.campaign_id,
    ) == ("queued", None, sales.id)
    [line] = _notes(interaction_id)
    assert line.body == (
        "Transferred from Alice Agent to the queue of Sales by Alice Agent: a sales question"
    )


def test_a_queue_the_agent_does_not_work_in_is_refused(desk: Desk) -> None:
    secret = make_campaign("Secret", email_address="secret@example.com")
    interaction_id = assigned(desk, desk.ids["agent1"])

    with pytest.raises(transfer.TransferError, match="campaign you work in"):
        transfer.to_queue(interaction_id, secret.id, user=desk.user("agent1"))
    assert reload(Interaction, interaction_id).campaign_id == desk.campaign_id


def test_only_the_holder_or_a_supervisor_may_move_it(desk: Desk) -> None:
    a, b = desk.ids["agent1"], desk.ids["agent2"]
    interaction_id = assigned(desk, a)

    with pytest.raises(portal.NotAllowed):
        transfer.to_queue(interaction_id, desk.campaign_id, user=desk.user("agent2"))

    transfer.to_agent(interaction_id, b, "covering lunch", user=desk.user("supervisor"))
    assert reload(Interaction, interaction_id).agent_id == b
    [line] = _notes(interaction_id)
    assert line.body == (
        "Transferred from Alice Agent to Bob Agent by Sam Supervisor: covering lunch"
    )


def test_two_transfers_of_the_same_interaction_at_once_leave_one_owner(desk: Desk) -> None:
    a, b = desk.ids["agent1"], desk.ids["agent2"]
    carol = desk.ids["agent3"]
    session().add(Member(campaign_id=desk.campaign_id, agent_id=carol, position=9))
    session().commit()
    online(carol)
    rounds = 6
    barrier = threading.Barrier(2, timeout=60)

    def move(interaction_id: int, who: str, target: str) -> str:
        user = desk.user(who)
        transfer.agent_choices(interaction_id, user)  # both have read the owner
        barrier.wait()
        try:
            transfer.to_agent(interaction_id, target, user=user)
        except transfer.TransferError:
            return "lost"
        return "won"

    for _ in range(rounds):
        interaction_id = assigned(desk, a)
        with ThreadPoolExecutor(2) as pool:
            results = [
                pool.submit(in_thread_context, desk.app, move, interaction_id, "agent1", b),
                pool.submit(in_thread_context, desk.app, move, interaction_id, "supervisor", carol),
            ]
            outcomes = sorted(f.result(timeout=120) for f in results)
        assert outcomes == ["lost", "won"]
        final = reload(Interaction, interaction_id)
        assert final.state == "assigned" and final.agent_id in (b, carol)
        [line] = _notes(interaction_id)
        winner = "Bob Agent" if final.agent_id == b else "Carol Agent"
        assert line.body.startswith(f"Transferred from Alice Agent to {winner} by ")
        session().execute(
            Interaction.__table__.update()
            .where(Interaction.id == interaction_id)
            .values(state="closed")
        )
        session().commit()


def test_an_offline_agents_interactions_go_back_to_the_queue_after_the_campaigns_minutes(
    desk: Desk,
) -> None:
    a, b = desk.ids["agent1"], desk.ids["agent2"]
    interaction_id = assigned(desk, a, "Left over")
    state = session().get(AgentState, a)
    state.status, state.last_heartbeat_at = "offline", utcnow() - timedelta(minutes=20)
    session().commit()

    assert routing.requeue_offline() == []  # off by default, as before
    campaign = session().get(Campaign, desk.campaign_id)
    campaign.offline_requeue_minutes = 30
    session().commit()
    assert routing.requeue_offline() == []  # 20 minutes is not yet 30
    campaign = session().get(Campaign, desk.campaign_id)
    campaign.offline_requeue_minutes = 15
    session().commit()

    routing.route_all()

    moved = reload(Interaction, interaction_id)
    assert (moved.state, moved.agent_id) == ("assigned", b)  # requeued, then routed to Bob
    [line] = _notes(interaction_id)
    assert line.kind == "requeue" and "offline for more than 15 minutes" in line.body
    assert session().scalars(select(AuditEntry).where(AuditEntry.action == "requeue")).one()
    assert reload(AgentState, a).active_count == 0


def test_the_portal_transfer_form_moves_it_and_the_colleague_sees_it_live(
    floor: Floor, client_for
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1, "Printer")
    alice, bob = client_for("agent1"), client_for("agent2")
    bob.get("/ucmail/agent/")  # Bob is at his desk
    as_other_user()
    page = alice.get(f"/ucmail/agent/?open={interaction_id}").get_data(True)
    assert f'value="agent:{floor.agent2}"' in page

    done = post(
        alice,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/transfer",
        {"target": f"agent:{floor.agent2}", "note": "VIP customer"},
    )

    assert done.status_code == 302
    as_other_user()
    tray = bob.get("/ucmail/agent/tray.json").get_json()["items"]
    assert [item["id"] for item in tray] == [interaction_id]
    assert "VIP customer" in tray[0]["transfer_note"]
    opened = bob.get(f"/ucmail/agent/?open={interaction_id}").get_data(True)
    assert "Transferred from Alice Agent to Bob Agent by Alice Agent: VIP customer" in opened


def test_a_refused_transfer_explains_and_keeps_the_interaction(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1)
    alice = client_for("agent1")

    refused = post(
        alice,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/transfer",
        {"target": f"agent:{floor.outsider}", "note": "x"},
    )

    assert refused.status_code == 409
    assert "online and below the campaign" in refused.get_data(True)
    assert reload(Interaction, interaction_id).agent_id == floor.agent1


def test_a_supervisor_reassigns_an_agents_interaction_from_supervision(
    floor: Floor, client_for
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1, "Stuck")
    supervisor = client_for("supervisor")

    page = supervisor.get(f"/ucmail/supervision/agents/{floor.agent1}/interactions").get_data(True)
    assert "Stuck" in page and f'value="agent:{floor.agent2}"' in page
    done = post(
        supervisor,
        floor.app,
        f"/ucmail/supervision/interactions/{interaction_id}/reassign",
        {"target": f"agent:{floor.agent2}", "note": "Alice is out", "agent": floor.agent1},
    )

    assert done.status_code == 302
    assert reload(Interaction, interaction_id).agent_id == floor.agent2
    [line] = _notes(interaction_id)
    assert line.body == "Transferred from Alice Agent to Bob Agent by Sam Supervisor: Alice is out"
    as_other_user()
    assert (
        post(
            client_for("agent2"),
            floor.app,
            f"/ucmail/supervision/interactions/{interaction_id}/reassign",
            {"target": f"queue:{floor.campaign_id}"},
        ).status_code
        == 403
    )


def test_a_reassign_without_a_target_explains_itself(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1, "Stuck")
    supervisor = client_for("supervisor")

    refused = post(
        supervisor,
        floor.app,
        f"/ucmail/supervision/interactions/{interaction_id}/reassign",
        {"target": "nowhere", "agent": floor.agent1},
        follow_redirects=True,
    )

    assert refused.status_code == 200
    assert "Not reassigned: choose an agent or a queue" in refused.get_data(True)
    assert reload(Interaction, interaction_id).agent_id == floor.agent1
