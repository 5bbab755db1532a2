"""A recorded conversation exported as .eml files in a zip, or as one mbox file.

Inbound mail is exported byte for byte as it arrived (the stored RFC 822 source),
so the export is evidence, not a re-rendering. Our outgoing mail is exported from
its stored source too when there is one; otherwise it is rebuilt from the stored
fields with the stdlib's EmailMessage.
"""

from __future__ import annotations

import io
import mailbox
import re
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

from ucmail_ext.models import Attachment, Message
from ucmail_ext.services import storage
from ucmail_ext.services.mail_view import (
    attachment_name,
    conversation_messages,
    visible_interaction,
)

# What str.splitlines() would split on, plus NUL and the other C0 controls.
_HEADER_BREAKS = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
_MBOX_SENDER = re.compile(r"[\x21-\x7e]{1,254}")
_MIME_TYPE = re.compile(r"[a-z0-9.+\-]+/[a-z0-9.+\-]+")


@dataclass(frozen=True)
class ExportFile:
    filename: str
    mimetype: str
    data: bytes


def _header(value: str) -> str:
    return " ".join(_HEADER_BREAKS.sub(" ", value or "").split())


def _set(message: EmailMessage, name: str, value: str) -> None:
    """A header the stored data cannot express validly is left out, never an error."""
    value = _header(value)
    if not value:
        return
    try:
        message[name] = value
    except (ValueError, TypeError, IndexError):
        return


def _add_attachment(message: EmailMessage, attachment: Attachment) -> None:
    if not attachment.storage_key or attachment.refused_reason:
        return
    try:
        data = storage.read_stored(attachment.storage_key)
    except (OSError, ValueError):
        return
    kind = (attachment.content_type or "").split(";", 1)[0].strip().lower()
    maintype, subtype = (
        kind.split("/", 1) if _MIME_TYPE.fullmatch(kind) else ("application", "octet-stream")
    )
    filename = _header(attachment_name(attachment)) or "attachment"
    headers = (
        [f"Content-ID: <{_header(attachment.content_id).strip('<>')}>"]
        if attachment.content_id
        else None
    )
    message.add_attachment(
        data,
        maintype=maintype,
        subtype=subtype,
        filename=filename,
        disposition="inline" if attachment.inline else "attachment",
        headers=headers,
    )


def build_message(message: Message) -> bytes:
    """Our stored fields as an RFC 5322 message (for mail whose source was not kept)."""
    built = EmailMessage(policy=policy.default)
    _set(built, "From", formataddr((_header(message.from_name), _header(message.from_addr))))
    _set(built, "To", message.to_addrs)
    _set(built, "Cc", message.cc_addrs)
    _set(built, "Subject", message.subject)
    moment = message.sent_at or message.date or message.created_at
    _set(built, "Date", format_datetime(moment))
    _set(built, "Message-ID", message.message_id)
    _set(built, "In-Reply-To", message.in_reply_to)
    _set(built, "References", message.references)
    built.set_content(message.text or "")
    if message.html:
        built.add_alternative(message.html, subtype="html")
    for attachment in message.attachments:
        _add_attachment(built, attachment)
    return built.as_bytes()


def message_source(message: Message) -> bytes:
    """The stored source when there is one, else the message rebuilt from its fields."""
    if message.raw is not None and message.raw.raw:
        return bytes(message.raw.raw)
    return build_message(message)


def _mbox_from_line(message: Message) -> bytes:
    sender = _header(message.from_addr)
    if not _MBOX_SENDER.fullmatch(sender):
        sender = "MAILER-DAEMON"
    moment = message.date or message.created_at
    return f"From {sender} {time.asctime(moment.utctimetuple())}\n".encode("ascii")


def _messages(interaction_id: int) -> tuple[int, list[Message]]:
    interaction = visible_interaction(interaction_id)
    return interaction.id, conversation_messages(interaction, with_raw=True)


def export_zip(interaction_id: int) -> ExportFile:
    """One .eml per message, numbered in conversation order (no sender text in names)."""
    number, messages = _messages(interaction_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for position, message in enumerate(messages, start=1):
            name = f"{position:03d}-{message.direction}-{message.id}.eml"
            archive.writestr(name, message_source(message))
    return ExportFile(f"conversation-{number}.zip", "application/zip", buffer.getvalue())


def export_mbox(interaction_id: int) -> ExportFile:
    """The conversation as one mbox (mboxrd-style ``From `` quoting by the stdlib)."""
    number, messages = _messages(interaction_id)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "conversation.mbox"
        box = mailbox.mbox(path, create=True)
        try:
            box.lock()
            for message in messages:
                box.add(_mbox_from_line(message) + message_source(message))
            box.flush()
        finally:
            box.unlock()
            box.close()
        data = path.read_bytes()
    return ExportFile(f"conversation-{number}.mbox", "application/mbox", data)


EXPORTS: dict[str, Callable[[int], ExportFile]] = {"zip": export_zip, "mbox": export_mbox}
