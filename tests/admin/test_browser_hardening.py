"""The hardened campaign and template screens, in a real browser (Debian Chromium).

Each step leaves a 1366x768 screenshot under /tmp/shots/ for a person to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.admin.conftest import Mailbox, campaign_data
from tests.admin.helpers import make_template
from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.live import browser_login
from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign, Dialer
from ucmail_ext.services.admin import campaigns

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SHOTS = Path("/tmp/shots")


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_campaign_screen_password_error_list_status_and_delete_refusal(
    page: Any, live_server: str, app: Flask, mailbox: Mailbox
) -> None:
    from playwright.sync_api import expect

    with app.app_context():
        result = campaigns.save_campaign(campaign_data(mailbox), actor_id="1")
        assert result.campaign is not None
        campaign_id = result.campaign.id
        session = get_state().session
        stored = session.get(Campaign, campaign_id)
        stored.smtp_status, stored.imap_status = "red", "red"
        session.add(Dialer(name="Spring offer", campaign_id=campaign_id))
        session.commit()

    page.set_viewport_size({"width": 1366, "height": 768})
    page.set_default_timeout(20_000)
    browser_login(page, live_server, USERS["admin"][0], TEST_PASSWORD)
    page.goto(f"{live_server}/ucmail/campaigns/{campaign_id}")
    page.wait_for_load_state("load")
    row = page.locator(f'#campaign-list tr[data-campaign-id="{campaign_id}"]')
    expect(row.locator('[data-list-status="smtp"]')).to_have_text("red")

    # Another SMTP port and no password: the stored one is not sent there.
    page.fill("#smtp_port", "2")
    page.click("#test-connection")
    expect(page.locator("#error-password")).to_contain_text("Type the password again")
    page.locator("#password").scroll_into_view_if_needed()
    shot(page, "campaign-password-error")

    # Back to the saved server: the check passes and the list's badges follow.
    page.fill("#smtp_port", str(mailbox.sink.port))
    page.click("#test-connection")
    expect(row.locator('[data-list-status="smtp"]')).to_have_text("green")
    expect(row.locator('[data-list-status="imap"]')).to_have_text("green")
    expect(page.locator("#error-password")).to_have_count(0)
    row.scroll_into_view_if_needed()
    shot(page, "campaign-list-after-test-connection")

    # Delete: refused while a dialer sends for it, with the dialer's name.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-campaign")
    expect(page.locator("#error-dialers")).to_contain_text("Spring offer")
    expect(page.locator("#campaign-dialers")).to_contain_text("Spring offer")
    shot(page, "campaign-delete-refusal")
    page.check("#disable_dialers")
    page.click("#confirm-delete")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("Spring offer")


def test_template_screen_shows_what_each_use_can_fill(
    page: Any, live_server: str, app: Flask
) -> None:
    from playwright.sync_api import expect

    with app.app_context():
        template_id = make_template(
            "Welcome",
            subject="Welcome, ${name}",
            body_text="Hello ${name}, thanks for joining our ${plan} plan.",
            body_html="<p>Hello ${name}, thanks for joining our <b>${plan}</b> plan.</p>",
        ).id

    page.set_viewport_size({"width": 1366, "height": 768})
    page.set_default_timeout(20_000)
    browser_login(page, live_server, USERS["admin"][0], TEST_PASSWORD)
    page.goto(f"{live_server}/ucmail/templates/{template_id}")
    kinds = page.locator("#template-kinds")
    expect(kinds.locator('[data-kind="autoreply"]')).to_contain_text("cannot fill ${plan}")
    expect(kinds.locator('[data-kind="dialer"]')).to_contain_text("fits")
    kinds.scroll_into_view_if_needed()
    shot(page, "template-variables")
