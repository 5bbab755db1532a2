"""Who else has a conversation open or is typing in it, and what arrived meanwhile.

Each open conversation reports itself on the portal's live poll; an entry lives a
few polls long, so a closed tab drops out by itself. The entries are in Redis when
ucmail has one (``locks.lock_url()``: nothing to clean, shared by every gunicorn
worker), else in a small table whose stale rows are deleted as new ones come.

Sending compares the newest message the agent had seen when they started writing
with what is stored now: a customer's message or another agent's answer that came
in between is shown to them before anything goes out (compose.py asks).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ucmail_ext.extension import get_state
from ucmail_ext.models import Message, Viewer, utcnow
from ucmail_ext.services import locks
from ucmail_ext.services.admin.members import user_name

# A few polls (2 s each) long: one lost poll does not make a viewer blink out.
VIEWER_TTL = timedelta(seconds=8)
TYPING_TTL = timedelta(seconds=4)
EXCERPT = 300


@dataclass(frozen=True)
class Presence:
    agent_id: str
    name: str
    typing: bool

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "typing": self.typing}


def _session() -> Any:
    return get_state().session


def _key(interaction_id: int) -> str:
    return f"{current_app.config['UCMAIL_LOCK_PREFIX']}viewers:{interaction_id}"


def touch(interaction_id: int, agent_id: str, name: str, typing: bool = False) -> None:
    """This agent has the conversation open now (and is typing, if said)."""
    url = locks.lock_url()
    if url:
        now = time.time()
        entry = {
            "name": name[:200],
            "until": now + VIEWER_TTL.total_seconds(),
            "typing_until": now + TYPING_TTL.total_seconds() if typing else 0,
        }
        client = locks.redis_client(url)
        pipe = client.pipeline()
        pipe.hset(_key(interaction_id), agent_id, json.dumps(entry))
        pipe.expire(_key(interaction_id), int(VIEWER_TTL.total_seconds()) + 1)
        pipe.execute()
        return
    _touch_row(interaction_id, agent_id, name, typing)


def _touch_row(interaction_id: int, agent_id: str, name: str, typing: bool) -> None:
    session = _session()
    now = utcnow()
    session.execute(
        delete(Viewer).where(Viewer.interaction_id == interaction_id, Viewer.expires_at < now)
    )
    values = {
        "display_name": name[:200],
        "expires_at": now + VIEWER_TTL,
        "typing_until": now + TYPING_TTL if typing else None,
    }
    row = session.get(Viewer, (interaction_id, agent_id))
    if row is None:
        try:
            with session.begin_nested():
                session.add(Viewer(interaction_id=interaction_id, agent_id=agent_id, **values))
        except IntegrityError:
            row = session.get(Viewer, (interaction_id, agent_id))
    if row is not None:
        for name_, value in values.items():
            setattr(row, name_, value)
    session.commit()


def leave(interaction_id: int, agent_id: str) -> None:
    url = locks.lock_url()
    if url:
        locks.redis_client(url).hdel(_key(interaction_id), agent_id)
        return
    _session().execute(
        delete(Viewer).where(Viewer.interaction_id == interaction_id, Viewer.agent_id == agent_id)
    )
    _session().commit()


def others(interaction_id: int, agent_id: str) -> list[Presence]:
    """Everyone but ``agent_id`` who has it open now, by name."""
    url = locks.lock_url()
    found: list[Presence] = []
    if url:
        now = time.time()
        for field, raw in locks.redis_client(url).hgetall(_key(interaction_id)).items():
            who = field.decode()
            entry = json.loads(raw)
            if who != agent_id and entry.get("until", 0) > now:
                found.append(Presence(who, entry.get("name", ""), entry["typing_until"] > now))
    else:
        now_dt = utcnow()
        rows = _session().scalars(
            select(Viewer).where(
                Viewer.interaction_id == interaction_id,
                Viewer.agent_id != agent_id,
                Viewer.expires_at >= now_dt,
            )
        )
        for row in rows:
            typing = row.typing_until is not None and row.typing_until >= now_dt
            found.append(Presence(row.agent_id, row.display_name or row.agent_id, typing))
    return sorted(found, key=lambda p: (p.name, p.agent_id))


def newer_messages(interaction_id: int, seen_message_id: int, agent_id: str) -> list[Message]:
    """Messages stored after ``seen_message_id`` that this agent did not write."""
    stmt = (
        select(Message)
        .where(Message.interaction_id == interaction_id, Message.id > seen_message_id)
        .order_by(Message.id)
    )
    return [
        m for m in _session().scalars(stmt) if not (m.direction == "out" and m.agent_id == agent_id)
    ]


def describe(message: Message) -> dict[str, Any]:
    """A newer message as the warning shows it: who, when, the start of the text."""
    text = " ".join((message.text or "").split())
    author = message.from_name or message.from_addr
    if message.direction == "out" and message.agent_id:
        author = user_name(message.agent_id, author)
    return {
        "id": message.id,
        "direction": message.direction,
        "from": author,
        "at": (message.date or message.created_at).isoformat(),
        "excerpt": text[:EXCERPT] + ("…" if len(text) > EXCERPT else ""),
    }


__all__ = ["Presence", "describe", "leave", "newer_messages", "others", "touch"]
