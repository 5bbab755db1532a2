"""What customers' mail clients call back: the open pixel and one-click unsubscribe.

Both carry a token signed for its purpose (``crypto.make_token``) holding one record
id, so a pixel token cannot unsubscribe anyone and an edited token is refused.
The pixel never fails for the client: whatever happens, it gets its GIF.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from ucmail_ext.crypto import read_token
from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext
from ucmail_ext.models import Campaign, Dialer, DialerList, DialerRecord
from ucmail_ext.services import blacklist

log = logging.getLogger(__name__)

# The smallest transparent GIF (1x1, 43 bytes).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@dataclass(frozen=True)
class UnsubscribeTarget:
    record_id: int
    masked_address: str
    already: bool


@dataclass(frozen=True)
class UnsubscribeOutcome:
    ok: bool
    masked_address: str = ""
    error: str = ""


def _record_id(purpose: str, token: str) -> int | None:
    payload = read_token(purpose, token or "")
    if isinstance(payload, int) and not isinstance(payload, bool) and payload > 0:
        return payload
    return None


def mask(address: str) -> str:
    """``j***@example.com``: enough to recognise, not enough to harvest from a link."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


def mark_seen(token: str) -> bool:
    """Record the first open; True when the token was valid. Never raises."""
    record_id = _record_id("pixel", token)
    if record_id is None:
        return False
    session = get_state().session
    try:
        session.execute(
            update(DialerRecord)
            .where(DialerRecord.id == record_id, DialerRecord.seen_at.is_(None))
            .values(seen_at=datetime.now(UTC))
        )
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        log.exception("could not record an open of dialer record %s", record_id)
    return True


def unsubscribe_target(token: str) -> UnsubscribeTarget | None:
    record_id = _record_id("unsubscribe", token)
    if record_id is None:
        return None
    record = get_state().session.get(DialerRecord, record_id)
    if record is None:
        return None
    return UnsubscribeTarget(record.id, mask(record.email), blacklist.is_blacklisted(record.email))


def unsubscribe_campaign(token: str) -> Campaign | None:
    """The campaign whose mail carried the link: its page speaks the campaign's language."""
    record_id = _record_id("unsubscribe", token)
    if record_id is None:
        return None
    session = get_state().session
    return session.scalar(
        select(Campaign)
        .join(Dialer, Dialer.campaign_id == Campaign.id)
        .join(DialerList, DialerList.dialer_id == Dialer.id)
        .join(DialerRecord, DialerRecord.list_id == DialerList.id)
        .where(DialerRecord.id == record_id)
    )


def unsubscribe(token: str) -> UnsubscribeOutcome:
    """RFC 8058 one-click: blacklist the address, mark the record. Idempotent; commits."""
    record_id = _record_id("unsubscribe", token)
    session = get_state().session
    record = session.get(DialerRecord, record_id) if record_id is not None else None
    if record is None:
        return UnsubscribeOutcome(False, error=gettext("This unsubscribe link is not valid."))
    try:
        blacklist.add(
            record.email, "unsubscribe", reason=f"one-click unsubscribe (dialer record {record.id})"
        )
    except blacklist.BlacklistError:
        return UnsubscribeOutcome(False, error=gettext("This address cannot be unsubscribed."))
    if record.state == "sent":
        record.state = "unsubscribed"
    session.commit()
    return UnsubscribeOutcome(True, mask(record.email))
