"""How long each customer in a tray has waited, and what the agent has not seen yet.

The tray is the agent's to-do list, so it answers "what next?": a customer waits
from their first message after our last answer (not from the interaction's
arrival: an answered customer who writes again starts a new wait), the colour
follows the campaign's warning and critical thresholds, and "new" means a
customer message arrived after the owning agent last opened the conversation
(``Interaction.agent_seen_at``, reset when the interaction changes hands).

Two grouped queries for the whole tray, on the (interaction_id, id) index,
whatever the tray's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign, Interaction, Message


@dataclass(frozen=True)
class Waiting:
    """One interaction's wait, as the tray shows it."""

    # The first customer message not answered yet (None: the customer has our answer).
    since: datetime | None
    # The newest customer message (None: none at all, e.g. an agent-started interaction).
    newest_in: datetime | None


@dataclass(frozen=True)
class Thresholds:
    """The campaign's colours, in seconds of waiting (0: that colour is off)."""

    warning: int
    critical: int

    def level(self, seconds: float | None) -> str:
        """ "critical", "warning" or "" for a wait of ``seconds`` (None: not waiting)."""
        if seconds is None:
            return ""
        if self.critical and seconds >= self.critical:
            return "critical"
        if self.warning and seconds >= self.warning:
            return "warning"
        return ""


def _session() -> Any:
    return get_state().session


def waits(interaction_ids: list[int]) -> dict[int, Waiting]:
    """Each interaction's wait; interactions without a customer message are left out."""
    if not interaction_ids:
        return {}
    ids = sorted(set(interaction_ids))
    last_out = (
        select(Message.interaction_id, func.max(Message.id).label("last_out"))
        .where(Message.interaction_id.in_(ids), Message.direction == "out")
        .group_by(Message.interaction_id)
        .subquery()
    )
    unanswered = dict(
        _session()
        .execute(
            select(Message.interaction_id, func.min(Message.created_at))
            .outerjoin(last_out, last_out.c.interaction_id == Message.interaction_id)
            .where(
                Message.interaction_id.in_(ids),
                Message.direction == "in",
                or_(last_out.c.last_out.is_(None), Message.id > last_out.c.last_out),
            )
            .group_by(Message.interaction_id)
        )
        .all()
    )
    newest = dict(
        _session()
        .execute(
            select(Message.interaction_id, func.max(Message.created_at))
            .where(Message.interaction_id.in_(ids), Message.direction == "in")
            .group_by(Message.interaction_id)
        )
        .all()
    )
    return {i: Waiting(unanswered.get(i), newest[i]) for i in ids if i in newest}


def thresholds(campaign_ids: set[int]) -> dict[int, Thresholds]:
    rows = _session().execute(
        select(
            Campaign.id, Campaign.threshold_warning_seconds, Campaign.threshold_critical_seconds
        ).where(Campaign.id.in_(sorted(campaign_ids) or [-1]))
    )
    return {cid: Thresholds(int(w or 0), int(c or 0)) for cid, w, c in rows}


def is_new(interaction: Interaction, wait: Waiting | None) -> bool:
    """Never opened by its holder, or a customer wrote since they last opened it."""
    if interaction.agent_seen_at is None:
        return True
    return bool(wait and wait.newest_in and wait.newest_in > interaction.agent_seen_at)


def seconds_since(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())
