"""Bounces and complaints read back from a campaign's mailbox, applied to dialer records.

The inbound poll calls ``apply_feedback`` for every message ``dsn.classify``
recognises. A bounce (RFC 3464) marks the record it is about "rejected" with the
status code, and a hard one (5.x.x) puts the address on the blacklist; a
complaint (ARF, RFC 5965) marks it "spam" and blacklists the address. A "delayed"
notice only notes the delay: the remote server is still trying.

The record is found by the Message-ID the report quotes (ours are deterministic),
else by the failed recipient among the campaign's sent records, most recent first.
"""

from __future__ import annotations

from sqlalchemy import Select, select

from ucmail_ext.extension import get_state
from ucmail_ext.mail.dsn import Feedback
from ucmail_ext.mail.parse import normalize_message_id
from ucmail_ext.models import Dialer, DialerList, DialerRecord
from ucmail_ext.services import blacklist

# A complaint or an unsubscribe says more than a bounce: a bounce never undoes them.
_KEPT_OVER_BOUNCE = ("spam", "unsubscribed")


def _in_campaign(campaign_id: int) -> Select[tuple[DialerRecord]]:
    return (
        select(DialerRecord)
        .join(DialerList, DialerList.id == DialerRecord.list_id)
        .join(Dialer, Dialer.id == DialerList.dialer_id)
        .where(Dialer.campaign_id == campaign_id)
    )


def find_record(campaign_id: int, feedback: Feedback) -> DialerRecord | None:
    session = get_state().session
    wanted = normalize_message_id(feedback.original_message_id)
    if wanted:
        found = session.scalar(_in_campaign(campaign_id).where(DialerRecord.message_id == wanted))
        if found is not None:
            return found
    recipient = (feedback.recipient or "").strip()
    if not recipient:
        return None
    candidates = {recipient, recipient.lower()}
    return session.scalar(
        _in_campaign(campaign_id)
        .where(DialerRecord.email.in_(candidates), DialerRecord.sent_at.is_not(None))
        .order_by(DialerRecord.sent_at.desc(), DialerRecord.id.desc())
        .limit(1)
    )


def apply_feedback(campaign_id: int, feedback: Feedback) -> bool:
    """True when the report was about one of our dialer records (it is consumed).

    Idempotent, and joins the caller's transaction (the caller commits).
    """
    record = find_record(campaign_id, feedback)
    if record is None:
        return False
    # A report that names another address than the one we sent to (a forward that
    # bounced further on) tells us about the message, not about our recipient.
    same = blacklist.normalize(feedback.recipient or "") == blacklist.normalize(record.email)
    about_recipient = not feedback.recipient or same
    if feedback.kind == "complaint":
        record.state = "spam"
        kind = feedback.feedback_type or "abuse"
        record.error = f"complaint ({kind}) reported by the recipient's provider"
        _blacklist(record, "spam", f"{kind} complaint (dialer record {record.id})")
        return True
    if feedback.action == "delayed" and not feedback.hard:
        note = f"delayed {feedback.status}: {feedback.diagnostic}".strip(": ")
        if record.state == "sent":
            record.error = note[:2000]
        return True
    if record.state not in _KEPT_OVER_BOUNCE:
        record.state = "rejected"
    record.status_code = (feedback.status or "")[:16]
    record.error = f"bounced {feedback.status}: {feedback.diagnostic}".strip(": ")[:2000]
    if feedback.hard and about_recipient:
        _blacklist(record, "bounce", f"hard bounce {feedback.status} (dialer record {record.id})")
    return True


def _blacklist(record: DialerRecord, source: str, reason: str) -> None:
    try:
        blacklist.add(record.email, source, reason=reason)
    except blacklist.BlacklistError:
        # An address the blacklist cannot hold was never mailable; the state says enough.
        pass
