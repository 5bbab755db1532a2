"""The live login check: green per protocol, red with the server's own answer."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.admin.conftest import Mailbox, campaign_data
from ucmail_ext.crypto import decrypt_secret
from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign
from ucmail_ext.services.admin import campaigns

pytestmark = pytest.mark.integration


def _count(app: Flask) -> int:
    with app.app_context():
        return get_state().session.scalar(select(func.count(Campaign.id))) or 0


def test_campaign_with_working_logins_is_created_green(app_ctx: Flask, mailbox: Mailbox) -> None:
    result = campaigns.save_campaign(campaign_data(mailbox), actor_id="1")

    assert result.ok, result.errors
    campaign = result.campaign
    assert campaign is not None
    assert (campaign.smtp_status, campaign.imap_status) == ("green", "green")
    assert "logged in" in campaign.smtp_status_message
    assert campaign.checked_at is not None
    assert decrypt_secret(campaign.password_encrypted) == mailbox.account.password
    assert [(s.days_mask, str(s.start_time), str(s.end_time)) for s in campaign.schedules] == [
        (0b11111, "09:00:00", "18:00:00")
    ]


def test_wrong_imap_password_is_red_with_dovecots_answer_and_not_saved(
    app_ctx: Flask, imap_account: Any, make_sink: Any
) -> None:
    sink = make_sink(imap_account.user, "not-the-imap-password")
    mailbox = Mailbox(imap_account, sink)

    result = campaigns.save_campaign(
        campaign_data(mailbox, password="not-the-imap-password"), actor_id="1"
    )

    assert not result.ok
    assert result.smtp is not None and result.smtp.status == "green"
    assert result.imap is not None and result.imap.status == "red"
    assert "AUTHENTICATIONFAILED" in result.imap.message
    assert result.errors["imap"] == result.imap.message
    assert _count(app_ctx) == 0


def test_wrong_smtp_password_is_red_and_not_saved(app_ctx: Flask, mailbox: Mailbox) -> None:
    wrong = Mailbox(mailbox.account, mailbox.sink)
    result = campaigns.save_campaign(campaign_data(wrong, password="wrong-password"), actor_id="1")

    assert result.smtp is not None and result.smtp.status == "red"
    assert "535" in result.smtp.message
    assert "wrong-password" not in result.smtp.message
    assert _count(app_ctx) == 0
