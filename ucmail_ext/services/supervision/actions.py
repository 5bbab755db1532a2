"""What a supervisor does to one agent: spy, monitor screen, info, pause, chat, log out.

Each action first checks that the agent works in a campaign this supervisor may
see (an unknown or foreign agent is "not found", so ids cannot be probed), and
each one leaves an audit line. The live views (spy, screen, chat) are audited when
they are opened, not on every poll.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext as _
from ucmail_ext.models import (
    AgentState,
    Campaign,
    Interaction,
    Member,
    Message,
    Rating,
    SupervisorMessage,
    utcnow,
)
from ucmail_ext.services import audit
from ucmail_ext.services.admin.members import user_name
from ucmail_ext.services.desk import chat, presence, transfer
from ucmail_ext.services.mail_view import MessageHead, attachment_name, message_head
from ucmail_ext.services.supervision.feed import (
    completed_today,
    selectable_campaigns,
    today_clause,
)

VIEW_ACTIONS = ("spy", "monitor", "info")
SPY_HISTORY = 50
SPY_TEXT_LIMIT = 20_000
SCREEN_TEXT_LIMIT = 20_000


class AgentNotFound(LookupError):
    """No such agent in any campaign the supervisor may see."""


@dataclass(frozen=True)
class SpyMessage(MessageHead):
    interaction_id: int
    text: str
    attachments: tuple[str, ...]


@dataclass(frozen=True)
class SpyInteraction:
    id: int
    campaign_name: str
    customer_email: str
    customer_name: str
    subject: str
    messages: list[SpyMessage]


@dataclass(frozen=True)
class SpyView:
    agent_id: str
    name: str
    status: str
    interactions: list[SpyInteraction]


@dataclass(frozen=True)
class ScreenView:
    agent_id: str
    name: str
    status: str
    updated_at: datetime | None
    view: str
    open_interaction_id: int | None
    open_subject: str
    open_customer_email: str
    draft_subject: str
    draft_body: str
    recipients: str


@dataclass(frozen=True)
class AgentInfo:
    agent_id: str
    name: str
    email: str
    status: str
    break_reason: str
    paused: bool
    paused_by: str
    since: datetime | None
    last_heartbeat_at: datetime | None
    active_count: int
    campaigns: list[str]
    completed_in: int
    completed_out: int
    messages_sent_today: int
    ratings_today: int
    rating_average_today: float | None


def _session() -> Any:
    return get_state().session


def agent_campaigns(agent_id: str) -> list[Campaign]:
    """The agent's live campaigns that the current supervisor may see."""
    visible = {c.id: c for c in selectable_campaigns()}
    member_of = _session().scalars(select(Member.campaign_id).where(Member.agent_id == agent_id))
    return sorted((visible[cid] for cid in member_of if cid in visible), key=lambda c: c.name)


def require_agent(agent_id: str) -> list[Campaign]:
    """The agent's campaigns visible to this supervisor; AgentNotFound when there are none."""
    campaigns = agent_campaigns(agent_id)
    if not campaigns:
        raise AgentNotFound(agent_id)
    return campaigns


def _held(agent_id: str, campaign_ids: Iterable[int], *order: Any) -> list[Interaction]:
    """The interactions the agent holds in these campaigns (the supervisor's visible ones)."""
    return list(
        _session().scalars(
            select(Interaction)
            .where(
                Interaction.agent_id == agent_id,
                Interaction.state == "assigned",
                Interaction.campaign_id.in_(sorted(campaign_ids)),
            )
            .order_by(*order)
        )
    )


def record_view(by: str, action: str, agent_id: str) -> None:
    """Opening spy, monitor or info is the audited act; the polls that follow are not."""
    if action not in VIEW_ACTIONS:
        raise ValueError(f"unknown supervision view {action!r}")
    require_agent(agent_id)
    audit.record(by, action, agent_id)
    _session().commit()


def _state(agent_id: str) -> AgentState | None:
    return _session().get(AgentState, agent_id)


def _status(state: AgentState | None, now: datetime) -> str:
    return presence.status_label(presence.display_status(state, now) if state else "Disconnected")


def _spy_message(message: Message) -> SpyMessage:
    return SpyMessage(
        **message_head(message),
        interaction_id=message.interaction_id,
        text=message.text[:SPY_TEXT_LIMIT],
        attachments=tuple(attachment_name(a) for a in message.attachments),
    )


def _spy_messages(interaction_id: int, after_id: int) -> list[SpyMessage]:
    stmt = (
        select(Message)
        .where(Message.interaction_id == interaction_id)
        .options(selectinload(Message.attachments))
    )
    if after_id:
        stmt = stmt.where(Message.id > after_id).order_by(Message.id).limit(SPY_HISTORY)
        return [_spy_message(m) for m in _session().scalars(stmt)]
    stmt = stmt.order_by(Message.id.desc()).limit(SPY_HISTORY)
    return [_spy_message(m) for m in reversed(list(_session().scalars(stmt)))]


def spy(agent_id: str, after_id: int = 0, now: datetime | None = None) -> SpyView:
    """The agent's active interactions, read-only; ``after_id`` returns only newer messages."""
    campaigns = {c.id: c for c in require_agent(agent_id)}
    now = now or utcnow()
    interactions = _held(agent_id, campaigns, Interaction.assigned_at, Interaction.id)
    state = _state(agent_id)
    return SpyView(
        agent_id=agent_id,
        name=user_name(agent_id, state.display_name if state else ""),
        status=_status(state, now),
        interactions=[
            SpyInteraction(
                id=i.id,
                campaign_name=campaigns[i.campaign_id].name,
                customer_email=i.customer_email,
                customer_name=i.customer_name,
                subject=i.subject,
                messages=_spy_messages(i.id, after_id),
            )
            for i in interactions
        ],
    )


def _text(snapshot: dict[str, Any], key: str) -> str:
    value = snapshot.get(key)
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    if value is None or isinstance(value, dict):
        return ""
    return str(value)[:SCREEN_TEXT_LIMIT]


def _snapshot(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def screen(agent_id: str, now: datetime | None = None) -> ScreenView:
    """A mirror of the portal's last snapshot: what is open and the draft being typed."""
    campaign_ids = [c.id for c in require_agent(agent_id)]
    now = now or utcnow()
    state = _state(agent_id)
    snapshot = _snapshot(state.screen if state else "")
    open_id: int | None = None
    open_subject = open_email = ""
    try:
        wanted = int(snapshot.get("open_interaction_id") or 0)
    except (TypeError, ValueError):
        wanted = 0
    opened = _session().get(Interaction, wanted) if wanted > 0 else None
    if opened is not None and opened.campaign_id in campaign_ids:
        open_id, open_subject, open_email = opened.id, opened.subject, opened.customer_email
    return ScreenView(
        agent_id=agent_id,
        name=user_name(agent_id, state.display_name if state else ""),
        status=_status(state, now),
        updated_at=state.screen_updated_at if state else None,
        view=_text(snapshot, "view"),
        open_interaction_id=open_id,
        open_subject=open_subject,
        open_customer_email=open_email,
        draft_subject=_text(snapshot, "draft_subject"),
        draft_body=_text(snapshot, "draft_body"),
        recipients=_text(snapshot, "recipients"),
    )


def _lookup_email(agent_id: str) -> str:
    try:
        user = get_state().hooks["user_lookup"](agent_id)
    except Exception:  # the host's lookup failing must not hide the rest of the info
        return ""
    return str(getattr(user, "email", "") or "") if user is not None else ""


def info(agent_id: str, now: datetime | None = None) -> AgentInfo:
    campaigns = require_agent(agent_id)
    now = now or utcnow()
    state = _state(agent_id)
    session = _session()
    done_in, done_out = completed_today([agent_id], campaigns, now).get(agent_id, (0, 0))
    sent = session.scalar(
        select(func.count(Message.id)).where(
            Message.agent_id == agent_id,
            Message.direction == "out",
            today_clause(Message.created_at, Message.campaign_id, campaigns, now),
        )
    )
    rating_count, rating_avg = session.execute(
        select(func.count(Rating.id), func.avg(Rating.score)).where(
            Rating.agent_id == agent_id,
            today_clause(Rating.created_at, Rating.campaign_id, campaigns, now),
        )
    ).one()
    paused_by = state.paused_by if state and state.paused else None
    return AgentInfo(
        agent_id=agent_id,
        name=user_name(agent_id, state.display_name if state else ""),
        email=_lookup_email(agent_id),
        status=_status(state, now),
        break_reason=state.break_reason if state else "",
        paused=bool(state and state.paused),
        paused_by=user_name(paused_by) if paused_by else "",
        since=state.since if state else None,
        last_heartbeat_at=state.last_heartbeat_at if state else None,
        active_count=state.active_count if state else 0,
        campaigns=[c.name for c in campaigns],
        completed_in=done_in,
        completed_out=done_out,
        messages_sent_today=int(sent or 0),
        ratings_today=int(rating_count or 0),
        rating_average_today=round(float(rating_avg), 2) if rating_avg is not None else None,
    )


def set_paused(by: str, agent_id: str, paused: bool) -> bool:
    """Pause (no new interactions) or resume; presence audits the change."""
    require_agent(agent_id)
    return presence.set_paused(agent_id, paused, by).paused


def log_out(by: str, agent_id: str) -> None:
    """The portal sees the new session epoch on its next request and logs the agent out."""
    require_agent(agent_id)
    presence.force_logout(agent_id, by)


def send_chat(by: str, agent_id: str, body: str) -> SupervisorMessage:
    """Raises chat.ChatError (a ValueError with a message for the user) for an empty body."""
    require_agent(agent_id)
    return chat.send_to_agent(by, agent_id, body)


def chat_history(agent_id: str, after_id: int = 0) -> list[dict[str, object]]:
    require_agent(agent_id)
    return [chat.as_dict(m) for m in chat.conversation(agent_id, after_id)]


# --------------------------------------------------------------------------- reassign


@dataclass(frozen=True)
class ReassignRow:
    """One of the agent's interactions, with where the supervisor may move it."""

    interaction_id: int
    subject: str
    customer_email: str
    campaign_name: str
    agents: list[transfer.AgentChoice]
    queues: list[transfer.QueueChoice]


def reassign_rows(agent_id: str) -> list[ReassignRow]:
    """The agent's open interactions in the campaigns this supervisor may see."""
    campaigns = {c.id: c for c in require_agent(agent_id)}
    held = _held(agent_id, campaigns, Interaction.arrived_at)
    queues = transfer.queue_choices()
    return [
        ReassignRow(
            interaction_id=i.id,
            subject=i.subject,
            customer_email=i.customer_email,
            campaign_name=campaigns[i.campaign_id].name,
            agents=transfer.agent_choices(i.id),
            queues=queues,
        )
        for i in held
    ]


def reassign(interaction_id: int, target: str, note: str = "") -> Interaction:
    """``target`` is ``agent:<id>`` or ``queue:<campaign id>``: the transfer, by a supervisor."""
    kind, _sep, value = target.partition(":")
    if kind == "agent" and value:
        return transfer.to_agent(interaction_id, value, note)
    if kind == "queue" and value.isdigit():
        return transfer.to_queue(interaction_id, int(value), note)
    raise transfer.TransferError(_("choose an agent or a queue"))
