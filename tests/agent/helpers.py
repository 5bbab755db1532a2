"""Portal and sending test helpers: a campaign wired to the SMTP sink, stored replies."""

from __future__ import annotations

from typing import Any

from tests.fixtures.servers import SmtpSink
from tests.routing.helpers import add_members, arrive, make_campaign, session
from ucmail_ext.models import Attachment, Campaign, Interaction, Message, utcnow
from ucmail_ext.services import storage


def sink_campaign(sink: SmtpSink, name: str = "Support", **values: object) -> Campaign:
    """A campaign whose SMTP account is the sink (no login: the sink offers no AUTH)."""
    values.setdefault("email_address", "support@helpdesk.test")
    values.setdefault("from_name", "Support Team")
    return make_campaign(
        name,
        smtp_host=sink.host,
        smtp_port=sink.port,
        smtp_security="none",
        receive_emails=False,
        **values,
    )


def member_campaign(sink: SmtpSink, *agent_ids: str, **values: object) -> Campaign:
    campaign = sink_campaign(sink, **values)
    add_members(campaign, *agent_ids)
    return campaign


def stored_reply(
    campaign: Campaign, text: str = "Here is the answer.", to: str = "customer@example.org"
) -> Message:
    """An outgoing message as compose leaves it: stored, queued, not yet sent."""
    interaction = Interaction(
        campaign_id=campaign.id,
        customer_email=to,
        subject="Help",
        state="assigned",
        agent_id="1",
        message_count=1,
    )
    message = Message(
        campaign_id=campaign.id,
        direction="out",
        status="queued",
        kind="reply",
        message_id=f"ucmail.test.{utcnow().timestamp()}@ucmail.test",
        in_reply_to="question-1@example.org",
        references="thread-0@example.org question-1@example.org",
        from_addr=campaign.email_address,
        to_addrs=to,
        subject="Re: Help [#1]",
        text=text,
        agent_id="1",
    )
    interaction.messages.append(message)
    session().add(interaction)
    session().commit()
    return message


def assigned(floor: Any, agent_id: str, subject: str = "Help", **kw: object) -> int:
    """An arrived interaction already in ``agent_id``'s tray; returns its id."""
    campaign = session().get(Campaign, floor.campaign_id)
    item = arrive(campaign, subject, **kw)
    item.state, item.agent_id, item.assigned_at = "assigned", agent_id, utcnow()
    session().commit()
    return item.id


def reload(model: Any, ident: Any) -> Any:
    session().expire_all()
    return session().get(model, ident)


def add_file(message: Message, name: str, data: bytes, content_type: str) -> Attachment:
    stored = storage.store_bytes(data)
    item = Attachment(
        filename=name,
        original_filename=name,
        content_type=content_type,
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.storage_key,
    )
    message.attachments.append(item)
    session().commit()
    return item
