"""Done-when, in a real browser: an admin connects a campaign's account on the provider's
consent page and comes back to a green campaign; mail to that mailbox becomes an
interaction and the agent's reply goes out over XOAUTH2 SMTP."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from example_host_app.extensions import db
from tests.agent.conftest import post
from tests.fixtures.app import TEST_PASSWORD, USERS, login
from tests.fixtures.live import browser_login
from tests.fixtures.oauth_provider import OAuthProvider, OAuthSmtpSink
from tests.fixtures.servers import DovecotServer
from tests.inbound.helpers import interactions, mail
from tests.oauth.helpers import PROVIDER, expire_cached_token, new_mailbox, oauth_config
from ucmail_ext.models import Campaign, Member
from ucmail_ext.services.inbound import ingest

pytestmark = [pytest.mark.browser, pytest.mark.integration]
SHOTS = "/tmp/shots"


@pytest.fixture
def app(make_app: Callable[..., Flask], oauth_provider: OAuthProvider) -> Flask:
    """The live server's app, knowing the local provider."""
    return make_app("sqlite", **oauth_config(oauth_provider))


def _shot(page: Any, name: str) -> None:
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=False)


def test_admin_connects_the_account_and_mail_flows_over_oauth2(
    page: Any,
    live_server: str,
    app: Flask,
    users: dict[str, Any],
    oauth_provider: OAuthProvider,
    oauth_dovecot: DovecotServer,
    oauth_smtp: OAuthSmtpSink,
) -> None:
    from playwright.sync_api import expect

    user = new_mailbox(oauth_dovecot)
    oauth_provider.consenting_user = user
    base = live_server
    page.set_viewport_size({"width": 1366, "height": 768})
    page.set_default_timeout(15_000)
    browser_login(page, base, USERS["admin"][0], TEST_PASSWORD)

    page.goto(f"{base}/ucmail/campaigns/")
    expect(page.locator("[data-preset-limit=microsoft365]")).to_contain_text("30 messages a minute")
    page.click("[data-preset=microsoft365]")
    expect(page.locator("#smtp_host")).to_have_value("smtp.office365.com")
    expect(page.locator("#auth_method")).to_have_value("oauth2")
    page.select_option("#oauth_provider", PROVIDER)
    page.fill("#name", "Contoso support")
    page.fill("#email_address", user)
    page.fill("#username", user)
    page.fill("#smtp_host", "127.0.0.1")
    page.fill("#smtp_port", str(oauth_smtp.port))
    page.select_option("#smtp_security", "none")
    page.fill("#imap_host", oauth_dovecot.host)
    page.fill("#imap_port", str(oauth_dovecot.port))
    page.select_option("#imap_security", "none")
    page.click("#save-campaign")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("created")
    expect(page.locator("#oauth-account")).to_contain_text("No account connected yet")
    expect(page.locator("#smtp-status")).to_have_attribute("data-status", "unknown")

    page.click("#oauth-connect")
    expect(page.locator("h1")).to_contain_text(f"Sign in as {user}")  # the provider's page
    page.click("button[value=allow]")

    expect(page.locator(".ucmail-flash-success")).to_contain_text(f"Connected as {user}")
    expect(page.locator("#oauth-consented")).to_have_text(user)
    expect(page.locator("#smtp-status")).to_have_attribute("data-status", "green")
    expect(page.locator("#imap-status")).to_have_attribute("data-status", "green")
    expect(page.locator("#campaign-list [data-list-status=imap]")).to_have_text("green")
    _shot(page, "oauth_connected")
    expect(page.locator("#oauth-summary")).to_contain_text(f"Connected as {user}")
    page.locator("#auth_method").scroll_into_view_if_needed()
    _shot(page, "oauth_form_sign_in")
    page.locator("#oauth-account").scroll_into_view_if_needed()
    _shot(page, "oauth_account_box")
    html = page.content()
    for secret in oauth_provider.known_secrets:
        assert secret not in html

    # Mail sent to that mailbox becomes an interaction; the agent's reply goes out.
    with app.app_context():
        campaign = db.session.query(Campaign).filter_by(name="Contoso support").one()
        campaign_id = campaign.id
        db.session.add(Member(campaign_id=campaign_id, agent_id=str(users["agent1"].id)))
        db.session.commit()
        assert ingest.poll_mailbox(campaign_id).status == "ok"
    agent = app.test_client()
    login(agent, app, USERS["agent1"][0])
    assert agent.get("/ucmail/agent/").status_code == 200
    oauth_dovecot.append(user, mail(1, subject="Invoice missing", to=user))
    with app.app_context():
        result = ingest.poll_mailbox(campaign_id)
        assert result.status == "ok", result.error
    (interaction,) = interactions(app, campaign_id)
    assert interaction.subject == "Invoice missing"
    response = post(
        agent,
        app,
        f"/ucmail/agent/interactions/{interaction.id}/send",
        {"kind": "reply", "to": "customer@example.com", "subject": "Re: Invoice missing",
         "body": "Attached again."},
    )  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    (reply,) = oauth_smtp.wait_for(1, timeout=20)
    assert reply.auth_user == user and b"Attached again." in reply.raw
    assert oauth_smtp.oauth_logins >= 1

    # Consent revoked: one poll later the screen says what to do, in the provider's words.
    oauth_provider.revoke(user)
    expire_cached_token(app, campaign_id)
    with app.app_context():
        assert ingest.poll_mailbox(campaign_id).status == "error"
    page.goto(f"{base}/ucmail/campaigns/{campaign_id}")
    expect(page.locator("#campaign-list [data-reconnect]")).to_have_text("reconnect the account")
    expect(page.locator("#oauth-summary")).to_contain_text("Reconnect the account")
    expect(page.locator("#imap-status")).to_have_attribute("data-status", "red")
    expect(page.locator("#imap-status")).to_contain_text("AADSTS50173")
    _shot(page, "oauth_revoked")
    page.locator("#oauth-account").scroll_into_view_if_needed()
    _shot(page, "oauth_revoked_account_box")
    page.goto(f"{base}/ucmail/supervision/")
    expect(page.locator("#sv-campaigns [data-reconnect]")).to_have_text("reconnect the account")
    _shot(page, "oauth_revoked_supervision")
