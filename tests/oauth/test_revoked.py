"""Revoked consent: red everywhere with the provider's words in one poll, no retry storm,
and reconnecting turns it green again. No token appears on any screen or in any log."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask

from example_host_app.extensions import db
from tests.fixtures.app import USERS, create_users, login
from tests.fixtures.oauth_provider import OAuthProvider, OAuthSmtpSink
from tests.fixtures.servers import DovecotServer
from tests.oauth.helpers import expire_cached_token, make_oauth_campaign, new_mailbox, oauth_config
from tests.oauth.test_connect import _consent, _form, _local
from ucmail_ext.models import Campaign
from ucmail_ext.services.inbound import ingest

REVOKED = "invalid_grant: AADSTS50173: The provided grant has expired due to it being revoked."


@pytest.fixture
def revoked_app(make_app: Callable[..., Flask], oauth_provider: OAuthProvider) -> Flask:
    """SQLite: the token rows' behaviour on PostgreSQL is covered in test_tokens.py."""
    app = make_app("sqlite", **oauth_config(oauth_provider))
    create_users(app)
    return app


def _poll(app: Flask, campaign_id: int) -> ingest.PollResult:
    with app.app_context():
        return ingest.poll_mailbox(campaign_id)


def _due_now(app: Flask, campaign_id: int) -> None:
    """Skip the poll back-off, as if its time had come: the provider must still be spared."""
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.next_poll_at = None
        db.session.commit()


def test_revoked_consent_is_red_everywhere_without_a_retry_storm_until_reconnected(
    revoked_app: Flask,
    oauth_provider: OAuthProvider,
    oauth_dovecot: DovecotServer,
    oauth_smtp: OAuthSmtpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    app = revoked_app
    user = new_mailbox(oauth_dovecot)
    campaign_id = make_oauth_campaign(app, oauth_provider, oauth_dovecot, user, oauth_smtp.port)
    assert _poll(app, campaign_id).status == "ok"

    oauth_provider.revoke(user)  # the admin withdrew consent, or the password changed
    expire_cached_token(app, campaign_id)
    result = _poll(app, campaign_id)
    assert result.status == "error"
    assert f"Reconnect the account: {REVOKED}" in result.error

    for _ in range(5):
        _due_now(app, campaign_id)
        assert _poll(app, campaign_id).status == "error"
    assert oauth_provider.count("token") == 1  # one refused refresh, then silence

    admin = app.test_client()
    login(admin, app, USERS["admin"][0])
    campaign_page = admin.get(f"/ucmail/campaigns/{campaign_id}").get_data(as_text=True)
    assert "Reconnect the account" in campaign_page and "AADSTS50173" in campaign_page
    assert 'id="oauth-connect">Reconnect account</button>' in campaign_page
    listing = admin.get("/ucmail/campaigns/").get_data(as_text=True)
    assert "data-reconnect" in listing and "reconnect the account" in listing
    feed = admin.get("/ucmail/supervision/feed").get_json()
    (row,) = [c for c in feed["campaigns"] if c["campaign_id"] == campaign_id]
    assert row["mailbox_error"].startswith("Reconnect the account: invalid_grant")
    api = admin.get(f"/ucmail/api/campaigns/{campaign_id}").get_json()
    assert api["oauth_error"].startswith("Reconnect the account") and api["oauth_connected"]

    oauth_provider.consenting_user = user
    start = admin.post(f"/ucmail/campaigns/{campaign_id}/oauth/connect", data=_form(admin, app))
    back = admin.get(_local(_consent(start.headers["Location"])), follow_redirects=True)
    assert "connection check passed" in back.get_data(as_text=True)
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        assert (campaign.smtp_status, campaign.imap_status, campaign.oauth_error) == (
            "green",
            "green",
            "",
        )
    _due_now(app, campaign_id)
    assert _poll(app, campaign_id).status == "ok"

    shown = (
        caplog.text
        + campaign_page
        + listing
        + str(feed)
        + str(api)
        + back.get_data(as_text=True)
        + admin.get(f"/ucmail/campaigns/{campaign_id}").get_data(as_text=True)
        + str(admin.get(f"/ucmail/api/campaigns/{campaign_id}").get_json())
    )
    for secret in oauth_provider.known_secrets:
        assert secret not in shown
