"""Rows for admin tests that do not need the mail servers."""

from __future__ import annotations

from datetime import time
from typing import Any

from ucmail_ext.crypto import encrypt_secret
from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign, Schedule, Template

STORED_PASSWORD = "stored-secret-Pw9"


def make_campaign(name: str = "Sales", **values: Any) -> Campaign:
    """A saved campaign pointing nowhere: for validation, lists, members, deletion."""
    session = get_state().session
    campaign = Campaign(
        name=name,
        email_address=values.pop("email_address", f"{name.lower()}@example.com"),
        username=values.pop("username", "login"),
        password_encrypted=encrypt_secret(values.pop("password", STORED_PASSWORD)),
        smtp_host="smtp.invalid",
        imap_host="imap.invalid",
        **values,
    )
    campaign.schedules.append(Schedule(days_mask=0b1, start_time=time(8), end_time=time(12)))
    session.add(campaign)
    session.commit()
    return campaign


def make_template(
    name: str = "Signature", campaign_id: int | None = None, **values: Any
) -> Template:
    session = get_state().session
    template = Template(
        name=name,
        campaign_id=campaign_id,
        subject=values.pop("subject", "Re: ${subject}"),
        body_text=values.pop("body_text", "Regards, ${agent_name}"),
        body_html=values.pop("body_html", "<p>Regards, ${agent_name}</p>"),
    )
    session.add(template)
    session.commit()
    return template
