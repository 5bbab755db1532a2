"""A supervisor at work in a real browser (Playwright, Debian Chromium), beside an agent.

Mail really arrives (Dovecot, then a poll), is really routed to the agent's portal,
and the agent really answers through the portal to an SMTP server: the supervisor's
screens follow all of it without a reload.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.live import browser_login, mail_server_settings
from tests.fixtures.servers import DovecotServer, ImapAccount, SmtpSink
from tests.supervision.factories import add_member, make_campaign, session
from ucmail_ext.models import Interaction
from ucmail_ext.services.desk import routing
from ucmail_ext.services.inbound import ingest

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOSTILE_SUBJECT = "<script>window.pwned=1</script> Printer on fire"
# What travels with the portal's heartbeat (every 5 s) may take that long to show.
HEARTBEAT_WAIT = 15_000


@pytest.fixture
def sink(imap_account: ImapAccount) -> Iterator[SmtpSink]:
    with SmtpSink(credentials=(imap_account.user, imap_account.password)) as running:
        yield running


def customer_mail(sender: str, subject: str, body: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "support@helpdesk.test"
    message["Subject"] = subject
    message["Date"] = format_datetime(ingest.utcnow())
    message["Message-ID"] = make_msgid(domain="example.org")
    message.set_content(body)
    return bytes(message)


def arrive(app: Flask, dovecot: DovecotServer, account: ImapAccount, campaign_id: int, raw: bytes):  # type: ignore[no-untyped-def]
    dovecot.append(account.user, raw)
    with app.app_context():
        assert ingest.poll_mailbox(campaign_id).imported == 1


def test_a_supervisor_watches_spies_chats_pauses_and_logs_out_an_agent(
    app: Flask,
    users: dict[str, Any],
    browser: Any,
    live_server: str,
    dovecot: DovecotServer,
    imap_account: ImapAccount,
    sink: SmtpSink,
) -> None:
    from playwright.sync_api import expect

    base = live_server
    agent_id = str(users["agent1"].id)
    with app.app_context():
        campaign = make_campaign(
            "Support",
            email_address="support@helpdesk.test",
            threshold_warning_seconds=1,
            **mail_server_settings(imap_account, sink),
        )
        add_member(campaign, agent_id)
        session().commit()
        campaign_id = campaign.id
        assert ingest.poll_mailbox(campaign_id).status == "ok"  # connects the empty mailbox

    boss_context, agent_context = browser.new_context(), browser.new_context()
    try:
        boss, agent = boss_context.new_page(), agent_context.new_page()
        boss_context.set_default_timeout(15_000)
        agent_context.set_default_timeout(15_000)
        browser_login(agent, base, USERS["agent1"][0], TEST_PASSWORD)
        agent.goto(f"{base}/ucmail/agent/")
        browser_login(boss, base, USERS["supervisor"][0], TEST_PASSWORD)
        boss.goto(f"{base}/ucmail/supervision/")

        row = boss.locator(f'#sv-agents tr[data-agent-id="{agent_id}"]')
        expect(row.locator(".sv-status")).to_have_text("Free")
        expect(row.locator(".sv-active")).to_have_text("0")

        # An email arrives and is routed: both tables change without a reload.
        arrive(
            app,
            dovecot,
            imap_account,
            campaign_id,
            customer_mail("Carla <carla@example.org>", HOSTILE_SUBJECT, "It smokes."),
        )
        expect(row.locator(".sv-status")).to_have_text("Busy")
        expect(row.locator(".sv-active")).to_have_text("1")
        expect(row).to_contain_text("Email")
        expect(agent.locator("#ucmail-tray")).to_contain_text("Printer on fire")

        # Spy: the conversation, read-only, escaped; the agent's answer appears live.
        row.click()
        with boss_context.expect_page() as opened:
            boss.click("#sv-action-spy")
        spy = opened.value
        card = spy.locator(".sv-spy-interaction")
        expect(card.locator("h2")).to_have_text(HOSTILE_SUBJECT)
        expect(card.locator(".sv-message")).to_have_count(1)
        expect(card.locator(".sv-message")).to_contain_text("It smokes.")

        # Monitor screen: the agent's draft, as it is typed.
        with boss_context.expect_page() as opened:
            boss.click("#sv-action-screen")
        screen = opened.value
        agent.click("#ucmail-tray a")
        agent.click("#action-reply")
        agent.fill("#composer-editor", "We are sending a technician.")
        expect(screen.locator("#sv-screen-body")).to_contain_text(
            "We are sending a technician.", timeout=HEARTBEAT_WAIT
        )
        expect(screen.locator("#sv-screen-open")).to_contain_text("Printer on fire")
        agent.click("#composer-send")
        expect(card.locator(".sv-message")).to_have_count(2)
        expect(card.locator(".sv-message.out")).to_contain_text("We are sending a technician.")
        assert spy.evaluate("window.pwned") is None
        sink.wait_for(1)

        # Chat: the agent sees the supervisor's message and answers.
        boss.fill("#sv-chat-body", "Call the customer, please.")
        boss.click("#sv-chat-form button[type=submit]")
        expect(agent.locator("#chat-messages")).to_contain_text(
            "Call the customer, please.", timeout=HEARTBEAT_WAIT
        )
        agent.fill("#chat-body", "Calling now.")
        agent.click("#chat-form button[type=submit]")
        expect(boss.locator("#sv-chat-log")).to_contain_text("Calling now.")

        # Pause: routing skips the agent; the next customer waits in the queue.
        boss.click("#sv-action-pause")
        expect(row.locator(".sv-status")).to_have_text("Paused")
        expect(boss.locator("#sv-action-pause")).to_have_text("Resume")
        arrive(
            app,
            dovecot,
            imap_account,
            campaign_id,
            customer_mail("Dan <dan@example.org>", "Second question", "Anyone there?"),
        )
        with app.app_context():
            routing.route_all()
            waiting = (
                session()
                .scalars(select(Interaction).where(Interaction.customer_email == "dan@example.org"))
                .one()
            )
            assert (waiting.state, waiting.agent_id) == ("queued", None)
        expect(boss.locator("#sv-waiting tbody")).to_contain_text("dan@example.org")
        expect(row.locator(".sv-active")).to_have_text("1")

        # Log out: the agent's very next request lands on the login page.
        boss.on("dialog", lambda dialog: dialog.accept())
        boss.click("#sv-action-logout")
        expect(row.locator(".sv-status")).to_have_text("Disconnected")
        agent.wait_for_url(f"{base}/login**", timeout=HEARTBEAT_WAIT)
        agent.goto(f"{base}/ucmail/agent/")
        expect(agent.locator("input[name=password]")).to_be_visible()
        assert agent.url.startswith(f"{base}/login")
    finally:
        boss_context.close()
        agent_context.close()
