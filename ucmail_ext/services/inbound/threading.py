"""Which interaction an inbound message belongs to, and what joining it does.

The order of the checks is the order of trust:

1. In-Reply-To / References naming a message stored in this campaign (ours or the
   customer's earlier one): Message-IDs are long random strings nobody guesses.
2. The same headers naming a dialer email: the customer answers bulk mail, which
   becomes an interaction in the dialer's campaign, tied to the record (a second
   answer to the same email joins the first one's interaction).
3. A ``[#123]`` subject token, honoured only when the sender already takes part in
   that interaction: anyone can type a token, and a stranger must not be able to
   slip a message into another customer's conversation.

Anything else starts a new interaction. A message that joins a closed interaction
reopens it: it goes back to the queue (state "queued", no agent, counted in
``reopened_count``) because a customer who writes again is waiting again; the
routing decides who answers, as for a new one. Imported history never reopens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import getaddresses
from typing import Any

from sqlalchemy import select

from ucmail_ext.extension import get_state
from ucmail_ext.mail.parse import ParsedMessage, normalize_message_id
from ucmail_ext.mail.thread import find_subject_token, referenced_ids
from ucmail_ext.models import Campaign, Dialer, DialerList, DialerRecord, Interaction, Message


@dataclass(frozen=True)
class ThreadMatch:
    """Where a message goes: an existing interaction, or a new one described here."""

    interaction: Interaction | None
    campaign_id: int
    origin: str = "inbound"
    dialer_record_id: int | None = None
    reason: str = "new"


def find_thread(campaign_id: int, parsed: ParsedMessage) -> ThreadMatch:
    """The interaction ``parsed`` belongs to; queries only when it names one."""
    ids = referenced_ids(parsed)
    if ids:
        found = _by_reference(campaign_id, ids) or _by_dialer_record(campaign_id, ids)
        if found is not None:
            return found
    token = find_subject_token(parsed.subject)
    if token is not None:
        interaction = get_state().session.get(Interaction, token)
        if (
            interaction is not None
            and interaction.campaign_id == campaign_id
            and _takes_part(interaction, parsed.from_addr)
        ):
            return ThreadMatch(interaction, campaign_id, reason="token")
    return ThreadMatch(None, campaign_id)


def join(interaction: Interaction, *, flagged: bool, history: bool, now: datetime) -> bool:
    """Count one more message in ``interaction``; True when that reopened it."""
    interaction.message_count = (interaction.message_count or 0) + 1
    interaction.last_message_at = now
    if flagged:
        interaction.flagged = True
    if history or interaction.state != "closed":
        return False
    interaction.state = "queued"
    interaction.reopened_count = (interaction.reopened_count or 0) + 1
    interaction.agent_id = None
    interaction.assigned_at = None
    interaction.closed_at = None
    interaction.first_response_at = None
    # Back in the queue now: its place and its service level count from this message.
    interaction.arrived_at = now
    return True


def new_interaction(
    match: ThreadMatch, parsed: ParsedMessage, *, history: bool, now: datetime
) -> dict[str, Any]:
    """Column values of the interaction ``parsed`` opens: queued, or closed history."""
    arrived = now
    if history and parsed.date is not None and parsed.date < now:
        arrived = parsed.date
    return {
        "campaign_id": match.campaign_id,
        "customer_email": parsed.from_addr[:320],
        "customer_name": parsed.from_name[:200],
        "subject": parsed.subject[:998],
        "state": "closed" if history else "queued",
        "origin": "history" if history else match.origin,
        "dialer_record_id": match.dialer_record_id,
        "arrived_at": arrived,
        "last_message_at": now,
        "closed_at": now if history else None,
        "message_count": 0,
        "reopened_count": 0,
        "flagged": False,
    }


def _by_reference(campaign_id: int, ids: list[str]) -> ThreadMatch | None:
    session = get_state().session
    rows = session.execute(
        select(Message.message_id, Message.interaction_id)
        .where(Message.campaign_id == campaign_id, Message.message_id.in_(ids))
        .order_by(Message.id)
    ).all()
    found = {normalize_message_id(mid): interaction_id for mid, interaction_id in rows}
    for ident in ids:
        if ident in found:
            interaction = session.get(Interaction, found[ident])
            if interaction is not None:
                return ThreadMatch(interaction, interaction.campaign_id, reason="reference")
    return None


def _by_dialer_record(campaign_id: int, ids: list[str]) -> ThreadMatch | None:
    session = get_state().session
    rows = session.execute(
        select(DialerRecord.id, DialerRecord.message_id, Dialer.campaign_id, Campaign.deleted_at)
        .join(DialerList, DialerList.id == DialerRecord.list_id)
        .join(Dialer, Dialer.id == DialerList.dialer_id)
        .join(Campaign, Campaign.id == Dialer.campaign_id)
        .where(DialerRecord.message_id.in_(ids))
    ).all()
    records = {normalize_message_id(mid): (rid, cid, gone) for rid, mid, cid, gone in rows}
    for ident in ids:
        if ident not in records:
            continue
        record_id, dialer_campaign_id, deleted_at = records[ident]
        earlier = session.scalar(
            select(Interaction)
            .where(Interaction.dialer_record_id == record_id)
            .order_by(Interaction.id.desc())
            .limit(1)
        )
        if earlier is not None:
            return ThreadMatch(earlier, earlier.campaign_id, reason="dialer")
        # A deleted campaign has no queue an agent looks at: keep it in this mailbox's.
        target = campaign_id if deleted_at is not None else dialer_campaign_id
        return ThreadMatch(
            None, target, origin="dialer", dialer_record_id=record_id, reason="dialer"
        )
    return None


def _takes_part(interaction: Interaction, sender: str) -> bool:
    sender = sender.strip().lower()
    if not sender:
        return False
    if interaction.customer_email.strip().lower() == sender:
        return True
    rows = get_state().session.execute(
        select(Message.from_addr, Message.to_addrs, Message.cc_addrs).where(
            Message.interaction_id == interaction.id
        )
    )
    for from_addr, to_addrs, cc_addrs in rows:
        listed = getaddresses([from_addr or "", to_addrs or "", cc_addrs or ""])
        if sender in {addr.strip().lower() for _, addr in listed}:
            return True
    return False
