"""Rows for supervision and recordings tests, made straight in the database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ucmail_ext.extension import get_state
from ucmail_ext.models import (
    AgentState,
    Attachment,
    Campaign,
    Interaction,
    Member,
    Message,
    MessageRaw,
    utcnow,
)
from ucmail_ext.services import storage


def session() -> Any:
    return get_state().session


def make_campaign(name: str, **fields: Any) -> Campaign:
    fields.setdefault("email_address", f"{name.lower().replace(' ', '-')}@support.test")
    campaign = Campaign(name=name, **fields)
    session().add(campaign)
    session().flush()
    return campaign


def add_member(campaign: Campaign, agent_id: str, position: int = 0) -> Member:
    member = Member(campaign_id=campaign.id, agent_id=agent_id, position=position)
    session().add(member)
    session().flush()
    return member


def online(agent_id: str, status: str = "free", **fields: Any) -> AgentState:
    now = utcnow()
    state = session().get(AgentState, agent_id) or AgentState(agent_id=agent_id)
    state.status = status
    state.last_heartbeat_at = now
    state.since = fields.pop("since", now)
    for key, value in fields.items():
        setattr(state, key, value)
    session().add(state)
    session().flush()
    return state


def make_interaction(
    campaign: Campaign,
    customer_email: str = "customer@example.org",
    subject: str = "Help please",
    *,
    state: str = "queued",
    agent_id: str | None = None,
    arrived_at: datetime | None = None,
    **fields: Any,
) -> Interaction:
    arrived_at = arrived_at or utcnow()
    if state == "closed":
        fields.setdefault("closed_at", arrived_at + timedelta(minutes=30))
    if state in ("assigned", "closed"):
        fields.setdefault("assigned_at", arrived_at + timedelta(minutes=1))
    interaction = Interaction(
        campaign_id=campaign.id,
        customer_email=customer_email,
        subject=subject,
        state=state,
        agent_id=agent_id,
        arrived_at=arrived_at,
        last_message_at=arrived_at,
        **fields,
    )
    session().add(interaction)
    session().flush()
    return interaction


def add_message(
    interaction: Interaction,
    direction: str = "in",
    text: str = "Hello",
    *,
    html: str = "",
    raw: bytes | None = None,
    attachments: list[tuple[str, str, bytes]] | tuple[()] = (),
    **fields: Any,
) -> Message:
    customer = interaction.customer_email
    ours = interaction.campaign.email_address
    fields.setdefault("from_addr", customer if direction == "in" else ours)
    fields.setdefault("to_addrs", ours if direction == "in" else customer)
    fields.setdefault("subject", interaction.subject)
    fields.setdefault("status", "received" if direction == "in" else "sent")
    message = Message(
        interaction_id=interaction.id,
        campaign_id=interaction.campaign_id,
        direction=direction,
        text=text,
        html=html,
        **fields,
    )
    if raw is not None:
        message.raw = MessageRaw(raw=raw)
    for name, content_type, data in attachments:
        stored = storage.store_bytes(data)
        message.attachments.append(
            Attachment(
                filename=name,
                original_filename=name,
                content_type=content_type,
                size=stored.size,
                sha256=stored.sha256,
                storage_key=stored.storage_key,
            )
        )
    interaction.message_count += 1
    session().add(message)
    session().flush()
    return message


def acting_as(app: Any, user_id: str) -> Any:
    """A pushed request context whose current user is the host user ``user_id``.

    Services ask ``current_agent`` who is looking; this makes it that user. Pop it.
    """
    from flask_login import login_user

    from example_host_app.extensions import db
    from example_host_app.models import User

    context = app.test_request_context()
    context.push()
    login_user(db.session.get(User, int(user_id)))
    return context
