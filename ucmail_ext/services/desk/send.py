"""Deliver one stored outgoing message through its campaign's SMTP account.

The message row exists (status "queued") before anything is sent, so what the agent
typed survives any failure. Delivery is a small state machine on that row:

    queued / deferred --claim--> sending --> sent | deferred (4xx, drop, timeout) | failed (5xx)

The claim is a conditional UPDATE: a redelivered or duplicated task finds the row no
longer claimable and sends nothing. A worker that dies while "sending" leaves a lease
that runs out; the sweep then marks the message failed with a note, rather than risk
sending it twice, and the agent can send it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import getaddresses
from typing import Any

from flask import current_app
from sqlalchemy import and_, or_, select, update

from ucmail_ext.crypto import DecryptionError
from ucmail_ext.dispatch import enqueue
from ucmail_ext.extension import get_state
from ucmail_ext.mail.smtp import (
    OutgoingAttachment,
    SendResult,
    SmtpConnection,
    build_message,
    message_bytes,
)
from ucmail_ext.models import Campaign, Message, MessageRaw, utcnow
from ucmail_ext.services import mailboxes, metrics, storage
from ucmail_ext.services.admin import dkim

log = logging.getLogger(__name__)

CLAIMABLE = ("queued", "deferred")
# A queued message whose task never ran (a crash between commit and enqueue) is
# picked up by the sweep after this long.
FORGOTTEN_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one call did: "sent", "deferred", "failed", or "skipped" (not claimable)."""

    message_id: int
    status: str
    error: str = ""
    retry_at: datetime | None = None


class UndeliverableError(ValueError):
    """The stored message cannot become an email (bad address, missing file)."""


def _session() -> Any:
    return get_state().session


def _lease() -> timedelta:
    """How long a send may take before the sweep assumes its worker died."""
    return timedelta(seconds=max(300.0, float(current_app.config["UCMAIL_SMTP_TIMEOUT"]) * 10))


def backoff(attempt: int) -> timedelta:
    """``UCMAIL_SEND_BACKOFF`` seconds, doubling after each failed attempt."""
    first = float(current_app.config["UCMAIL_SEND_BACKOFF"])
    return timedelta(seconds=first * (2 ** max(attempt - 1, 0)))


def claim(message_id: int, now: datetime) -> bool:
    """queued/deferred (when due) -> sending; False when another worker has it or it is done."""
    session = _session()
    due = or_(
        Message.status == "queued",
        and_(
            Message.status == "deferred",
            or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
        ),
    )
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.direction == "out", due)
        .values(status="sending", attempts=Message.attempts + 1, next_attempt_at=now + _lease())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def _addresses(value: str) -> list[str]:
    return [addr for _, addr in getaddresses([value or ""]) if addr]


def _with_brackets(message_id: str) -> str:
    return message_id if message_id.startswith("<") else f"<{message_id}>"


def _attachments(message: Message) -> list[OutgoingAttachment]:
    files = []
    for item in message.attachments:
        if not item.storage_key:
            raise UndeliverableError(f"the attachment {item.filename!r} was never stored")
        try:
            data = storage.read_stored(item.storage_key)
        except OSError as exc:
            raise UndeliverableError(f"the attachment {item.filename!r} is missing") from exc
        content_id = item.content_id.strip("<>") if item.inline and item.content_id else None
        files.append(OutgoingAttachment(item.filename, item.content_type, data, content_id))
    return files


def render(message: Message, campaign: Campaign, now: datetime) -> tuple[bytes, list[str]]:
    """The RFC 822 bytes of ``message`` and its envelope recipients."""
    to, cc, bcc = (_addresses(v) for v in (message.to_addrs, message.cc_addrs, message.bcc_addrs))
    if not (to or cc or bcc):
        raise UndeliverableError("the message has no recipient")
    sender: str | tuple[str, str] = campaign.email_address
    if campaign.from_name:
        sender = (campaign.from_name, campaign.email_address)
    headers = {"Auto-Submitted": "auto-replied"} if message.kind == "autoreply" else None
    mail = build_message(
        sender=sender,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=message.subject,
        text=message.text,
        html=message.html or None,
        message_id=_with_brackets(message.message_id),
        in_reply_to=_with_brackets(message.in_reply_to) if message.in_reply_to else None,
        references=[_with_brackets(r) for r in message.references.split()],
        attachments=_attachments(message),
        headers=headers,
        date=now.timestamp(),
    )
    raw = message_bytes(mail)
    signer = dkim.signer_for(campaign)
    if signer is not None:
        # Over the final bytes, once per attempt: the stored copy is what was signed.
        raw = signer.sign(raw)
    return raw, [*to, *cc, *bcc]


def _transmit(campaign: Campaign, raw: bytes, recipients: list[str]) -> SendResult:
    with SmtpConnection(mailboxes.smtp_settings(campaign)) as connection:
        return connection.send_raw(campaign.email_address, recipients, raw)


def deliver(message_id: int, now: datetime | None = None) -> DeliveryOutcome:
    """Send the message if it is due and nobody else is sending it; never raises on SMTP."""
    now = now or utcnow()
    if not claim(message_id, now):
        return DeliveryOutcome(message_id, "skipped")
    session = _session()
    message = session.get(Message, message_id)
    campaign = session.get(Campaign, message.campaign_id)
    try:
        if campaign is None or campaign.deleted_at is not None:
            raise UndeliverableError("the campaign of this message was deleted")
        raw, recipients = render(message, campaign, now)
        result = _transmit(campaign, raw, recipients)
    except (UndeliverableError, ValueError, DecryptionError) as exc:
        return _fail(message, str(exc))
    if result.status == "sent":
        return _sent(message, raw, result, now)
    if result.status == "permfail":
        return _fail(message, result.text or "the server refused the message")
    return _defer(message, result.text or "temporary failure", now)


def _sent(message: Message, raw: bytes, result: SendResult, now: datetime) -> DeliveryOutcome:
    message.status = "sent"
    message.sent_at = now
    message.next_attempt_at = None
    message.size = len(raw)
    refused = "; ".join(f"{rcpt}: {code} {text}" for rcpt, (code, text) in result.refused.items())
    message.error = f"not delivered to {refused}" if refused else ""
    if message.raw is None:
        message.raw = MessageRaw(raw=raw)
    else:
        message.raw.raw = raw
    _session().commit()
    metrics.message_delivered(message.campaign_id, "sent")
    return DeliveryOutcome(message.id, "sent", message.error)


def _fail(message: Message, error: str) -> DeliveryOutcome:
    message.status = "failed"
    message.next_attempt_at = None
    message.error = error[:4000]
    _session().commit()
    log.info("message %s failed: %s", message.id, message.error)
    metrics.message_delivered(message.campaign_id, "failed")
    return DeliveryOutcome(message.id, "failed", message.error)


def _defer(message: Message, error: str, now: datetime) -> DeliveryOutcome:
    limit = int(current_app.config["UCMAIL_SEND_RETRIES"])
    if message.attempts >= limit:
        return _fail(message, f"gave up after {message.attempts} attempts: {error}")
    delay = backoff(message.attempts)
    message.status = "deferred"
    message.next_attempt_at = now + delay
    message.error = error[:4000]
    _session().commit()
    enqueue("ucmail.outbound.send", message.id, countdown=delay.total_seconds())
    metrics.message_delivered(message.campaign_id, "deferred")
    return DeliveryOutcome(message.id, "deferred", message.error, message.next_attempt_at)


def requeue(message_id: int) -> bool:
    """A failed message goes out again (the agent pressed "send again")."""
    session = _session()
    result = session.execute(
        update(Message)
        .where(Message.id == message_id, Message.direction == "out", Message.status == "failed")
        .values(status="queued", attempts=0, next_attempt_at=None, error="")
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount != 1:
        return False
    enqueue("ucmail.outbound.send", message_id)
    return True


def retry_due(now: datetime | None = None) -> list[int]:
    """The sweep: due retries, forgotten queued messages, and sends whose worker died."""
    now = now or utcnow()
    session = _session()
    stale = list(
        session.scalars(
            select(Message.id).where(
                Message.direction == "out",
                Message.status == "sending",
                Message.next_attempt_at < now,
            )
        )
    )
    if stale:
        session.execute(
            update(Message)
            .where(Message.id.in_(stale), Message.status == "sending")
            .values(
                status="failed",
                next_attempt_at=None,
                error="sending was interrupted; the message may or may not have been "
                "delivered. Check with the recipient or send it again.",
            )
            .execution_options(synchronize_session=False)
        )
    due = list(
        session.scalars(
            select(Message.id)
            .where(
                Message.direction == "out",
                or_(
                    and_(Message.status == "deferred", Message.next_attempt_at <= now),
                    and_(Message.status == "queued", Message.created_at <= now - FORGOTTEN_AFTER),
                ),
            )
            .order_by(Message.id)
        )
    )
    session.commit()
    for message_id in due:
        enqueue("ucmail.outbound.send", message_id)
    return due
