"""Recordings: every email conversation, searchable and readable afterwards.

Access is by campaign (services/access.py): agents see their campaigns' recordings,
supervisors theirs, admins all. A recording the user may not see is reported as
not found, exactly like one that does not exist, so ids cannot be probed.

The search is built to stay on indexes with a big archive: the date range is a
range on ``arrived_at`` (indexed alone, per campaign and per agent), and the partial
email/subject matches are ``lower(...) LIKE`` filters applied to what that range
leaves, which works on every database without extensions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import Select, func, select

from ucmail_ext.crypto import make_token, read_token
from ucmail_ext.extension import get_state
from ucmail_ext.mail.sanitize import block_remote_images, rewrite_cid, sanitize_html
from ucmail_ext.models import Attachment, Campaign, Interaction, Member, Message
from ucmail_ext.services import storage
from ucmail_ext.services.access import visible_campaign_ids
from ucmail_ext.services.pagination import Page, paginate
from ucmail_ext.services.supervision import user_name

MAX_FILTER_LENGTH = 320
MAX_PICKED = 200
# Served to the viewer's <img> tags; anything else (SVG included) only downloads.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/gif", "image/jpeg", "image/webp"})
# Types a browser could run or render as a page: always sent as plain bytes.
ACTIVE_TYPES = re.compile(r"html|svg|xml|javascript|ecmascript|x-sh", re.IGNORECASE)
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?")
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029/\\]")


class RecordingNotFound(LookupError):
    """No such recording, or one in a campaign the user may not see."""


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

    def as_args(self) -> dict[str, Any]:
        """The query as URL arguments, for pager links and exports."""
        args: dict[str, Any] = {
            "start": self.start.isoformat() if self.start else "",
            "end": self.end.isoformat() if self.end else "",
            "email": self.email,
            "subject": self.subject,
            "campaign": list(self.campaign_ids),
            "agent": list(self.agent_ids),
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


@dataclass(frozen=True)
class AttachmentView:
    id: int
    name: str
    content_type: str
    size: int
    inline: bool
    available: bool
    refused_reason: str


@dataclass(frozen=True)
class MessageView:
    id: int
    direction: str
    status: str
    from_addr: str
    from_name: str
    to_addrs: str
    cc_addrs: str
    subject: str
    at: datetime
    text: str
    html_document: str
    remote_images_blocked: bool
    flagged: bool
    attachments: list[AttachmentView] = field(default_factory=list)


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


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class AttachmentFile:
    path: str
    download_name: str
    mimetype: str


def _session() -> Any:
    return get_state().session


def _parse_date(value: Any) -> date | None:
    text = str(value or "").strip()
    if not text:
        return None
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


def parse_query(args: MultiMapping) -> tuple[RecordingQuery, dict[str, str]]:
    """The search form, read leniently: a bad field is an error message, never an exception."""
    errors: dict[str, str] = {}
    dates: dict[str, date | None] = {}
    for name, label in (("start", "Start date"), ("end", "End date")):
        try:
            dates[name] = _parse_date(args.get(name))
        except ValueError:
            dates[name] = None
            errors[name] = f"{label}: use the form YYYY-MM-DD."
    start, end = dates["start"], dates["end"]
    if start and end and end < start:
        errors["end"] = "End date: must not be before the start date."
    query = RecordingQuery(
        start=start,
        end=end,
        email=_filter_text(args.get("email")).lower(),
        subject=_filter_text(args.get("subject")),
        campaign_ids=_ints(args.getlist("campaign")),
        agent_ids=_agent_ids(args.getlist("agent")),
    )
    return query, errors


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def search_statement(query: RecordingQuery, visible: set[int] | None) -> Select[Any]:
    """Newest first; every filter optional, all of them combined with AND."""
    stmt = select(Interaction)
    campaigns = set(query.campaign_ids)
    if visible is not None:
        campaigns = campaigns & visible if campaigns else set(visible)
        stmt = stmt.where(Interaction.campaign_id.in_(sorted(campaigns) or [-1]))
    elif campaigns:
        stmt = stmt.where(Interaction.campaign_id.in_(sorted(campaigns)))
    if query.start:
        stmt = stmt.where(Interaction.arrived_at >= _day_start(query.start))
    if query.end:
        stmt = stmt.where(Interaction.arrived_at < _day_start(query.end + timedelta(days=1)))
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


def agent_choices() -> list[Choice]:
    """The members of the campaigns this user may see."""
    stmt = select(Member.agent_id).distinct()
    visible = visible_campaign_ids()
    if visible is not None:
        stmt = stmt.where(Member.campaign_id.in_(sorted(visible) or [-1]))
    choices = [Choice(agent_id, user_name(agent_id)) for agent_id in _session().scalars(stmt)]
    return sorted(choices, key=lambda c: (c.label.lower(), c.value))


def get_interaction(interaction_id: int) -> Interaction:
    """The interaction if this user may see it; RecordingNotFound otherwise."""
    interaction = _session().get(Interaction, interaction_id) if interaction_id > 0 else None
    if interaction is None:
        raise RecordingNotFound(interaction_id)
    visible = visible_campaign_ids()
    if visible is not None and interaction.campaign_id not in visible:
        raise RecordingNotFound(interaction_id)
    return interaction


def inline_token(attachment_id: int) -> str:
    """Signed per attachment: the viewer's sandboxed frame loads images without cookies."""
    return make_token("attachment", {"a": attachment_id})


def _frame_policy(image_origin: str, show_images: bool) -> str:
    sources = ["data:"]
    if _ORIGIN.fullmatch(image_origin or ""):
        sources.append(image_origin)
    if show_images:
        sources += ["https:", "http:"]
    return (
        "default-src 'none'; style-src 'unsafe-inline'; font-src data:; "
        f"img-src {' '.join(sources)}"
    )


def html_document(
    html: str, cid_urls: Mapping[str, str], image_origin: str, show_images: bool
) -> tuple[str, bool]:
    """A whole page for a sandboxed iframe's srcdoc, carrying its own strict CSP.

    Returns the page and whether remote images were blocked (the viewer then offers
    to show them).
    """
    if not html:
        return "", False
    if show_images:
        safe, blocked = sanitize_html(html), False
    else:
        safe, blocked = block_remote_images(html)
    if cid_urls:
        safe = rewrite_cid(safe, cid_urls)
    if not safe:
        return "", blocked
    policy = _frame_policy(image_origin, show_images)
    page = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<base target="_blank"></head><body>'
        f"{safe}</body></html>"
    )
    return page, blocked


def _attachment_view(attachment: Attachment) -> AttachmentView:
    return AttachmentView(
        id=attachment.id,
        name=attachment.original_filename or attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        inline=attachment.inline,
        available=bool(attachment.storage_key) and not attachment.refused_reason,
        refused_reason=attachment.refused_reason,
    )


def _message_view(
    message: Message, inline_url: Callable[[int], str], image_origin: str, show_images: bool
) -> MessageView:
    cid_urls = {
        a.content_id: inline_url(a.id)
        for a in message.attachments
        if a.content_id and a.storage_key and a.content_type.lower() in INLINE_IMAGE_TYPES
    }
    document, blocked = html_document(message.html, cid_urls, image_origin, show_images)
    return MessageView(
        id=message.id,
        direction=message.direction,
        status=message.status,
        from_addr=message.from_addr,
        from_name=message.from_name,
        to_addrs=message.to_addrs,
        cc_addrs=message.cc_addrs,
        subject=message.subject,
        at=message.date or message.created_at,
        text=message.text,
        html_document=document,
        remote_images_blocked=blocked,
        flagged=message.flagged,
        attachments=[_attachment_view(a) for a in message.attachments],
    )


def conversation(
    interaction_id: int,
    inline_url: Callable[[int], str],
    image_origin: str = "",
    show_images: bool = False,
) -> ConversationView:
    """The whole conversation for the viewer; ``inline_url(attachment_id)`` places cid images."""
    interaction = get_interaction(interaction_id)
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
            _message_view(m, inline_url, image_origin, show_images) for m in interaction.messages
        ],
    )


def safe_download_name(name: str, fallback: str = "attachment") -> str:
    """The sender's file name as a download name only: no controls, no path parts."""
    cleaned = _UNSAFE_NAME_CHARS.sub("_", name or "").strip(" .")
    return cleaned[:200] or fallback


def _download_type(content_type: str) -> str:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if not re.fullmatch(r"[a-z0-9.+\-]+/[a-z0-9.+\-]+", kind) or ACTIVE_TYPES.search(kind):
        return "application/octet-stream"
    return kind


def _stored_file(attachment: Attachment) -> AttachmentFile:
    if not attachment.storage_key or attachment.refused_reason:
        raise RecordingNotFound(attachment.id)
    try:
        path = storage.path_of(attachment.storage_key)
    except ValueError:
        raise RecordingNotFound(attachment.id) from None
    if not path.is_file():
        raise RecordingNotFound(attachment.id)
    return AttachmentFile(
        path=str(path),
        download_name=safe_download_name(attachment.original_filename or attachment.filename),
        mimetype=_download_type(attachment.content_type),
    )


def open_attachment(attachment_id: int) -> AttachmentFile:
    """An attachment of a recording this user may see, for a download."""
    attachment = _session().get(Attachment, attachment_id) if attachment_id > 0 else None
    if attachment is None:
        raise RecordingNotFound(attachment_id)
    get_interaction(attachment.message.interaction_id)
    return _stored_file(attachment)


def open_inline_image(token: str) -> AttachmentFile:
    """An image the viewer placed with ``inline_token``; only safe image types."""
    payload = read_token("attachment", token)
    attachment_id = payload.get("a") if isinstance(payload, dict) else None
    attachment = (
        _session().get(Attachment, attachment_id) if isinstance(attachment_id, int) else None
    )
    if attachment is None or attachment.content_type.lower() not in INLINE_IMAGE_TYPES:
        raise RecordingNotFound(attachment_id)
    stored = _stored_file(attachment)
    return AttachmentFile(stored.path, stored.download_name, attachment.content_type.lower())
