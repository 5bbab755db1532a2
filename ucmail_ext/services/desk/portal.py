"""The agent portal: the tray, one open conversation, search, close.

An agent sees interactions of the campaigns they belong to (services/access.py),
and their tray holds only the ones assigned to them. An interaction the user may
not see is "not found", exactly like a missing one, so ids cannot be probed.

Mail is shown the way the recordings viewer shows it (services/mail_view.py):
sanitized again at display time, in a sandboxed frame with its own strict CSP,
remote images held back until asked for, cid images through signed links.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Select, or_, select

from ucmail_ext.auth import agent_id_of, has_role
from ucmail_ext.dispatch import enqueue
from ucmail_ext.extension import current_agent, get_state
from ucmail_ext.i18n import gettext as _
from ucmail_ext.models import AgentState, Campaign, Interaction, Message, Note, utcnow
from ucmail_ext.services.access import visible_campaign_ids
from ucmail_ext.services.desk import dispositions, notes, presence, waiting
from ucmail_ext.services.mail_view import (
    MessageView,
    NotFound,
    conversation_messages,
    message_view,
    visible_interaction,
)
from ucmail_ext.services.pagination import Page, paginate

MAX_QUERY = 200
_NO_LIMITS = waiting.Thresholds(0, 0)


class NotAllowed(PermissionError):
    """The user sees the interaction but may not do this to it (another agent's)."""


@dataclass(frozen=True)
class TrayItem:
    id: int
    campaign_name: str
    customer_email: str
    customer_name: str
    subject: str
    state: str
    agent_id: str | None
    arrived_at: datetime
    last_message_at: datetime
    awaiting_answer: bool
    flagged: bool
    # The transfer line that put it here, until the new holder opens it.
    transfer_note: str = ""
    campaign_id: int = 0
    # The customer's first unanswered message (None: they have our answer).
    waiting_since: datetime | None = None
    # A customer message the holder has not opened yet (tray only).
    new: bool = False
    # "warning" / "critical" by the campaign's thresholds, "" below them.
    threshold: str = ""
    warning_seconds: int = 0
    critical_seconds: int = 0

    @property
    def waited(self) -> str:
        """The wait as the page first shows it (h:mm:ss); the browser keeps it ticking."""
        seconds = waiting.seconds_since(self.waiting_since, utcnow())
        if seconds is None:
            return ""
        hours, rest = divmod(int(seconds), 3600)
        minutes, secs = divmod(rest, 60)
        return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "campaign": self.campaign_name,
            "customer_email": self.customer_email,
            "customer_name": self.customer_name,
            "subject": self.subject,
            "state": self.state,
            "arrived_at": self.arrived_at.isoformat(),
            "last_message_at": self.last_message_at.isoformat(),
            "awaiting_answer": self.awaiting_answer,
            "flagged": self.flagged,
            "transfer_note": self.transfer_note,
            "campaign_id": self.campaign_id,
            "waiting_since": self.waiting_since.isoformat() if self.waiting_since else None,
            "new": self.new,
            "threshold": self.threshold,
            "warning_seconds": self.warning_seconds,
            "critical_seconds": self.critical_seconds,
        }


@dataclass(frozen=True)
class ConversationView:
    id: int
    campaign_id: int
    campaign_name: str
    customer_email: str
    customer_name: str
    subject: str
    state: str
    agent_id: str | None
    mine: bool
    can_answer: bool
    messages: list[MessageView]
    notes: list[notes.NoteView] = field(default_factory=list)
    dispositions: list[str] = field(default_factory=list)
    disposition_required: bool = False
    disposition: str = ""

    @property
    def newest_message_id(self) -> int:
        """What the editor remembers as "seen": a newer message is a collision."""
        return max((m.id for m in self.messages), default=0)

    def timeline(self) -> list[MessageView | notes.NoteView]:
        """Messages and notes together, oldest first, as they happened."""
        return sorted([*self.messages, *self.notes], key=lambda item: item.at)


@dataclass(frozen=True)
class AgentStatus:
    status: str
    label: str
    break_reason: str
    paused: bool

    def as_dict(self) -> dict[str, str]:
        """What the portal's live feeds report (tray, heartbeat, status change)."""
        return {"status": self.status, "label": self.label, "reason": self.break_reason}


def _session() -> Any:
    return get_state().session


def my_id(user: Any = None) -> str:
    """The current (or given) user's ucmail agent id."""
    return agent_id_of(current_agent if user is None else user)


def is_supervising(user: Any = None) -> bool:
    return has_role("supervisor", current_agent if user is None else user)


def _visible_filter(stmt: Select[Any], user: Any = None) -> Select[Any]:
    visible = visible_campaign_ids(user)
    if visible is None:
        return stmt
    return stmt.where(Interaction.campaign_id.in_(sorted(visible) or [-1]))


def may_answer(interaction: Interaction, user: Any = None) -> bool:
    """Anyone who sees it, unless another agent holds it (a supervisor may step in)."""
    holder = interaction.agent_id if interaction.state == "assigned" else None
    return holder in (None, my_id(user)) or is_supervising(user)


# --------------------------------------------------------------------------- tray and search


def _transfer_notes(interaction_ids: list[int]) -> dict[int, str]:
    """The newest transfer line of each interaction not yet opened by its new holder."""
    if not interaction_ids:
        return {}
    rows = _session().execute(
        select(Note.interaction_id, Note.body)
        .where(Note.interaction_id.in_(interaction_ids), Note.kind == "transfer")
        .order_by(Note.id)
    )
    return dict(rows.all())


def _items(rows: list[Interaction]) -> list[TrayItem]:
    names = dict(
        _session()
        .execute(
            select(Campaign.id, Campaign.name).where(
                Campaign.id.in_({row.campaign_id for row in rows} or {-1})
            )
        )
        .all()
    )
    waits = waiting.waits([row.id for row in rows])
    limits = waiting.thresholds({row.campaign_id for row in rows})
    now = utcnow()
    transferred = _transfer_notes(
        [r.id for r in rows if r.state == "assigned" and not r.agent_seen_at]
    )
    return [
        TrayItem(
            id=row.id,
            campaign_name=names.get(row.campaign_id, ""),
            customer_email=row.customer_email,
            customer_name=row.customer_name,
            subject=row.subject,
            state=row.state,
            agent_id=row.agent_id,
            arrived_at=row.arrived_at,
            last_message_at=row.last_message_at,
            awaiting_answer=row.id in waits and waits[row.id].since is not None,
            flagged=row.flagged,
            transfer_note=transferred.get(row.id, ""),
            campaign_id=row.campaign_id,
            waiting_since=waits[row.id].since if row.id in waits else None,
            new=row.state == "assigned" and waiting.is_new(row, waits.get(row.id)),
            threshold=limits.get(row.campaign_id, _NO_LIMITS).level(
                waiting.seconds_since(waits[row.id].since if row.id in waits else None, now)
            ),
            warning_seconds=limits.get(row.campaign_id, _NO_LIMITS).warning,
            critical_seconds=limits.get(row.campaign_id, _NO_LIMITS).critical,
        )
        for row in rows
    ]


def _longest_waiting_first(item: TrayItem) -> tuple[int, float]:
    """Waiting customers first, longest wait on top; then the rest, newest activity first."""
    if item.waiting_since is not None:
        return (0, item.waiting_since.timestamp())
    return (1, -item.last_message_at.timestamp())


@dataclass(frozen=True)
class CampaignCount:
    campaign_id: int
    name: str
    total: int
    waiting: int

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def tray_counts(items: list[TrayItem]) -> list[CampaignCount]:
    """How many of the tray's interactions (and waiting customers) each campaign has."""
    counts: dict[int, CampaignCount] = {}
    for item in items:
        seen = counts.get(
            item.campaign_id, CampaignCount(item.campaign_id, item.campaign_name, 0, 0)
        )
        counts[item.campaign_id] = CampaignCount(
            seen.campaign_id,
            seen.name,
            seen.total + 1,
            seen.waiting + (item.waiting_since is not None),
        )
    return sorted(counts.values(), key=lambda c: (c.name.lower(), c.campaign_id))


def tray(user: Any = None) -> list[TrayItem]:
    """The interactions assigned to this agent, the customer waiting longest first."""
    stmt = (
        select(Interaction)
        .where(Interaction.agent_id == my_id(user), Interaction.state == "assigned")
        .order_by(Interaction.last_message_at.desc(), Interaction.id.desc())
        .limit(500)
    )
    items = _items(list(_session().scalars(_visible_filter(stmt, user))))
    return sorted(items, key=_longest_waiting_first)


def search(query: str, page: int = 1, user: Any = None) -> Page[TrayItem]:
    """By campaign name, customer email, subject and customer name (partial, any case)."""
    text = " ".join((query or "").split())[:MAX_QUERY]
    stmt = select(Interaction).join(Campaign, Campaign.id == Interaction.campaign_id)
    if text:
        columns = (
            Campaign.name,
            Interaction.customer_email,
            Interaction.subject,
            Interaction.customer_name,
        )
        stmt = stmt.where(or_(*(column.icontains(text, autoescape=True) for column in columns)))
    stmt = _visible_filter(stmt, user).order_by(
        Interaction.last_message_at.desc(), Interaction.id.desc()
    )
    found = paginate(_session(), stmt, page, int(current_app.config["UCMAIL_PAGE_SIZE"]))
    return Page(_items(found.items), found.number, found.per_page, found.total)


# --------------------------------------------------------------------------- one conversation


def conversation(
    interaction_id: int,
    inline_url: Callable[[int], str],
    image_origin: str = "",
    show_images: bool = False,
    user: Any = None,
) -> ConversationView:
    """The whole conversation and the customer's details, for the right-hand side."""
    interaction = visible_interaction(interaction_id, user)
    campaign = _session().get(Campaign, interaction.campaign_id)
    mine = interaction.state == "assigned" and interaction.agent_id == my_id(user)
    if mine:
        interaction.agent_seen_at = utcnow()
        _session().commit()
    return ConversationView(
        id=interaction.id,
        campaign_id=interaction.campaign_id,
        campaign_name=campaign.name if campaign else "",
        customer_email=interaction.customer_email,
        customer_name=interaction.customer_name,
        subject=interaction.subject,
        state=interaction.state,
        agent_id=interaction.agent_id,
        mine=mine,
        can_answer=may_answer(interaction, user),
        messages=[
            message_view(m, inline_url, image_origin, show_images, outgoing_html=False)
            for m in conversation_messages(interaction)
        ],
        notes=notes.notes_of(interaction.id),
        dispositions=dispositions.options(campaign),
        disposition_required=dispositions.required(campaign),
        disposition=interaction.disposition,
    )


def close(interaction_id: int, disposition: str = "", user: Any = None) -> Interaction:
    """Done: the agent's slot frees up, so routing runs again.

    A campaign that requires a close reason refuses a close without one
    (``dispositions.DispositionError``), leaving the interaction open.
    """
    interaction = visible_interaction(interaction_id, user)
    if interaction.state == "closed":
        return interaction
    if not may_answer(interaction, user):
        raise NotAllowed(_("this interaction is assigned to another agent"))
    reason = dispositions.chosen(_session().get(Campaign, interaction.campaign_id), disposition)
    holder = interaction.agent_id
    interaction.state = "closed"
    interaction.disposition = reason
    interaction.closed_at = utcnow()
    if holder is None:
        interaction.agent_id = my_id(user)
    session = _session()
    session.flush()
    for agent_id in {holder, interaction.agent_id} - {None}:
        presence.recount_active(agent_id)  # type: ignore[arg-type]
    session.commit()
    enqueue("ucmail.routing.route_all")
    return interaction


def message_of(message_id: int, user: Any = None) -> Message:
    message = _session().get(Message, message_id) if message_id > 0 else None
    if message is None:
        raise NotFound(message_id)
    visible_interaction(message.interaction_id, user)
    return message


# --------------------------------------------------------------------------- presence


def agent_status(user: Any = None) -> AgentStatus:
    state = _session().get(AgentState, my_id(user))
    if state is None:
        return AgentStatus("offline", presence.status_label("Disconnected"), "", False)
    return AgentStatus(
        state.status,
        presence.status_label(presence.display_status(state)),
        state.break_reason,
        state.paused,
    )


def session_epoch(agent_id: str) -> int:
    epoch = _session().scalar(
        select(AgentState.session_epoch).where(AgentState.agent_id == agent_id)
    )
    return int(epoch or 0)


def display_name(user: Any = None) -> str:
    user = current_agent if user is None else user
    return str(getattr(user, "name", "") or user)[:200]


SCREEN_FIELDS = ("open_interaction_id", "view", "draft_subject", "draft_body", "recipients")
SCREEN_TEXT_LIMIT = 20_000


def screen_snapshot(raw: Any) -> str:
    """The portal's screen for the supervisor's mirror: known fields only, capped, as JSON."""
    data = raw if isinstance(raw, dict) else {}
    snapshot: dict[str, Any] = {}
    opened = data.get("open_interaction_id")
    snapshot["open_interaction_id"] = (
        opened if isinstance(opened, int) and not isinstance(opened, bool) else None
    )
    for name in SCREEN_FIELDS[1:]:
        value = data.get(name)
        snapshot[name] = value[:SCREEN_TEXT_LIMIT] if isinstance(value, str) else ""
    return json.dumps(snapshot)
