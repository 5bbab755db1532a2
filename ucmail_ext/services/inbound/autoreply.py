"""The campaign's auto-reply to a customer who opens a new interaction (RFC 3834).

The reply is stored here as an outgoing Message ("queued", kind "autoreply") in
the caller's transaction; the caller enqueues ``ucmail.outbound.send`` after the
commit, and the sender adds ``Auto-Submitted: auto-replied``. Storing it first
means a crash between commit and send loses nothing: the outbound retry sweep
finds the queued message.

Never answered (RFC 3834 §2, and Zammad's and FreeScout's loop incidents):
automatic mail (Auto-Submitted other than "no", Precedence bulk/list/junk, List-*
headers, X-Autoreply, mailer-daemon/no-reply senders, empty Return-Path, reports:
``ParsedMessage.is_auto_submitted``), unreadable mail, a sender that is the
campaign's own address, a blacklisted address; and at most one auto-reply per
sender and campaign every ``UCMAIL_AUTOREPLY_PERIOD`` seconds (RFC 3834 §2: "the
same response to the same sender" should not repeat within a period). Imported
history is never answered: its caller does not ask.

The reply goes to the From address: it acknowledges a conversation with that
person, and a Reply-To may point at a list.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from ucmail_ext.extension import get_state
from ucmail_ext.mail.headers import is_valid_address
from ucmail_ext.mail.parse import ParsedMessage, html_to_text, normalize_message_id
from ucmail_ext.mail.render import render, render_html
from ucmail_ext.mail.thread import new_message_id, strip_reply_prefixes, subject_token
from ucmail_ext.models import AutoReplyLog, Campaign, Interaction, Message, Template
from ucmail_ext.services import blacklist, links


def refusal(campaign: Campaign, parsed: ParsedMessage) -> str:
    """Why this message gets no auto-reply, before the per-sender cap ('' if it may)."""
    if parsed.unparseable:
        return "unreadable message"
    if parsed.is_auto_submitted:
        return parsed.auto_submitted_reason or "automatic message"
    sender = parsed.from_addr.strip().lower()
    if not sender or not is_valid_address(sender):
        return "no valid sender address"
    if sender == campaign.email_address.strip().lower():
        return "sent by the campaign's own address"
    if blacklist.is_blacklisted(sender):
        return "sender is blacklisted"
    return ""


def queue_autoreply(
    campaign: Campaign,
    interaction: Interaction,
    parsed: ParsedMessage,
    now: datetime,
) -> Message | None:
    """Store the auto-reply for the new ``interaction`` (flushed, so it has an id)."""
    if not campaign.autoreply_enabled or campaign.autoreply_template_id is None:
        return None
    session = get_state().session
    template = session.get(Template, campaign.autoreply_template_id)
    if template is None or refusal(campaign, parsed):
        return None
    recipient = parsed.from_addr.strip().lower()
    period = timedelta(seconds=int(current_app.config["UCMAIL_AUTOREPLY_PERIOD"]))
    recent = session.scalar(
        select(AutoReplyLog.id)
        .where(
            AutoReplyLog.campaign_id == campaign.id,
            AutoReplyLog.address == recipient,
            AutoReplyLog.sent_at > now - period,
        )
        .limit(1)
    )
    if recent is not None:
        return None
    reply = _build(campaign, interaction, parsed, template, recipient, now)
    session.add(reply)
    session.add(AutoReplyLog(campaign_id=campaign.id, address=recipient, sent_at=now))
    interaction.message_count = (interaction.message_count or 0) + 1
    return reply


def _build(
    campaign: Campaign,
    interaction: Interaction,
    parsed: ParsedMessage,
    template: Template,
    recipient: str,
    now: datetime,
) -> Message:
    token = subject_token(interaction.id)
    variables = {
        "name": parsed.from_name or recipient,
        "customer_name": parsed.from_name,
        "email": recipient,
        "customer_email": recipient,
        "subject": parsed.subject,
        "interaction_id": str(interaction.id),
        "ticket": token,
        "campaign": campaign.name,
    }
    subject = _one_line(render(template.subject, variables).text) if template.subject else ""
    subject = subject or f"Re: {strip_reply_prefixes(parsed.subject)}".strip()
    if token not in subject:
        subject = f"{subject} {token}"
    html = render_html(template.body_html, variables).text if template.body_html else ""
    text = render(template.body_text, variables).text if template.body_text else ""
    if not text and html:
        text = html_to_text(html)
    references = [*parsed.references, parsed.message_id]
    reply = Message(
        campaign_id=campaign.id,
        direction="out",
        status="queued",
        kind="autoreply",
        message_id=normalize_message_id(new_message_id(links.message_id_domain())),
        in_reply_to=parsed.message_id,
        references=" ".join(dict.fromkeys(r for r in references if r)),
        from_addr=campaign.email_address,
        from_name=campaign.from_name,
        to_addrs=recipient,
        subject=subject[:998],
        text=text,
        html=html,
        created_at=now,
    )
    reply.interaction = interaction
    return reply


def _one_line(value: str) -> str:
    return " ".join(value.split())
