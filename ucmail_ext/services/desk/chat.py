"""Supervisor <-> agent chat: the supervision screen writes, the portal shows and answers."""

from __future__ import annotations

from sqlalchemy import select, update

from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext as _
from ucmail_ext.models import SupervisorMessage, utcnow
from ucmail_ext.services import audit

MAX_BODY = 4000


class ChatError(ValueError):
    pass


def _clean(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ChatError(_("write a message first"))
    if len(body) > MAX_BODY:
        raise ChatError(_("a chat message holds at most %(max)s characters", max=MAX_BODY))
    return body


def send_to_agent(supervisor_id: str, agent_id: str, body: str) -> SupervisorMessage:
    message = SupervisorMessage(
        agent_id=agent_id, supervisor_id=supervisor_id, direction="to_agent", body=_clean(body)
    )
    session = get_state().session
    session.add(message)
    audit.record(supervisor_id, "chat", agent_id)
    session.commit()
    return message


def reply_from_agent(agent_id: str, body: str) -> SupervisorMessage:
    session = get_state().session
    last = session.scalar(
        select(SupervisorMessage.supervisor_id)
        .where(SupervisorMessage.agent_id == agent_id, SupervisorMessage.direction == "to_agent")
        .order_by(SupervisorMessage.id.desc())
        .limit(1)
    )
    message = SupervisorMessage(
        agent_id=agent_id, supervisor_id=last or "", direction="to_supervisor", body=_clean(body)
    )
    session.add(message)
    session.commit()
    return message


def conversation(agent_id: str, after_id: int = 0, limit: int = 200) -> list[SupervisorMessage]:
    session = get_state().session
    rows = session.scalars(
        select(SupervisorMessage)
        .where(SupervisorMessage.agent_id == agent_id, SupervisorMessage.id > after_id)
        .order_by(SupervisorMessage.id)
        .limit(limit)
    )
    return list(rows)


def recent(agent_id: str, limit: int = 50) -> list[SupervisorMessage]:
    """The newest ``limit`` messages with this agent, oldest first (the portal's history)."""
    rows = get_state().session.scalars(
        select(SupervisorMessage)
        .where(SupervisorMessage.agent_id == agent_id)
        .order_by(SupervisorMessage.id.desc())
        .limit(limit)
    )
    return list(rows)[::-1]


def unread_for_agent(agent_id: str) -> list[SupervisorMessage]:
    session = get_state().session
    rows = session.scalars(
        select(SupervisorMessage)
        .where(
            SupervisorMessage.agent_id == agent_id,
            SupervisorMessage.direction == "to_agent",
            SupervisorMessage.read_at.is_(None),
        )
        .order_by(SupervisorMessage.id)
    )
    return list(rows)


def mark_read_by_agent(agent_id: str, up_to_id: int) -> None:
    session = get_state().session
    session.execute(
        update(SupervisorMessage)
        .where(
            SupervisorMessage.agent_id == agent_id,
            SupervisorMessage.direction == "to_agent",
            SupervisorMessage.id <= up_to_id,
            SupervisorMessage.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    session.commit()


def as_dict(message: SupervisorMessage) -> dict[str, object]:
    return {
        "id": message.id,
        "direction": message.direction,
        "body": message.body,
        "at": message.created_at.isoformat(),
    }
