"""An admin sets up a campaign end to end in a real browser (Playwright, Debian Chromium)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.admin.conftest import Mailbox
from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.live import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_admin_sets_up_a_campaign_its_members_and_a_template(
    page: Any, live_server: str, mailbox: Mailbox
) -> None:
    from playwright.sync_api import expect

    base = live_server
    page.set_default_timeout(15_000)
    browser_login(page, base, USERS["admin"][0], TEST_PASSWORD)

    # Create: a preset fills the servers, then the test servers replace them.
    page.goto(f"{base}/ucmail/campaigns/")
    expect(page.locator(".ucmail-empty")).to_contain_text("No campaigns yet")
    page.click("[data-preset=gmail]")
    expect(page.locator("#smtp_host")).to_have_value("smtp.gmail.com")
    expect(page.locator("#imap_port")).to_have_value("993")
    page.fill("#name", "Support")
    page.fill("#email_address", mailbox.address)
    page.fill("#username", mailbox.account.user)
    page.fill("#password", mailbox.account.password)
    page.fill("#smtp_host", mailbox.sink.host)
    page.fill("#smtp_port", str(mailbox.sink.port))
    page.select_option("#smtp_security", "starttls")
    page.fill("#imap_host", mailbox.account.host)
    page.fill("#imap_port", str(mailbox.account.port))
    page.select_option("#imap_security", "starttls")
    page.click("#schedule-add")
    page.click("#schedule-add")
    expect(page.locator("#schedule-rows tr")).to_have_count(2)
    page.locator("#schedule-rows tr").nth(1).locator("[data-schedule-remove]").click()
    expect(page.locator("#schedule-rows tr")).to_have_count(1)
    page.click("#save-campaign")

    expect(page.locator(".ucmail-flash-success")).to_contain_text("created")
    page.wait_for_load_state("load")  # the page script is attached before we use it
    expect(page.locator("#smtp-status")).to_have_attribute("data-status", "green")
    expect(page.locator("#imap-status")).to_have_attribute("data-status", "green")
    expect(page.locator("#campaign-list")).to_contain_text("Support")
    expect(page.locator("#schedule-rows tr")).to_have_count(1)
    assert mailbox.account.password not in page.content()

    # "Test connection" re-checks what the form holds, without a reload.
    page.evaluate("document.querySelector('#imap-status [data-status-message]').textContent = ''")
    page.click("#test-connection")
    expect(page.locator("#imap-status [data-status-message]")).to_contain_text("Logged in")
    expect(page.locator("#smtp-status")).to_have_attribute("data-status", "green")

    # Edit: the empty password field keeps the stored password.
    page.fill("#service_level_seconds", "120")
    page.click("#save-campaign")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("saved")
    page.wait_for_load_state("load")
    expect(page.locator("#service_level_seconds")).to_have_value("120")
    expect(page.locator("#imap-status")).to_have_attribute("data-status", "green")

    # Disable: everything stays, the list says so.
    page.click("#disable-campaign")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("disabled")
    expect(page.locator("#enable-campaign")).to_be_visible()
    expect(page.locator("#campaign-list")).to_contain_text("disabled")

    # Members: two agents join the campaign.
    page.goto(f"{base}/ucmail/members/")
    page.select_option("#campaign_ids", label="Support (disabled)")
    page.select_option(
        "#agent_ids",
        label=["Alice Agent <agent1@test.example>", "Bob Agent <agent2@test.example>"],
    )
    page.click("#add-members")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("2 memberships added")
    members = page.locator("#member-list")
    expect(members).to_contain_text("Alice Agent")
    expect(members).to_contain_text("Bob Agent")
    expect(members).not_to_contain_text("Carol Agent")

    # Template: save, then preview with sample values and the variables found.
    page.goto(f"{base}/ucmail/templates/")
    page.fill("#name", "Welcome")
    page.fill("#subject", "Welcome ${first_name}")
    page.fill("#body_html", "<p>Hello <b>${first_name}</b> from ${company}</p>")
    page.fill("#body_text", "Hello ${first_name}")
    page.click("#save-template")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("created")
    expect(page.locator("#template-variables")).to_contain_text("${first_name}")
    expect(page.locator("#template-variables")).to_contain_text("${company}")
    expect(page.locator("#preview-subject")).to_have_text("Welcome Jane")
    frame = page.frame_locator("#preview-html")
    expect(frame.locator("b")).to_have_text("Jane")
    expect(frame.locator("p")).to_contain_text("from Example Ltd")

    page.fill("#body_text", "Bye ${last_name}")
    page.click("#preview-template")
    expect(page.locator("#preview-text")).to_have_text("Bye Doe")
    expect(page.locator("#template-variables")).to_contain_text("${last_name}")

    # Delete asks first: dismissing keeps the template, accepting deletes it.
    page.goto(f"{base}/ucmail/templates/")
    with page.expect_navigation(wait_until="load"):
        page.click("#template-list a")
    edit_url = page.url
    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.click("#delete-template")
    page.wait_for_timeout(300)
    assert dialogs and "Delete template Welcome?" in dialogs[0]
    assert page.url == edit_url
    expect(page.locator(".ucmail-flash-success")).to_have_count(0)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-template")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("deleted")
    expect(page.locator(".ucmail-empty")).to_contain_text("No templates yet")
