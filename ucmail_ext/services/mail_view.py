"""A stored message shown to a user: its page, its inline images and its files.

The agent portal, the recordings viewer and the supervisor's spy view all read mail
through here, so the display rules hold in one place: HTML is sanitized again at
display time and placed in a sandboxed frame with its own strict CSP, remote images
are held back until asked for, cid images load through signed links (the frame
sends no cookies), and a customer's file always downloads, typed so it cannot run.

An interaction, message or file the user may not see is ``NotFound``, exactly like
a missing one, so ids cannot be probed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from flask import current_app, send_file, url_for
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from ucmail_ext.auth import agent_id_of, current_agent
from ucmail_ext.extension import get_state
from ucmail_ext.mail.sanitize import block_remote_images, rewrite_cid, sanitize_html
from ucmail_ext.models import AgentState, Attachment, Interaction, Message
from ucmail_ext.services import storage
from ucmail_ext.services.access import visible_campaign_ids

# Served to the viewer's <img> tags; anything else (SVG included) only downloads.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/gif", "image/jpeg", "image/webp"})
# Types a browser could run or render as a page: always sent as plain bytes.
ACTIVE_TYPES = re.compile(r"html|svg|xml|javascript|ecmascript|x-sh", re.IGNORECASE)
# A customer's file is never sniffed, framed or run as one of our pages.
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, max-age=3600",
}
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(?::[0-9]{1,5})?")
_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029/\\]")
_MIME_TYPE = re.compile(r"[a-z0-9.+\-]+/[a-z0-9.+\-]+")
# Its own salt: a pixel, rating or unsubscribe token never opens a file.
INLINE_LINK_SALT = "ucmail.inline-file"


class NotFound(LookupError):
    """No such interaction, message or file, or one this user may not see."""


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
class MessageHead:
    """Who wrote to whom, when and about what: the part every view of a message shows."""

    id: int
    direction: str
    status: str
    from_addr: str
    from_name: str
    to_addrs: str
    cc_addrs: str
    subject: str
    at: datetime


@dataclass(frozen=True)
class MessageView(MessageHead):
    kind: str
    error: str
    text: str
    html_document: str
    remote_images_blocked: bool
    flagged: bool
    attachments: list[AttachmentView] = field(default_factory=list)


@dataclass(frozen=True)
class AttachmentFile:
    path: str
    download_name: str
    mimetype: str


def _session() -> Any:
    return get_state().session


def visible_interaction(interaction_id: int, user: Any = None) -> Interaction:
    """The interaction if this user (default: the current one) may see it; NotFound otherwise."""
    interaction = _session().get(Interaction, interaction_id) if interaction_id > 0 else None
    if interaction is None:
        raise NotFound(interaction_id)
    visible = visible_campaign_ids(user)
    if visible is not None and interaction.campaign_id not in visible:
        raise NotFound(interaction_id)
    return interaction


def conversation_messages(interaction: Interaction, *, with_raw: bool = False) -> list[Message]:
    """The interaction's messages in order, their files loaded in the same round trip.

    ``interaction.messages`` would load each message's attachments (and stored
    source) with one more query per message; ``with_raw`` also loads the sources,
    for exports.
    """
    loads = [selectinload(Message.attachments)]
    if with_raw:
        loads.append(selectinload(Message.raw))
    stmt = (
        select(Message)
        .where(Message.interaction_id == interaction.id)
        .order_by(Message.id)
        .options(*loads)
    )
    return list(_session().scalars(stmt))


# --------------------------------------------------------------------------- the page


def message_head(message: Message) -> dict[str, Any]:
    """The ``MessageHead`` fields of a message, for any view built on it (``at`` is
    when the sender dated it, else when we stored it)."""
    return {
        "id": message.id,
        "direction": message.direction,
        "status": message.status,
        "from_addr": message.from_addr,
        "from_name": message.from_name,
        "to_addrs": message.to_addrs,
        "cc_addrs": message.cc_addrs,
        "subject": message.subject,
        "at": message.date or message.created_at,
    }


def attachment_name(attachment: Attachment) -> str:
    """The sender's name for the file (escaped by the templates, cleaned for downloads)."""
    return attachment.original_filename or attachment.filename


def attachment_view(attachment: Attachment) -> AttachmentView:
    return AttachmentView(
        id=attachment.id,
        name=attachment_name(attachment),
        content_type=attachment.content_type,
        size=attachment.size,
        inline=attachment.inline,
        available=bool(attachment.storage_key) and not attachment.refused_reason,
        refused_reason=attachment.refused_reason,
    )


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


def message_view(
    message: Message,
    inline_url: Callable[[int], str],
    image_origin: str = "",
    show_images: bool = False,
    *,
    outgoing_html: bool = True,
) -> MessageView:
    """One message for a page; ``inline_url(attachment_id)`` places its cid images.

    ``outgoing_html=False`` shows our own outgoing mail as its text: the portal's
    outgoing HTML is only the agent's text escaped, so the text is the faithful view.
    """
    cid_urls = {
        a.content_id: inline_url(a.id)
        for a in message.attachments
        if a.content_id and a.storage_key and a.content_type.lower() in INLINE_IMAGE_TYPES
    }
    html = message.html if outgoing_html or message.direction == "in" else ""
    document, blocked = html_document(html, cid_urls, image_origin, show_images)
    return MessageView(
        **message_head(message),
        kind=message.kind,
        error=message.error,
        text=message.text,
        html_document=document,
        remote_images_blocked=blocked,
        flagged=message.flagged,
        attachments=[attachment_view(a) for a in message.attachments],
    )


class _MovableClock(TimestampSigner):
    """A signer whose "now" can be set: the one seam for minting an already old link."""

    def __init__(self, *args: Any, issued_at: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.issued_at = issued_at

    def get_timestamp(self) -> int:
        return int(self.issued_at) if self.issued_at is not None else super().get_timestamp()


def _link_serializer(issued_at: float | None = None) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"],
        salt=INLINE_LINK_SALT,
        signer=_MovableClock,
        signer_kwargs={"issued_at": issued_at},
    )


def _session_epoch(user_id: str) -> int:
    state = _session().get(AgentState, user_id)
    return int(state.session_epoch or 0) if state is not None else 0


def inline_token(attachment_id: int, user: Any = None, issued_at: float | None = None) -> str:
    """A link to one image for one viewer, valid ``UCMAIL_FILE_LINK_MAX_AGE`` seconds.

    The viewer's sandboxed frame has an opaque origin, so its image requests carry
    no session cookie (checked in Chromium: ``Sec-Fetch-Site: cross-site``, no
    Cookie): the link itself is the credential. It names the viewer and their
    session epoch, so serving re-checks that viewer's access to the conversation,
    and a forced logout or the link's age ends it.
    """
    user = current_agent if user is None else user
    viewer = agent_id_of(user) if getattr(user, "is_authenticated", False) else ""
    payload = {"a": attachment_id, "u": viewer, "e": _session_epoch(viewer) if viewer else 0}
    return _link_serializer(issued_at).dumps(payload)


def inline_urls(endpoint: str) -> Callable[[int], str]:
    """``inline_url`` for ``message_view``: absolute links to ``endpoint``'s signed images."""

    def inline_url(attachment_id: int) -> str:
        return url_for(endpoint, token=inline_token(attachment_id), _external=True)

    return inline_url


# --------------------------------------------------------------------------- the files


def safe_download_name(name: str, fallback: str = "attachment") -> str:
    """The sender's file name as a download name only: no controls, no path parts."""
    cleaned = _UNSAFE_NAME_CHARS.sub("_", name or "").strip(" .")
    return cleaned[:200] or fallback


def _download_type(content_type: str) -> str:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if not _MIME_TYPE.fullmatch(kind) or ACTIVE_TYPES.search(kind):
        return "application/octet-stream"
    return kind


def _stored_file(attachment: Attachment) -> AttachmentFile:
    if not attachment.storage_key or attachment.refused_reason:
        raise NotFound(attachment.id)
    try:
        path = storage.path_of(attachment.storage_key)
    except ValueError:
        raise NotFound(attachment.id) from None
    if not path.is_file():
        raise NotFound(attachment.id)
    return AttachmentFile(
        path=str(path),
        download_name=safe_download_name(attachment_name(attachment)),
        mimetype=_download_type(attachment.content_type),
    )


def open_attachment(attachment_id: int, user: Any = None) -> AttachmentFile:
    """A file of a conversation this user may see, typed so the browser only downloads it."""
    attachment = _session().get(Attachment, attachment_id) if attachment_id > 0 else None
    if attachment is None:
        raise NotFound(attachment_id)
    visible_interaction(attachment.message.interaction_id, user)
    return _stored_file(attachment)


def _link_payload(token: str) -> dict[str, Any]:
    max_age = int(current_app.config["UCMAIL_FILE_LINK_MAX_AGE"])
    try:
        payload = _link_serializer().loads(token, max_age=max_age)
    except BadSignature:  # SignatureExpired included
        raise NotFound(token[:40]) from None
    if not isinstance(payload, dict):
        raise NotFound(token[:40])
    return payload


def _link_viewer(payload: Mapping[str, Any]) -> Any:
    """The user the link was minted for, if the request may act as them.

    A request that does carry a session (the link pasted into a tab, or a host whose
    cookie reaches the frame) must be that same user's.
    """
    viewer = payload.get("u")
    if not isinstance(viewer, str) or not viewer:
        raise NotFound("no viewer")
    if getattr(current_agent, "is_authenticated", False) and agent_id_of(current_agent) != viewer:
        raise NotFound("another user's link")
    if payload.get("e") != _session_epoch(viewer):
        raise NotFound("a link from an ended session")
    try:
        user = get_state().hooks["user_lookup"](viewer)
    except Exception:  # a failing host lookup refuses, it does not serve
        user = None
    if user is None:
        raise NotFound("unknown viewer")
    return user


def open_inline_image(token: str) -> AttachmentFile:
    """An image a viewer placed with ``inline_token``, while that viewer may still see it.

    Only safe image types, only before the link's age runs out.
    """
    payload = _link_payload(token)
    attachment_id = payload.get("a")
    attachment = (
        _session().get(Attachment, attachment_id) if isinstance(attachment_id, int) else None
    )
    if attachment is None or attachment.content_type.lower() not in INLINE_IMAGE_TYPES:
        raise NotFound(attachment_id)
    visible_interaction(attachment.message.interaction_id, _link_viewer(payload))
    stored = _stored_file(attachment)
    return AttachmentFile(stored.path, stored.download_name, attachment.content_type.lower())


def send_protected(
    source: str | IO[bytes], mimetype: str, download_name: str, *, as_attachment: bool = True
) -> Response:
    """A file from or about a customer; werkzeug writes the RFC 5987 ``filename*``."""
    response = send_file(
        source, mimetype=mimetype, as_attachment=as_attachment, download_name=download_name
    )
    response.headers.update(FILE_HEADERS)
    return response


def attachment_response(attachment_id: int, user: Any = None) -> Response:
    """The download of an attachment this user may see; NotFound otherwise."""
    found = open_attachment(attachment_id, user)
    return send_protected(found.path, found.mimetype, found.download_name)


def inline_image_response(token: str) -> Response:
    """An image inside a message. The token is the credential (the sandboxed frame has
    an opaque origin and sends no session cookie), so a bad one is 401, not 404."""
    try:
        found = open_inline_image(token)
    except NotFound:
        return Response("not authorized", status=401, mimetype="text/plain")
    return send_protected(found.path, found.mimetype, found.download_name, as_attachment=False)
