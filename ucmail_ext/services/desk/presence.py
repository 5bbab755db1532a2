"""Agent presence: online or not, on break, paused by a supervisor, how loaded.

The agent chooses free or break; a supervisor may pause; the portal's heartbeat
keeps the agent online and its absence (a closed tab, a dead laptop) makes them
offline after ``UCMAIL_HEARTBEAT_TIMEOUT``. Routing asks ``is_routable``; the
supervision screen shows ``display_status``. Changes that can free an agent for work
ask for a routing pass.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from ucmail_ext.dispatch import enqueue
from ucmail_ext.extension import get_state
from ucmail_ext.i18n import lazy_gettext
from ucmail_ext.models import AgentState, Interaction, utcnow
from ucmail_ext.services import audit

ONLINE_STATUSES = ("free", "break")
# ``display_status`` stays English (metrics and the supervision feed key on it); people
# read these.
STATUS_LABELS = {
    "Disconnected": lazy_gettext("Disconnected"),
    "Free": lazy_gettext("Free"),
    "Busy": lazy_gettext("Busy"),
    "Free on break": lazy_gettext("Free on break"),
    "Busy on break": lazy_gettext("Busy on break"),
    "Paused": lazy_gettext("Paused"),
}


def _session():  # type: ignore[no-untyped-def]
    return get_state().session


def get_or_create(agent_id: str, display_name: str = "") -> AgentState:
    session = _session()
    state = session.get(AgentState, agent_id)
    if state is not None:
        if display_name and state.display_name != display_name:
            state.display_name = display_name
        return state
    try:
        with session.begin_nested():
            state = AgentState(agent_id=agent_id, display_name=display_name, since=utcnow())
            session.add(state)
    except IntegrityError:
        state = session.get(AgentState, agent_id)
    assert state is not None
    return state


def _timeout() -> timedelta:
    return timedelta(seconds=current_app.config["UCMAIL_HEARTBEAT_TIMEOUT"])


def heartbeat_interval_ms() -> int:
    """How often the portal beats: three times per timeout, between 1 and 5 seconds."""
    timeout_ms = int(_timeout().total_seconds() * 1000)
    return max(1000, min(5000, timeout_ms // 3))


def is_online(state: AgentState, now: datetime | None = None) -> bool:
    if state.status not in ONLINE_STATUSES or state.last_heartbeat_at is None:
        return False
    return (now or utcnow()) - state.last_heartbeat_at <= _timeout()


def is_routable(state: AgentState, now: datetime | None = None) -> bool:
    return is_online(state, now) and state.status == "free" and not state.paused


def routable_clause(now: datetime) -> ColumnElement[bool]:
    """:func:`is_routable`, as SQL: online, free (not on break), not paused."""
    return and_(
        AgentState.status == "free",
        AgentState.paused.is_(False),
        AgentState.last_heartbeat_at.is_not(None),
        AgentState.last_heartbeat_at >= now - _timeout(),
    )


def display_status(state: AgentState, now: datetime | None = None) -> str:
    """The spec's words: Disconnected, Free, Busy, Free on break, Busy on break, Paused."""
    if not is_online(state, now):
        return "Disconnected"
    busy = state.active_count > 0
    if state.status == "break":
        return "Busy on break" if busy else "Free on break"
    if state.paused:
        return "Paused"
    return "Busy" if busy else "Free"


def status_label(display: str) -> str:
    """One of ``display_status``'s words in the user's language."""
    label = STATUS_LABELS.get(display)
    return str(label) if label is not None else display


def _change(state: AgentState, status: str) -> None:
    if state.status != status:
        state.status = status
        state.since = utcnow()


def heartbeat(agent_id: str, display_name: str = "", screen: str | None = None) -> AgentState:
    """The portal calls this every few seconds; coming online asks for routing.

    ``screen`` is the portal's snapshot (JSON text: what is open, the draft being
    typed) that the supervisor's "monitor screen" mirrors.
    """
    state = get_or_create(agent_id, display_name)
    was_routable = is_routable(state)
    state.last_heartbeat_at = utcnow()
    if screen is not None:
        state.screen = screen[:200_000]
        state.screen_updated_at = state.last_heartbeat_at
    if state.status not in ONLINE_STATUSES:
        _change(state, "free")
    _session().commit()
    if not was_routable and is_routable(state):
        enqueue("ucmail.routing.route_all")
    return state


def go_offline(agent_id: str) -> None:
    state = get_or_create(agent_id)
    _change(state, "offline")
    state.last_heartbeat_at = None
    _session().commit()


def set_break(agent_id: str, reason: str | None) -> AgentState:
    """A reason puts the agent on break; None brings them back (and routes)."""
    state = get_or_create(agent_id)
    if reason:
        state.break_reason = reason.strip()[:120]
        _change(state, "break")
    else:
        state.break_reason = ""
        _change(state, "free")
    _session().commit()
    if is_routable(state):
        enqueue("ucmail.routing.route_all")
    return state


def set_paused(agent_id: str, paused: bool, by: str) -> AgentState:
    state = get_or_create(agent_id)
    if state.paused != paused:
        state.paused = paused
        state.paused_by = by if paused else None
        state.since = utcnow()
        audit.record(by, "pause" if paused else "resume", agent_id)
    _session().commit()
    if not paused and is_routable(state):
        enqueue("ucmail.routing.route_all")
    return state


def force_logout(agent_id: str, by: str) -> AgentState:
    """The portal compares its session's epoch with this one and logs the agent out."""
    state = get_or_create(agent_id)
    state.session_epoch += 1
    state.last_heartbeat_at = None
    _change(state, "offline")
    audit.record(by, "logout", agent_id)
    _session().commit()
    return state


def sweep_offline(now: datetime | None = None) -> list[str]:
    """Agents whose heartbeat stopped are offline; returns who changed."""
    now = now or utcnow()
    session = _session()
    stale = list(
        session.scalars(
            select(AgentState.agent_id).where(
                AgentState.status.in_(ONLINE_STATUSES),
                (AgentState.last_heartbeat_at.is_(None))
                | (AgentState.last_heartbeat_at < now - _timeout()),
            )
        )
    )
    if stale:
        session.execute(
            update(AgentState)
            .where(AgentState.agent_id.in_(stale))
            .values(status="offline", since=now)
        )
        session.commit()
    return stale


def active_values(active: int, now: datetime) -> dict[str, Any]:
    """The UPDATE values for a new active count, as SQL (routing claims in bulk).

    Free and Busy are statuses the supervisor watches, so crossing between them
    restarts ``since`` (the "Time" column) like any other status change.
    """
    crossed = AgentState.active_count > 0 if active == 0 else AgentState.active_count == 0
    return {
        "active_count": active,
        "since": case((crossed, now), else_=AgentState.since),
    }


def recount_active(agent_id: str) -> int:
    """Recompute from interactions, the source of truth, after an assign or a close."""
    session = _session()
    count = int(
        session.scalar(
            select(func.count(Interaction.id)).where(
                Interaction.agent_id == agent_id, Interaction.state == "assigned"
            )
        )
        or 0
    )
    state = get_or_create(agent_id)
    if (state.active_count > 0) != (count > 0):
        state.since = utcnow()  # Free <-> Busy: see active_values
    state.active_count = count
    return state.active_count
