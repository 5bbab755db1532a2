"""A parsed inbound message as rows: Message, MessageRaw and Attachments.

Nothing here commits: the rows join the caller's batch transaction, which also
advances the mailbox cursor. Attachment bytes are written to files first (outside
the database); if the batch rolls back, :func:`discard_files` removes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import current_app

from ucmail_ext.mail.parse import ParsedAttachment, ParsedMessage, ParseLimits
from ucmail_ext.mail.sanitize import sanitize_html
from ucmail_ext.models import Attachment, Message, MessageRaw
from ucmail_ext.services import storage

MiB = 1024 * 1024


@dataclass(frozen=True)
class MailboxSlot:
    """Where a message sits on the server: its identity for "exactly once"."""

    folder: str
    uidvalidity: int
    uid: int


def dedupe_key(message_id: str, raw_sha256: str) -> str:
    """The fallback identity: Message-ID plus the bytes.

    With the bytes in the key, a sender who reuses a Message-ID for another mail
    still gets it imported, and the same mail seen again (new UIDVALIDITY, a copy
    moved back) does not.
    """
    return hashlib.sha256(f"{message_id}\n{raw_sha256}".encode()).hexdigest()


def parse_limits() -> ParseLimits:
    cfg = current_app.config
    return ParseLimits(
        max_bytes=int(cfg["UCMAIL_MAX_MESSAGE_BYTES"]),
        max_parts=int(cfg["UCMAIL_MAX_PARTS"]),
        max_depth=int(cfg["UCMAIL_MAX_DEPTH"]),
        max_header_bytes=int(cfg["UCMAIL_MAX_HEADER_BYTES"]),
    )


def build_inbound_message(
    campaign_id: int, parsed: ParsedMessage, raw: bytes, slot: MailboxSlot
) -> Message:
    """The Message with its raw bytes and attachments; not yet in an interaction."""
    flagged = parsed.unparseable
    message = Message(
        campaign_id=campaign_id,
        direction="in",
        status="received",
        kind="inbound",
        message_id=_cap(parsed.message_id, 998),
        in_reply_to=_cap(parsed.in_reply_to, 998),
        references=" ".join(parsed.references),
        from_addr=_cap(parsed.from_addr, 320),
        from_name=_cap(parsed.from_name, 200),
        to_addrs=", ".join(parsed.to),
        cc_addrs=", ".join(parsed.cc),
        subject=_cap(parsed.subject, 998),
        text=parsed.text,
        html=sanitize_html(parsed.html) if parsed.html else "",
        date=parsed.date,
        sha256=parsed.sha256,
        size=parsed.size,
        dedupe_key=dedupe_key(parsed.message_id, parsed.sha256),
        folder=slot.folder,
        uidvalidity=slot.uidvalidity,
        uid=slot.uid,
        flagged=flagged,
        defects="\n".join(parsed.defects),
    )
    message.raw = MessageRaw(raw=raw)
    limit = int(current_app.config["UCMAIL_MAX_ATTACHMENT_BYTES"])
    message.attachments = [_attachment(item, limit) for item in parsed.attachments]
    return message


def discard_files(messages: list[Message]) -> None:
    """Remove the files of messages whose transaction did not commit."""
    for message in messages:
        for attachment in message.attachments:
            if attachment.storage_key:
                storage.delete_stored(attachment.storage_key)


def _attachment(item: ParsedAttachment, limit: int) -> Attachment:
    row = Attachment(
        filename=_cap(item.filename, 255),
        original_filename=_cap(item.original_filename, 1000),
        content_type=_cap(item.content_type, 255),
        size=item.size,
        content_id=_cap(item.content_id, 255),
        inline=item.inline,
        storage_key=None,
        refused_reason="",
    )
    if item.size > limit:
        row.sha256 = hashlib.sha256(item.payload).hexdigest()
        row.refused_reason = (
            f"not stored: {_megabytes(item.size)} is over the {_megabytes(limit)} limit"
        )
        return row
    stored = storage.store_bytes(item.payload)
    row.storage_key = stored.storage_key
    row.sha256 = stored.sha256
    return row


def _megabytes(size: int) -> str:
    return f"{size / MiB:.1f} MB"


def _cap(value: str, length: int) -> str:
    """Column lengths are enforced by PostgreSQL; hostile headers can be longer."""
    return value[:length] if len(value) > length else value
