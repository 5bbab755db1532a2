"""The tray (issue 12, point 1): how long each customer has waited, what is new to the
agent, the campaign's threshold colour, longest wait first, counts per campaign."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from tests.agent.conftest import Floor
from tests.agent.desk_fixtures import Desk
from tests.agent.helpers import assigned
from tests.routing.helpers import add_members, make_campaign, session
from ucmail_ext.models import Campaign, Interaction, Message, utcnow
from ucmail_ext.services.desk import portal


def _message(interaction_id: int, direction: str, minutes_ago: float, text: str = "Hi") -> None:
    interaction = session().get(Interaction, interaction_id)
    when = utcnow() - timedelta(minutes=minutes_ago)
    session().add(
        Message(
            interaction_id=interaction_id,
            campaign_id=interaction.campaign_id,
            direction=direction,
            status="received" if direction == "in" else "sent",
            message_id=f"{direction}-{interaction_id}-{when.timestamp()}@example.org",
            from_addr=interaction.customer_email,
            subject=interaction.subject,
            text=text,
            date=when,
            created_at=when,
        )
    )
    interaction.last_message_at = max(interaction.last_message_at, when)
    session().commit()


def _waiting_for(desk: Desk, agent: str, subject: str, minutes_ago: float) -> int:
    """An interaction in ``agent``'s tray whose customer wrote ``minutes_ago``."""
    interaction_id = assigned(
        desk, desk.ids[agent], subject, at=utcnow() - timedelta(minutes=minutes_ago)
    )
    return interaction_id


def _item(desk: Desk, interaction_id: int, agent: str = "agent1") -> portal.TrayItem:
    session().expire_all()
    [item] = [i for i in portal.tray(desk.user(agent)) if i.id == interaction_id]
    return item


def _open(desk: Desk, interaction_id: int, agent: str = "agent1") -> None:
    portal.conversation(interaction_id, lambda i: f"/inline/{i}", user=desk.user(agent))


def test_the_customer_waits_from_their_first_unanswered_message(desk: Desk) -> None:
    interaction_id = _waiting_for(desk, "agent1", "Refund", minutes_ago=30)
    _message(interaction_id, "in", minutes_ago=20, text="Anyone there?")

    first = _item(desk, interaction_id)
    assert first.awaiting_answer
    assert first.waiting_since is not None
    assert abs((utcnow() - first.waiting_since) - timedelta(minutes=30)) < timedelta(minutes=1)

    _message(interaction_id, "out", minutes_ago=10, text="Here is your refund.")
    answered = _item(desk, interaction_id)
    assert not answered.awaiting_answer and answered.waiting_since is None

    _message(interaction_id, "in", minutes_ago=2, text="Thanks, one more thing")
    again = _item(desk, interaction_id)
    assert again.waiting_since is not None
    assert abs((utcnow() - again.waiting_since) - timedelta(minutes=2)) < timedelta(minutes=1)


def test_longest_waiting_customer_comes_first_and_answered_ones_last(desk: Desk) -> None:
    short = _waiting_for(desk, "agent1", "Short wait", minutes_ago=5)
    long = _waiting_for(desk, "agent1", "Long wait", minutes_ago=50)
    answered = _waiting_for(desk, "agent1", "Answered", minutes_ago=90)
    _message(answered, "out", minutes_ago=1)
    middle = _waiting_for(desk, "agent1", "Middle wait", minutes_ago=20)

    session().expire_all()
    order = [item.id for item in portal.tray(desk.user("agent1"))]

    assert order == [long, middle, short, answered]


def test_new_until_the_agent_opens_it_and_again_when_the_customer_writes(desk: Desk) -> None:
    interaction_id = _waiting_for(desk, "agent1", "Where is my parcel", minutes_ago=3)
    assert _item(desk, interaction_id).new

    _open(desk, interaction_id)
    assert not _item(desk, interaction_id).new

    _message(interaction_id, "out", minutes_ago=0)
    assert not _item(desk, interaction_id).new  # our own answer is nothing new

    # Stored "now", after the agent opened it a moment ago.
    interaction = session().get(Interaction, interaction_id)
    interaction.agent_seen_at = utcnow() - timedelta(seconds=30)
    session().commit()
    _message(interaction_id, "in", minutes_ago=0, text="It arrived broken")
    assert _item(desk, interaction_id).new


def test_a_supervisor_opening_it_does_not_clear_the_agents_new_mark(desk: Desk) -> None:
    interaction_id = _waiting_for(desk, "agent1", "Invoice", minutes_ago=3)

    _open(desk, interaction_id, agent="supervisor")

    assert _item(desk, interaction_id).new


def test_threshold_colour_follows_the_campaigns_warning_and_critical_waits(desk: Desk) -> None:
    campaign = session().get(Campaign, desk.campaign_id)
    campaign.threshold_warning_seconds = 5 * 60
    campaign.threshold_critical_seconds = 15 * 60
    session().commit()
    calm = _waiting_for(desk, "agent1", "Calm", minutes_ago=1)
    warm = _waiting_for(desk, "agent1", "Warm", minutes_ago=8)
    hot = _waiting_for(desk, "agent1", "Hot", minutes_ago=40)
    answered = _waiting_for(desk, "agent1", "Answered", minutes_ago=60)
    _message(answered, "out", minutes_ago=1)

    levels = {i: _item(desk, i).threshold for i in (calm, warm, hot, answered)}

    assert levels == {calm: "", warm: "warning", hot: "critical", answered: ""}
    assert _item(desk, hot).warning_seconds == 300
    assert _item(desk, hot).critical_seconds == 900


def test_thresholds_left_at_zero_never_colour_the_tray(desk: Desk) -> None:
    old = _waiting_for(desk, "agent1", "Old", minutes_ago=600)

    assert _item(desk, old).threshold == ""


def test_counts_per_campaign_with_their_waiting_customers(desk: Desk, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    sales = make_campaign("Sales", email_address="sales@helpdesk.test", receive_emails=False)
    add_members(sales, desk.ids["agent1"])
    _waiting_for(desk, "agent1", "Support 1", minutes_ago=3)
    answered = _waiting_for(desk, "agent1", "Support 2", minutes_ago=3)
    _message(answered, "out", minutes_ago=1)
    sale = _waiting_for(desk, "agent1", "Quote", minutes_ago=3)
    item = session().get(Interaction, sale)
    item.campaign_id = sales.id
    session().commit()

    items = portal.tray(desk.user("agent1"))
    counts = [(c.name, c.total, c.waiting) for c in portal.tray_counts(items)]

    assert counts == [("Sales", 1, 1), ("Support", 2, 1)]


def test_tray_json_carries_the_wait_the_mark_and_the_counts(
    floor: Floor, app: Flask, client_for
) -> None:  # type: ignore[no-untyped-def]
    campaign = session().get(Campaign, floor.campaign_id)
    campaign.threshold_warning_seconds = 60
    session().commit()
    interaction_id = assigned(floor, floor.agent1, "Late", at=utcnow() - timedelta(minutes=3))

    data = client_for("agent1").get("/ucmail/agent/tray.json").get_json()

    [item] = data["items"]
    assert item["id"] == interaction_id
    assert item["new"] is True
    assert item["threshold"] == "warning"
    assert item["waiting_since"].endswith("+00:00")  # the browser shows it in its own zone
    assert data["counts"] == [
        {"campaign_id": floor.campaign_id, "name": "Support", "total": 1, "waiting": 1}
    ]


def test_the_portal_page_renders_the_wait_mark_colour_and_counts(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    campaign = session().get(Campaign, floor.campaign_id)
    campaign.threshold_critical_seconds = 60
    session().commit()
    interaction_id = assigned(floor, floor.agent1, "Late", at=utcnow() - timedelta(minutes=3))

    html = client_for("agent1").get("/ucmail/agent/").get_data(as_text=True)

    assert f'data-id="{interaction_id}"' in html
    assert "threshold-critical" in html
    assert 'class="tray-new"' in html
    assert "data-waiting-since=" in html
    assert 'id="tray-counts"' in html and "Support" in html
