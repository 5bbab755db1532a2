"""Factories for routing and portal tests: campaigns, members, online agents, arrivals."""

from __future__ import annotations

from datetime import datetime, timedelta

from ucmail_ext.extension import get_state
from ucmail_ext.models import AgentState, Campaign, Interaction, Member, Message, utcnow


def session():  # type: ignore[no-untyped-def]
    return get_state().session


def make_campaign(name: str = "Support", **values: object) -> Campaign:
    values.setdefault("email_address", "support@example.com")
    values.setdefault("strategy", "linear")
    values.setdefault("max_per_agent", 3)
    campaign = Campaign(name=name, **values)
    session().add(campaign)
    session().commit()
    return campaign


def add_members(campaign: Campaign, *agent_ids: str) -> None:
    for position, agent_id in enumerate(agent_ids):
        session().add(Member(campaign_id=campaign.id, agent_id=agent_id, position=position))
    session().commit()


def online(*agent_ids: str, status: str = "free", paused: bool = False) -> None:
    now = utcnow()
    for agent_id in agent_ids:
        state = session().get(AgentState, agent_id)
        if state is None:
            state = AgentState(agent_id=agent_id, display_name=f"Agent {agent_id}")
            session().add(state)
        state.status = status
        state.paused = paused
        state.last_heartbeat_at = now
        state.since = now
    session().commit()


def arrive(
    campaign: Campaign,
    subject: str = "Help",
    customer: str = "customer@example.org",
    at: datetime | None = None,
    text: str = "Hello, I need help.",
) -> Interaction:
    """A stored inbound mail waiting in the queue, as the inbound service leaves it."""
    when = at or utcnow()
    interaction = Interaction(
        campaign_id=campaign.id,
        customer_email=customer,
        customer_name="Carla Customer",
        subject=subject,
        state="queued",
        arrived_at=when,
        last_message_at=when,
        message_count=1,
    )
    interaction.messages.append(
        Message(
            campaign_id=campaign.id,
            direction="in",
            status="received",
            message_id=f"in-{subject.replace(' ', '-')}-{when.timestamp()}@example.org",
            from_addr=customer,
            from_name="Carla Customer",
            to_addrs=campaign.email_address,
            subject=subject,
            text=text,
            date=when,
            created_at=when,
        )
    )
    session().add(interaction)
    session().commit()
    return interaction


def arrivals(campaign: Campaign, count: int) -> list[int]:
    base = utcnow() - timedelta(minutes=count)
    return [
        arrive(campaign, f"Question {i}", at=base + timedelta(seconds=i)).id for i in range(count)
    ]


def assignments(campaign_id: int) -> dict[int, str | None]:
    rows = session().execute(
        Interaction.__table__.select().where(Interaction.campaign_id == campaign_id)
    )
    return {row.id: row.agent_id for row in rows if row.state == "assigned"}
