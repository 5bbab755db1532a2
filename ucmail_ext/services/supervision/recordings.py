"""Recordings: every email conversation, searchable and readable afterwards.

Access is by campaign (services/access.py): agents see their campaigns' recordings,
supervisors theirs, admins all. A recording the user may not see is reported as
not found (``mail_view.NotFound``), exactly like one that does not exist, so ids
cannot be probed. Messages are shown as the portal shows them (services/mail_view.py).

The search is built to stay on indexes with a big archive: the date range is a
range on ``arrived_at`` (indexed alone, per campaign and per agent), and the partial
email/subject matches are ``lower(...) LIKE`` filters applied to what that range
leaves, which works on every database without extensions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import Select, func, select

from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext as _
from ucmail_ext.i18n import local_day_bounds, local_today, zone_or_utc
from ucmail_ext.models import Campaign, Interaction, Member
from ucmail_ext.services.access import visible_campaign_ids
from ucmail_ext.services.admin.members import user_name
from ucmail_ext.services.desk import dispositions
from ucmail_ext.services.desk.notes import NoteView, notes_of
from ucmail_ext.services.mail_view import (
    MessageView,
    conversation_messages,
    message_view,
    visible_interaction,
)
from ucmail_ext.services.pagination import Page, paginate

MAX_FILTER_LENGTH = 320
MAX_PICKED = 200


class MultiMapping(Protocol):
    """What a request's ``args`` offers (werkzeug's MultiDict)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def getlist(self, key: str) -> list[Any]: ...


@dataclass(frozen=True)
class RecordingQuery:
    start: date | None = None
    end: date | None = None
    email: str = ""
    subject: str = ""
    campaign_ids: tuple[int, ...] = ()
    agent_ids: tuple[str, ...] = ()
    disposition: str = ""
    # The searcher's time zone: "from" and "to" are whole local days there (issue 15).
    zone: str = "UTC"

    def as_args(self) -> dict[str, Any]:
        """The query as URL arguments, for pager links and exports."""
        args: dict[str, Any] = {
            "start": self.start.isoformat() if self.start else "",
            "end": self.end.isoformat() if self.end else "",
            "email": self.email,
            "subject": self.subject,
            "campaign": list(self.campaign_ids),
            "agent": list(self.agent_ids),
            "disposition": self.disposition,
        }
        return {key: value for key, value in args.items() if value}


@dataclass(frozen=True)
class RecordingRow:
    id: int
    arrived_at: datetime
    last_message_at: datetime
    campaign_id: int
    campaign_name: str
    customer_email: str
    customer_name: str
    subject: str
    agent_id: str | None
    agent_name: str
    state: str
    message_count: int
    flagged: bool
    disposition: str = ""


@dataclass(frozen=True)
class ConversationView:
    id: int
    campaign_name: str
    customer_email: str
    customer_name: str
    subject: str
    state: str
    agent_name: str
    arrived_at: datetime
    closed_at: datetime | None
    messages: list[MessageView]
    notes: list[NoteView] = field(default_factory=list)
    disposition: str = ""

    def timeline(self) -> list[MessageView | NoteView]:
        """Messages and internal notes in the order they happened (notes marked)."""
        return sorted([*self.messages, *self.notes], key=lambda item: item.at)


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


def _session() -> Any:
    return get_state().session


def _parse_date(value: Any, today: date) -> date | None:
    """An ISO date, or "today" / "yesterday" in the searcher's zone."""
    text = str(value or "").strip()
    if not text:
        return None
    relative = {"today": 0, "yesterday": 1}.get(text.lower())
    if relative is not None:
        return today - timedelta(days=relative)
    return date.fromisoformat(text[:10])


def _ints(values: Iterable[Any]) -> tuple[int, ...]:
    picked = []
    for value in values:
        try:
            number = int(str(value).strip())
        except ValueError:
            continue
        if number > 0 and number not in picked:
            picked.append(number)
    return tuple(picked[:MAX_PICKED])


def _agent_ids(values: Iterable[Any]) -> tuple[str, ...]:
    picked = []
    for value in values:
        text = str(value).strip()[:64]
        if text and text not in picked:
            picked.append(text)
    return tuple(picked[:MAX_PICKED])


def _filter_text(value: Any) -> str:
    return " ".join(str(value or "").split())[:MAX_FILTER_LENGTH]


def parse_query(
    args: MultiMapping, zone: str = "UTC", now: datetime | None = None
) -> tuple[RecordingQuery, dict[str, str]]:
    """The search form, read leniently: a bad field is an error message, never an exception.

    Dates are days in ``zone`` (the searcher's); ``now`` (default: the clock) says
    which day "today" is there.
    """
    errors: dict[str, str] = {}
    today = local_today(zone_or_utc(zone), now)
    dates: dict[str, date | None] = {}
    messages = {
        "start": _("Start date: use the form YYYY-MM-DD."),
        "end": _("End date: use the form YYYY-MM-DD."),
    }
    for name, message in messages.items():
        try:
            dates[name] = _parse_date(args.get(name), today)
        except ValueError:
            dates[name] = None
            errors[name] = message
    start, end = dates["start"], dates["end"]
    if start and end and end < start:
        errors["end"] = _("End date: must not be before the start date.")
    query = RecordingQuery(
        start=start,
        end=end,
        email=_filter_text(args.get("email")).lower(),
        subject=_filter_text(args.get("subject")),
        campaign_ids=_ints(args.getlist("campaign")),
        agent_ids=_agent_ids(args.getlist("agent")),
        disposition=_filter_text(args.get("disposition"))[: dispositions.MAX_REASON],
        zone=zone_or_utc(zone).key,
    )
    return query, errors


def search_statement(query: RecordingQuery, visible: set[int] | None) -> Select[Any]:
    """Newest first; every filter optional, all of them combined with AND."""
    stmt = select(Interaction)
    campaigns = set(query.campaign_ids)
    if visible is not None:
        campaigns = campaigns & visible if campaigns else set(visible)
        stmt = stmt.where(Interaction.campaign_id.in_(sorted(campaigns) or [-1]))
    elif campaigns:
        stmt = stmt.where(Interaction.campaign_id.in_(sorted(campaigns)))
    zone = zone_or_utc(query.zone)
    if query.start:
        stmt = stmt.where(Interaction.arrived_at >= local_day_bounds(query.start, zone)[0])
    if query.end:
        stmt = stmt.where(Interaction.arrived_at < local_day_bounds(query.end, zone)[1])
    if query.email:
        stmt = stmt.where(
            func.lower(Interaction.customer_email).contains(query.email.lower(), autoescape=True)
        )
    if query.subject:
        stmt = stmt.where(
            func.lower(Interaction.subject).contains(query.subject.lower(), autoescape=True)
        )
    if query.agent_ids:
        stmt = stmt.where(Interaction.agent_id.in_(query.agent_ids))
    if query.disposition:
        stmt = stmt.where(Interaction.disposition == query.disposition)
    return stmt.order_by(Interaction.arrived_at.desc(), Interaction.id.desc())


def _campaign_names(ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = _session().execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(wanted)))
    return {cid: name for cid, name in rows}


def _names(agent_ids: Iterable[str | None]) -> dict[str, str]:
    return {a: user_name(a) for a in {a for a in agent_ids if a}}


def _row(
    interaction: Interaction, campaigns: dict[int, str], agents: dict[str, str]
) -> RecordingRow:
    return RecordingRow(
        id=interaction.id,
        arrived_at=interaction.arrived_at,
        last_message_at=interaction.last_message_at,
        campaign_id=interaction.campaign_id,
        campaign_name=campaigns.get(interaction.campaign_id, ""),
        customer_email=interaction.customer_email,
        customer_name=interaction.customer_name,
        subject=interaction.subject,
        agent_id=interaction.agent_id,
        agent_name=agents.get(interaction.agent_id or "", ""),
        state=interaction.state,
        message_count=interaction.message_count,
        flagged=interaction.flagged,
        disposition=interaction.disposition,
    )


def search(query: RecordingQuery, page: int = 1, per_page: int | None = None) -> Page[RecordingRow]:
    per_page = per_page or int(current_app.config["UCMAIL_PAGE_SIZE"])
    found = paginate(_session(), search_statement(query, visible_campaign_ids()), page, per_page)
    campaigns = _campaign_names(i.campaign_id for i in found.items)
    agents = _names(i.agent_id for i in found.items)
    return Page(
        items=[_row(i, campaigns, agents) for i in found.items],
        number=found.number,
        per_page=found.per_page,
        total=found.total,
    )


def campaign_choices() -> list[Choice]:
    """Campaigns to filter by; a deleted one stays, so its old mail can still be found."""
    stmt = select(Campaign.id, Campaign.name, Campaign.deleted_at).order_by(Campaign.name)
    visible = visible_campaign_ids()
    if visible is not None:
        stmt = stmt.where(Campaign.id.in_(sorted(visible) or [-1]))
    return [
        Choice(str(cid), f"{name} (deleted)" if deleted else name)
        for cid, name, deleted in _session().execute(stmt)
    ]


def disposition_choices() -> list[str]:
    """The close reasons of the campaigns this user may see (read from their lists)."""
    stmt = select(Campaign)
    visible = visible_campaign_ids()
    if visible is not None:
        stmt = stmt.where(Campaign.id.in_(sorted(visible) or [-1]))
    return dispositions.choices(list(_session().scalars(stmt)))


def agent_choices() -> list[Choice]:
    """The members of the campaigns this user may see."""
    stmt = select(Member.agent_id).distinct()
    visible = visible_campaign_ids()
    if visible is not None:
        stmt = stmt.where(Member.campaign_id.in_(sorted(visible) or [-1]))
    choices = [Choice(agent_id, user_name(agent_id)) for agent_id in _session().scalars(stmt)]
    return sorted(choices, key=lambda c: (c.label.lower(), c.value))


def conversation(
    interaction_id: int,
    inline_url: Callable[[int], str],
    image_origin: str = "",
    show_images: bool = False,
) -> ConversationView:
    """The whole conversation for the viewer; ``inline_url(attachment_id)`` places cid images."""
    interaction = visible_interaction(interaction_id)
    names = _campaign_names([interaction.campaign_id])
    return ConversationView(
        id=interaction.id,
        campaign_name=names.get(interaction.campaign_id, ""),
        customer_email=interaction.customer_email,
        customer_name=interaction.customer_name,
        subject=interaction.subject,
        state=interaction.state,
        agent_name=user_name(interaction.agent_id) if interaction.agent_id else "",
        arrived_at=interaction.arrived_at,
        closed_at=interaction.closed_at,
        messages=[
            message_view(m, inline_url, image_origin, show_images)
            for m in conversation_messages(interaction)
        ],
        notes=notes_of(interaction.id),
        disposition=interaction.disposition,
    )
