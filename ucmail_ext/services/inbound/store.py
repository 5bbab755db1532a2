"""A parsed inbound message as rows: Message, MessageRaw and Attachments.

Nothing here commits: the rows join the caller's batch transaction, which also
advances the mailbox cursor. Attachment bytes are written to files first (outside
the database); if the batch rolls back, :func:`discard_files` removes them. HTML
is stored sanitized; the raw RFC 822 bytes are kept beside the message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import insert, select

from ucmail_ext.extension import get_state
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


@dataclass
class InboundRow:
    """One inbound message of a batch: its column values, bytes and attachments.

    Plain values rather than ORM objects: a batch is written with one multi-row
    INSERT per table (:func:`insert_rows`), which is what lets a poll keep up with
    the IMAP server instead of the unit of work's bookkeeping.
    """

    values: dict[str, Any]
    raw: bytes
    attachments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.values["flagged"])

    def storage_keys(self) -> list[str]:
        return [a["storage_key"] for a in self.attachments if a["storage_key"]]


def inbound_row(
    campaign_id: int, parsed: ParsedMessage, raw: bytes, slot: MailboxSlot, now: datetime
) -> InboundRow:
    """The row for ``parsed``; attachment files are written now, the rows later."""
    values = {
        "campaign_id": campaign_id,
        "direction": "in",
        "status": "received",
        "kind": "inbound",
        "message_id": _cap(parsed.message_id, 998),
        "in_reply_to": _cap(parsed.in_reply_to, 998),
        "references": " ".join(parsed.references),
        "from_addr": _cap(parsed.from_addr, 320),
        "from_name": _cap(parsed.from_name, 200),
        "to_addrs": ", ".join(parsed.to),
        "cc_addrs": ", ".join(parsed.cc),
        "bcc_addrs": "",
        "subject": _cap(parsed.subject, 998),
        "text": parsed.text,
        "html": sanitize_html(parsed.html) if parsed.html else "",
        "date": parsed.date,
        "created_at": now,
        "sha256": parsed.sha256,
        "size": parsed.size,
        "dedupe_key": dedupe_key(parsed.message_id, parsed.sha256),
        "folder": slot.folder,
        "uidvalidity": slot.uidvalidity,
        "uid": slot.uid,
        "flagged": parsed.unparseable,
        "defects": "\n".join(parsed.defects),
    }
    limit = int(current_app.config["UCMAIL_MAX_ATTACHMENT_BYTES"])
    row = InboundRow(values, raw)
    try:
        for item in parsed.attachments:
            row.attachments.append(_attachment(item, limit))
    except BaseException:
        discard_files([row])
        raise
    return row


def insert_rows(rows: list[InboundRow], interaction_ids: list[int]) -> list[int]:
    """Write the messages (into those interactions), their bytes and attachments.

    The messages go in without RETURNING (a multi-row INSERT ... RETURNING costs
    PostgreSQL three times as much, and SQLite one statement per row), and their
    ids are read back by their server slot, which is unique.
    """
    if not rows:
        return []
    session = get_state().session
    values = [
        {**row.values, "interaction_id": iid}
        for row, iid in zip(rows, interaction_ids, strict=True)
    ]
    session.execute(insert(Message), values)
    by_slot = _ids_by_slot(rows)
    ids = [by_slot[_slot_of(row)] for row in rows]
    session.execute(
        insert(MessageRaw),
        [{"message_id": mid, "raw": row.raw} for mid, row in zip(ids, rows, strict=True)],
    )
    attachments = [
        {**attachment, "message_id": mid}
        for mid, row in zip(ids, rows, strict=True)
        for attachment in row.attachments
    ]
    if attachments:
        session.execute(insert(Attachment), attachments)
    return ids


def _slot_of(row: InboundRow) -> tuple[int, str, int, int]:
    v = row.values
    return (v["campaign_id"], v["folder"], v["uidvalidity"], v["uid"])


def _ids_by_slot(rows: list[InboundRow]) -> dict[tuple[int, str, int, int], int]:
    by_mailbox: dict[tuple[int, str, int], list[int]] = {}
    for campaign_id, folder, uidvalidity, uid in map(_slot_of, rows):
        by_mailbox.setdefault((campaign_id, folder, uidvalidity), []).append(uid)
    found: dict[tuple[int, str, int, int], int] = {}
    for (campaign_id, folder, uidvalidity), uids in by_mailbox.items():
        result = get_state().session.execute(
            select(Message.uid, Message.id).where(
                Message.campaign_id == campaign_id,
                Message.folder == folder,
                Message.uidvalidity == uidvalidity,
                Message.uid.in_(uids),
            )
        )
        for uid, message_id in result:
            found[(campaign_id, folder, uidvalidity, uid)] = message_id
    return found


def discard_files(rows: list[InboundRow]) -> None:
    """Remove the files of rows whose transaction did not commit."""
    for row in rows:
        for key in row.storage_keys():
            storage.delete_stored(key)


def _attachment(item: ParsedAttachment, limit: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "filename": _cap(item.filename, 255),
        "original_filename": _cap(item.original_filename, 1000),
        "content_type": _cap(item.content_type, 255),
        "size": item.size,
        "content_id": _cap(item.content_id, 255),
        "inline": item.inline,
        "storage_key": None,
        "refused_reason": "",
    }
    if item.size > limit:
        row["sha256"] = hashlib.sha256(item.payload).hexdigest()
        row["refused_reason"] = (
            f"not stored: {_megabytes(item.size)} is over the {_megabytes(limit)} limit"
        )
        return row
    stored = storage.store_bytes(item.payload)
    row["storage_key"] = stored.storage_key
    row["sha256"] = stored.sha256
    return row


def _megabytes(size: int) -> str:
    return f"{size / MiB:.1f} MB"


def _cap(value: str, length: int) -> str:
    """Column lengths are enforced by PostgreSQL; hostile headers can be longer."""
    return value[:length] if len(value) > length else value
