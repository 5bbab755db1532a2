"""What an agent writes: reply, reply with history, forward, new interaction.

The message is stored (status "queued") and committed before the send is even
asked for, so nothing typed is lost to a slow or broken SMTP server; sending is
``services/desk/send.py``'s job. Every value that reaches a header is checked for
CR/LF/NUL here and answered with a form error, never an exception page.

Threading: a reply carries In-Reply-To (the customer's newest message) and
References (that message's References plus its id), and every subject carries the
``[#id]`` token, so the customer's answer finds its interaction whatever their
mail client keeps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import getaddresses
from html import escape
from typing import Any, BinaryIO

from flask import current_app

from ucmail_ext import i18n
from ucmail_ext.dispatch import enqueue
from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext as _
from ucmail_ext.i18n import ngettext
from ucmail_ext.mail.headers import HeaderInjectionError, check_header_value, is_valid_address
from ucmail_ext.mail.parse import html_to_text, normalize_message_id, safe_filename
from ucmail_ext.mail.render import render
from ucmail_ext.mail.rich import MAX_INLINE_IMAGES, RichBody, RichBodyError, rich_body
from ucmail_ext.mail.sanitize import sanitize_html
from ucmail_ext.mail.thread import new_message_id, quote_history, strip_reply_prefixes
from ucmail_ext.mail.thread import subject_token as token_for
from ucmail_ext.models import Attachment, Campaign, Interaction, Message, Template, utcnow
from ucmail_ext.services import links, storage
from ucmail_ext.services.access import can_see_campaign, visible_campaign_ids
from ucmail_ext.services.admin.campaigns import live_campaigns
from ucmail_ext.services.admin.templates import templates_for_campaign
from ucmail_ext.services.desk import collision, drafts, portal, presence, rating

ANSWER_KINDS = ("reply", "replyall", "history", "forward")
KINDS = (*ANSWER_KINDS, "new")
MAX_RECIPIENTS = 50
MAX_REFERENCES = 20
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*")
_SPLIT = re.compile(r"[,;\s]+")
SIGNATURE_SEPARATOR = "-- "
# What a template leaves behind when it had no value for a variable (mail/render.py
# keeps it as written); spaces inside the braces are tolerated so "${ name }" counts.
_PLACEHOLDER = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_SEPARATOR = re.compile(r"\A-- ?[ \t]*(?:\n|\Z)")


class ComposeError(ValueError):
    """What the agent must fix, by form field; the typed values are kept by the caller."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NewerMessages(ComposeError):
    """Someone wrote in the conversation after the agent began: show it, ask again."""

    def __init__(self, messages: list[dict[str, Any]], newest_id: int) -> None:
        text = ngettext(
            "%(num)s new message arrived after you began writing; "
            "read it below, then send anyway or change your answer.",
            "%(num)s new messages arrived after you began writing; "
            "read it below, then send anyway or change your answer.",
            len(messages),
        )
        super().__init__({"newer": text})
        self.messages = messages
        self.newest_id = newest_id


@dataclass(frozen=True)
class NewFile:
    """A file the agent uploaded with the message."""

    filename: str
    content_type: str
    stream: BinaryIO


@dataclass(frozen=True)
class Composed:
    """The form as the agent sent it."""

    kind: str
    to: str
    cc: str = ""
    subject: str = ""
    body: str = ""
    files: Sequence[NewFile] = ()
    source_message_id: int | None = None
    # The agent saw the unfilled ``${...}`` list and chose to send anyway.
    confirm_unfilled: bool = False
    bcc: str = ""
    # The newest message id the editor was opened on (None: do not check collisions).
    seen_message_id: int | None = None
    # The editor's formatted body (bold, lists, links, pasted images); "" for plain text.
    body_html: str = ""

    def as_draft(self) -> Draft:
        """What the agent typed, back in the editor after a form error."""
        return Draft(
            self.kind,
            self.to,
            self.cc,
            self.subject,
            self.body,
            self.source_message_id,
            bcc=self.bcc,
            seen_message_id=self.seen_message_id or 0,
            body_html=sanitize_html(self.body_html),
        )


@dataclass(frozen=True)
class Draft:
    """The editor's starting point: recipients, subject, body with the signature."""

    kind: str
    to: str
    cc: str
    subject: str
    body: str
    source_message_id: int | None = None
    forwarded: list[str] = field(default_factory=list)
    bcc: str = ""
    seen_message_id: int = 0
    # When the server last saved it as the agent typed (None: never saved).
    saved_at: datetime | None = None
    # Formatted body typed before a form error, sanitized (the editor starts from it).
    body_html: str = ""


def _session() -> Any:
    return get_state().session


# --------------------------------------------------------------------------- drafts


def _variables(campaign: Campaign, interaction: Interaction | None) -> dict[str, str]:
    agent = portal.display_name()
    values = {"agent": agent, "agent_name": agent, "campaign": campaign.name}
    if interaction is not None:
        name = interaction.customer_name or interaction.customer_email
        values.update(
            name=name,
            customer_name=interaction.customer_name,
            email=interaction.customer_email,
            customer_email=interaction.customer_email,
            subject=interaction.subject,
            interaction_id=str(interaction.id),
            ticket=token_for(interaction.id),
        )
    return values


def _template_text(template: Template) -> str:
    return template.body_text or html_to_text(template.body_html or "")


def _without_separator(text: str) -> str:
    """Signature text with any leading "--" line of its own removed.

    Admins often write the separator into the template ("--\nThe team"); the editor
    adds the standard one, so keeping theirs showed two.
    """
    text = text.strip()
    while _SEPARATOR.match(text):
        text = _SEPARATOR.sub("", text, count=1).strip()
    return text


def signature(campaign: Campaign, interaction: Interaction | None = None) -> str:
    """The campaign's signature template as plain text, without a separator line."""
    if campaign.signature_template_id is None:
        return ""
    template = _session().get(Template, campaign.signature_template_id)
    if template is None:
        return ""
    text = render(_template_text(template), _variables(campaign, interaction)).text
    return _without_separator(text)


def signature_block(text: str) -> str:
    """``text`` under the one separator line mail clients recognise (RFC 3676 §4.3)."""
    return f"{SIGNATURE_SEPARATOR}\n{text}" if text else ""


def _editor_body(campaign: Campaign, interaction: Interaction | None, after: str = "") -> str:
    """A blank line to type on, the signature, then ``after`` (history, forwarded mail)."""
    blocks = [signature_block(signature(campaign, interaction)), after.strip("\n")]
    tail = "\n\n".join(block for block in blocks if block)
    return f"\n\n{tail}" if tail else ""


def _parent(interaction: Interaction) -> Message | None:
    """The message a reply answers: the customer's newest, else the newest with an id."""
    messages = [m for m in interaction.messages if m.message_id]
    inbound = [m for m in messages if m.direction == "in"]
    pool = inbound or messages
    return pool[-1] if pool else None


def _forwardable(message: Message) -> list[Attachment]:
    return [a for a in message.attachments if a.storage_key and not a.refused_reason]


def _source(interaction: Interaction, message_id: int | None) -> Message | None:
    """The message a forward carries: the one the agent picked, else the newest with files.

    The newest message is often the customer's "thank you"; the spec's forward
    exists to pass the files on, so without a choice the files win.
    """
    if message_id is not None:
        for message in interaction.messages:
            if message.id == message_id:
                return message
        raise portal.NotFound(message_id)
    with_files = [m for m in interaction.messages if _forwardable(m)]
    inbound = [m for m in interaction.messages if m.direction == "in"]
    return (with_files or inbound or interaction.messages or [None])[-1]


def _base_subject(interaction: Interaction) -> str:
    return strip_reply_prefixes(interaction.subject) or "(no subject)"


def _sender_of(message: Message) -> str:
    if message.from_name:
        return f"{message.from_name} <{message.from_addr}>"
    return message.from_addr


def _history(interaction: Interaction) -> str:
    """Every earlier message, newest first, each quoted under its sender and date."""
    parts = [
        quote_history(m.text, _sender_of(m), m.date or m.created_at)
        for m in reversed(interaction.messages)
        if m.direction == "in" or m.status != "failed"
    ]
    return "\n\n".join(parts)


def _forward_block(message: Message, campaign: Campaign) -> str:
    """The header block a forward quotes, in the campaign's language and zone: the
    recipient reads it, not the agent."""
    when = message.date or message.created_at
    with i18n.campaign_language(campaign):
        lines = [
            _("---------- Forwarded message ----------"),
            _("From: %(sender)s", sender=_sender_of(message)),
            _("Date: %(date)s", date=i18n.format_datetime(when, "long")) if when else "",
            _("Subject: %(subject)s", subject=message.subject),
            _("To: %(addresses)s", addresses=message.to_addrs),
        ]
        if message.cc_addrs:
            lines.append(_("Cc: %(addresses)s", addresses=message.cc_addrs))
    return "\n".join(line for line in lines if line) + "\n\n" + (message.text or "")


def draft_for(interaction_id: int, kind: str, source_message_id: int | None = None) -> Draft:
    """The editor's content for an answer in an open interaction."""
    if kind not in ANSWER_KINDS:
        kind = "reply"
    interaction = portal.visible_interaction(interaction_id)
    campaign = _session().get(Campaign, interaction.campaign_id)
    token = token_for(interaction.id)
    if kind == "forward":
        source = _source(interaction, source_message_id)
        names = [a.filename for a in _forwardable(source)] if source else []
        block = _forward_block(source, campaign) if source else ""
        return Draft(
            kind=kind,
            to="",
            cc="",
            subject=f"Fwd: {_base_subject(interaction)} {token}",
            body=_editor_body(campaign, interaction, block),
            source_message_id=source.id if source else None,
            forwarded=names,
            seen_message_id=_newest_id(interaction),
        )
    parent = _parent(interaction)
    to = parent.from_addr if parent and parent.direction == "in" else interaction.customer_email
    history = _history(interaction) if kind == "history" else ""
    cc: list[str] = []
    recipients = [to]
    if kind == "replyall" and parent is not None:
        recipients, cc = reply_all_recipients(parent, campaign, to)
    return Draft(
        kind=kind,
        to=", ".join(recipients),
        cc=", ".join(cc),
        subject=f"Re: {_base_subject(interaction)} {token}",
        body=_editor_body(campaign, interaction, history),
        seen_message_id=_newest_id(interaction),
    )


def _newest_id(interaction: Interaction) -> int:
    return max((m.id for m in interaction.messages), default=0)


def own_addresses(campaign: Campaign) -> set[str]:
    """The campaign's own mailbox addresses, which a reply-all must not write to."""
    values = (campaign.email_address, campaign.username, campaign.oauth_account)
    return {v.strip().lower() for v in values if v and "@" in v}


def reply_all_recipients(
    parent: Message, campaign: Campaign, to: str
) -> tuple[list[str], list[str]]:
    """The parent's sender and To in To, its Cc in Cc, minus the campaign's own addresses."""
    own = own_addresses(campaign)
    seen: set[str] = set()

    def keep(values: list[str]) -> list[str]:
        kept = []
        for address in values:
            folded = address.lower()
            if folded in own or folded in seen:
                continue
            seen.add(folded)
            kept.append(address)
        return kept

    recipients = keep([to, *_mail_addresses(parent.to_addrs)])
    return recipients, keep(_mail_addresses(parent.cc_addrs))


def _mail_addresses(value: str) -> list[str]:
    return [address for _, address in getaddresses([value or ""]) if is_valid_address(address)]


def editor_for(
    interaction_id: int, kind: str, source_message_id: int | None = None
) -> Draft | None:
    """The saved draft when there is one (of the kind asked, or any when none is asked),
    else a new draft of ``kind``; None when nothing is being written."""
    saved = drafts.of(interaction_id)
    if saved is not None and kind in ("", saved.kind):
        return Draft(
            kind=saved.kind,
            to=saved.to_addrs,
            cc=saved.cc_addrs,
            subject=saved.subject,
            body=saved.body,
            body_html=sanitize_html(saved.body_html) if saved.body_html else "",
            source_message_id=saved.source_message_id,
            forwarded=_forwarded_names(interaction_id, saved.source_message_id, saved.kind),
            bcc=saved.bcc_addrs,
            seen_message_id=saved.seen_message_id,
            saved_at=saved.updated_at,
        )
    if kind in ANSWER_KINDS:
        return draft_for(interaction_id, kind, source_message_id)
    return None


def _forwarded_names(interaction_id: int, source_message_id: int | None, kind: str) -> list[str]:
    if kind != "forward":
        return []
    interaction = portal.visible_interaction(interaction_id)
    try:
        source = _source(interaction, source_message_id)
    except portal.NotFound:
        return []
    return [a.filename for a in _forwardable(source)] if source else []


def new_draft(campaign_id: int | None = None) -> Draft:
    """A blank new interaction, with the chosen campaign's signature."""
    body = ""
    if campaign_id is not None:
        campaign = _usable_campaign(campaign_id)
        body = _editor_body(campaign, None)
    return Draft(kind="new", to="", cc="", subject="", body=body)


def campaigns_for_new() -> list[Campaign]:
    """Live campaigns this user may write from (an agent: those they belong to)."""
    return [c for c in live_campaigns(visible_campaign_ids()) if c.enabled]


def _usable_campaign(campaign_id: int) -> Campaign:
    """One of :func:`campaigns_for_new`, without reading the others."""
    campaign = _session().get(Campaign, campaign_id)
    if (
        campaign is None
        or campaign.deleted_at is not None
        or not campaign.enabled
        or not can_see_campaign(campaign.id)
    ):
        raise portal.NotFound(campaign_id)
    return campaign


def template_choices(campaign_id: int) -> list[Template]:
    return templates_for_campaign(campaign_id)


def template_text(
    template_id: int, campaign_id: int, interaction_id: int | None = None
) -> dict[str, str]:
    """A template rendered for the editor (subject and text) in this conversation."""
    campaign = _usable_campaign(campaign_id)
    interaction = None
    if interaction_id is not None:
        interaction = portal.visible_interaction(interaction_id)
        if interaction.campaign_id != campaign.id:
            raise portal.NotFound(interaction_id)
    allowed = {t.id: t for t in templates_for_campaign(campaign.id)}
    template = allowed.get(template_id)
    if template is None:
        raise portal.NotFound(template_id)
    variables = _variables(campaign, interaction)
    body = render(_template_text(template), variables).text
    # A signature comes under the one separator, so the editor can tell it is already there.
    is_signature = template.id == campaign.signature_template_id or bool(
        _SEPARATOR.match(body.strip())
    )
    if is_signature:
        body = signature_block(_without_separator(body))
    return {
        "subject": " ".join(render(template.subject, variables).text.split()),
        "body": body,
        "signature": is_signature,
    }


# --------------------------------------------------------------------------- checking


def parse_addresses(value: str, field_name: str, errors: dict[str, str]) -> list[str]:
    addresses = [a for a in _SPLIT.split(value or "") if a]
    bad = [a for a in addresses if not is_valid_address(a)]
    if bad:
        errors[field_name] = _("not a valid email address: %(address)s", address=bad[0][:80])
    elif len(addresses) > MAX_RECIPIENTS:
        errors[field_name] = _("at most %(max)s addresses", max=MAX_RECIPIENTS)
    return list(dict.fromkeys(addresses))


def _subject(value: str, errors: dict[str, str]) -> str:
    try:
        subject = check_header_value(value or "", "subject")
    except HeaderInjectionError:
        errors["subject"] = _("the subject cannot contain line breaks or control characters")
        return ""
    subject = " ".join(subject.split())
    if len(subject) > 900:
        errors["subject"] = _("the subject is too long")
    return subject


def unfilled_variables(*texts: str) -> list[str]:
    """``${name}`` placeholders still in the text, each once, in order of appearance."""
    names = (m.group(1) for text in texts for m in _PLACEHOLDER.finditer(text or ""))
    return list(dict.fromkeys(names))


def _unfilled_error(composed: Composed) -> str:
    names = unfilled_variables(composed.subject, composed.body)
    if not names or composed.confirm_unfilled:
        return ""
    listed = ", ".join(f"${{{name}}}" for name in names)
    if composed.files:
        return _(
            "these variables are not filled in: %(names)s. Replace them, or choose "
            "“Send anyway” to send the text as it is (attach your files again).",
            names=listed,
        )
    return _(
        "these variables are not filled in: %(names)s. Replace them, or choose "
        "“Send anyway” to send the text as it is.",
        names=listed,
    )


def _checked(composed: Composed) -> tuple[list[str], list[str], list[str], str, dict[str, str]]:
    errors: dict[str, str] = {}
    unfilled = _unfilled_error(composed)
    if unfilled:
        errors["unfilled"] = unfilled
    to = parse_addresses(composed.to, "to", errors)
    cc = parse_addresses(composed.cc, "cc", errors)
    bcc = parse_addresses(composed.bcc, "bcc", errors)
    if not to and "to" not in errors:
        errors["to"] = _("add at least one recipient")
    if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS and not errors.keys() & {"to", "cc", "bcc"}:
        errors["bcc"] = _(
            "at most %(max)s addresses in To, Cc and Bcc together", max=MAX_RECIPIENTS
        )
    subject = _subject(composed.subject, errors)
    for item in composed.files:
        try:
            check_header_value(item.filename, "file name")
        except HeaderInjectionError:
            errors["files"] = _("a file name contains control characters")
    return to, cc, bcc, subject, errors


def _with_token(subject: str, interaction_id: int) -> str:
    token = token_for(interaction_id)
    return subject if token in subject else f"{subject} {token}".strip()


# --------------------------------------------------------------------------- storing


def _stored_uploads(files: Sequence[NewFile]) -> list[Attachment]:
    limit = int(current_app.config["UCMAIL_MAX_ATTACHMENT_BYTES"])
    rows: list[Attachment] = []
    try:
        for index, item in enumerate(files, start=1):
            content_type = (item.content_type or "").split(";", 1)[0].strip().lower()
            if not _CONTENT_TYPE.fullmatch(content_type):
                content_type = "application/octet-stream"
            stored = storage.store_stream(item.stream, limit)
            rows.append(
                Attachment(
                    filename=safe_filename(item.filename, index, content_type)[:255],
                    original_filename=item.filename[:1000],
                    content_type=content_type,
                    size=stored.size,
                    sha256=stored.sha256,
                    storage_key=stored.storage_key,
                )
            )
    except storage.FileTooLarge as exc:
        for row in rows:
            storage.delete_stored(row.storage_key or "")
        raise ComposeError({"files": str(exc)}) from None
    return rows


def _forwarded(source: Message | None) -> list[Attachment]:
    """Copies of the original's files; stored files never change, so they share the key."""
    if source is None:
        return []
    return [
        Attachment(
            filename=a.filename,
            original_filename=a.original_filename,
            content_type=a.content_type,
            size=a.size,
            sha256=a.sha256,
            storage_key=a.storage_key,
        )
        for a in _forwardable(source)
    ]


def _rich_body_error(exc: RichBodyError, limit: int) -> str:
    """The editor's problem in the agent's language (mail/ words it in English)."""
    if exc.reason == "unreadable":
        return _("a pasted image could not be read; paste it again")
    if exc.reason == "too_large":
        return _("a pasted image is larger than %(kb)s KB; attach it as a file", kb=limit // 1024)
    if exc.reason == "too_many":
        return _("at most %(max)s pasted images per message", max=MAX_INLINE_IMAGES)
    return str(exc)


def _rich(composed: Composed) -> RichBody | None:
    """The formatted body, sanitized like inbound mail; None when the agent sent plain text."""
    if not (composed.body_html or "").strip():
        return None
    limit = int(current_app.config["UCMAIL_MAX_ATTACHMENT_BYTES"])
    try:
        rich = rich_body(composed.body_html, links.message_id_domain(), limit)
    except RichBodyError as exc:
        raise ComposeError({"body": _rich_body_error(exc, limit)}) from None
    if not rich.text.strip() and not rich.images and (composed.body or "").strip():
        return None  # an editor that lost its content: the plain text is the message
    return rich


def _html_part(html: str) -> str:
    return f'<div style="font-family: Arial, Helvetica, sans-serif">{html}</div>'


def _inline_images(rich: RichBody) -> list[Attachment]:
    """Pasted images as inline parts; ``cid:`` in the HTML points at each (RFC 2392)."""
    rows = []
    for image in rich.images:
        stored = storage.store_bytes(image.data)
        rows.append(
            Attachment(
                filename=image.filename,
                original_filename=image.filename,
                content_type=image.content_type,
                size=stored.size,
                sha256=stored.sha256,
                storage_key=stored.storage_key,
                content_id=f"<{image.content_id}>",
                inline=True,
            )
        )
    return rows


def text_to_html(text: str) -> str:
    return (
        '<div style="white-space: pre-wrap; font-family: Arial, Helvetica, sans-serif">'
        f"{escape(text)}</div>"
    )


def _references(parent: Message | None) -> tuple[str, str]:
    if parent is None:
        return "", ""
    chain = [r for r in parent.references.split() if r] + [parent.message_id]
    chain = list(dict.fromkeys(normalize_message_id(r) for r in chain if r))
    if len(chain) > MAX_REFERENCES:  # RFC 5322 §3.6.4 lets us trim; keep the root
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return normalize_message_id(parent.message_id), " ".join(chain)


def _store_message(
    interaction: Interaction,
    campaign: Campaign,
    composed: Composed,
    to: list[str],
    cc: list[str],
    subject: str,
    attachments: list[Attachment],
    parent: Message | None,
    bcc: Sequence[str] = (),
    rich: RichBody | None = None,
) -> Message:
    in_reply_to, references = _references(parent)
    now = utcnow()
    # Browsers send textarea lines as CRLF; stored text uses LF like parsed mail does.
    body = (composed.body or "").replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    message = Message(
        campaign_id=campaign.id,
        direction="out",
        status="queued",
        # Reply all is a reply with more recipients; the archive keeps the three kinds.
        kind="reply" if composed.kind == "replyall" else composed.kind,
        message_id=normalize_message_id(new_message_id(links.message_id_domain())),
        in_reply_to=in_reply_to,
        references=references,
        from_addr=campaign.email_address,
        from_name=campaign.from_name,
        to_addrs=", ".join(to),
        cc_addrs=", ".join(cc),
        bcc_addrs=", ".join(bcc),
        subject=_with_token(subject, interaction.id)[:998],
        text=rich.text if rich else body,
        html=_html_part(rich.html) if rich else text_to_html(body),
        agent_id=portal.my_id(),
        created_at=now,
        date=now,
    )
    message.attachments = attachments + (_inline_images(rich) if rich else [])
    message.interaction = interaction
    session = _session()
    session.add(message)
    session.flush()
    if composed.kind != "forward":
        rating_text, rating_html = rating.email_block(campaign, message.id)
        message.text += rating_text
        message.html += rating_html
    interaction.message_count = (interaction.message_count or 0) + 1
    interaction.last_message_at = now
    return message


def _take(interaction: Interaction) -> None:
    """Answering a queued or closed interaction makes it this agent's."""
    me = portal.my_id()
    if interaction.state == "assigned" and interaction.agent_id not in (None, me):
        return  # a supervisor stepping in leaves it with its agent
    if interaction.state != "assigned" or interaction.agent_id != me:
        interaction.state = "assigned"
        interaction.agent_id = me
        interaction.assigned_at = utcnow()
        interaction.closed_at = None


def _check_collision(interaction: Interaction, composed: Composed) -> None:
    """Someone else wrote since the editor opened: NewerMessages, unless the agent
    already saw those (the form then carries the newest id they were shown)."""
    if composed.seen_message_id is None:
        return
    newer = collision.newer_messages(interaction.id, composed.seen_message_id, portal.my_id())
    if newer:
        raise NewerMessages([collision.describe(m) for m in newer], newer[-1].id)


def answer(interaction_id: int, composed: Composed) -> Message:
    """Store a reply, reply with history or forward, then ask for it to be sent."""
    if composed.kind not in ANSWER_KINDS:
        raise ComposeError({"kind": _("choose reply, reply with history or forward")})
    interaction = portal.visible_interaction(interaction_id)
    # First: when a colleague answered and took it meanwhile, their answer is what
    # this agent must see, before being told it is no longer theirs.
    _check_collision(interaction, composed)
    if not portal.may_answer(interaction):
        raise portal.NotAllowed(_("this interaction is assigned to another agent"))
    campaign = _session().get(Campaign, interaction.campaign_id)
    to, cc, bcc, subject, errors = _checked(composed)
    source = None
    if composed.kind == "forward":
        try:
            source = _source(interaction, composed.source_message_id)
        except portal.NotFound:
            errors["source_message_id"] = _("that message is not in this conversation")
    if errors:
        raise ComposeError(errors)
    rich = _rich(composed)
    attachments = _forwarded(source) + _stored_uploads(composed.files)
    parent = None if composed.kind == "forward" else _parent(interaction)
    previous_agent = interaction.agent_id
    _take(interaction)
    message = _store_message(
        interaction, campaign, composed, to, cc, subject, attachments, parent, bcc, rich
    )
    if composed.kind != "forward" and interaction.first_response_at is None:
        interaction.first_response_at = message.created_at
    for agent_id in {previous_agent, interaction.agent_id} - {None}:
        presence.recount_active(agent_id)  # type: ignore[arg-type]
    drafts.remove(interaction.id, portal.my_id())
    _session().commit()
    enqueue("ucmail.outbound.send", message.id)
    return message


def start(campaign_id: int, composed: Composed) -> Interaction:
    """A new interaction the agent starts; it lands in their own tray."""
    campaign = _usable_campaign(campaign_id)
    to, cc, bcc, subject, errors = _checked(composed)
    if not subject and "subject" not in errors:
        errors["subject"] = _("write a subject")
    if errors:
        raise ComposeError(errors)
    rich = _rich(composed)
    attachments = _stored_uploads(composed.files)
    now = utcnow()
    interaction = Interaction(
        campaign_id=campaign.id,
        customer_email=to[0],
        customer_name="",
        subject=subject[:998],
        state="assigned",
        origin="outbound",
        agent_id=portal.my_id(),
        arrived_at=now,
        assigned_at=now,
        first_response_at=now,
        last_message_at=now,
        message_count=0,
    )
    session = _session()
    session.add(interaction)
    session.flush()
    new = Composed(kind="new", to=composed.to, cc=composed.cc, body=composed.body)
    message = _store_message(
        interaction, campaign, new, to, cc, subject, attachments, None, bcc, rich
    )
    presence.recount_active(portal.my_id())
    session.commit()
    enqueue("ucmail.outbound.send", message.id)
    return interaction


__all__ = [
    "ComposeError",
    "Composed",
    "Draft",
    "NewFile",
    "NewerMessages",
    "answer",
    "campaigns_for_new",
    "draft_for",
    "editor_for",
    "reply_all_recipients",
    "new_draft",
    "signature",
    "signature_block",
    "start",
    "template_choices",
    "template_text",
    "unfilled_variables",
]
