"""Issue 12's done-when for points 2-7, in Chromium: two agents in two browsers.

A transfers to B with a note and B sees it arrive live with the note; A's internal
note never reaches the SMTP sink; A and B open the same interaction and each sees the
other; B answers first and A's send warns and shows B's reply; reply all keeps Cc;
a draft typed in one browser is there in the other; close requires the reason.
"""

from __future__ import annotations

import re
from datetime import time
from email import message_from_bytes, policy
from typing import Any

import pytest

from tests.agent.conftest import Floor
from tests.agent.helpers import assigned, reload
from tests.fixtures.servers import SmtpSink
from tests.routing.helpers import arrive, session
from ucmail_ext.models import Campaign, Interaction, Schedule

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SHOTS = "/tmp/shots"


def _type_body(page: Any, text: str) -> None:
    """At the top of the formatting editor (it stands over #composer-body)."""
    editor = page.locator("#composer-editor")
    editor.click()
    editor.press("Control+Home")
    editor.type(text, delay=20)


def test_transfer_with_a_note_arrives_live_and_an_internal_note_is_never_sent(
    desks: Any, floor: Floor, live_server: str, smtp_sink: SmtpSink
) -> None:
    from playwright.sync_api import expect

    interaction_id = assigned(floor, floor.agent1, "Printer jam")
    alice, bob = desks("agent1"), desks("agent2")
    bob.goto(f"{live_server}/ucmail/agent/")
    expect(bob.locator("#ucmail-tray li")).to_have_count(0)
    alice.goto(f"{live_server}/ucmail/agent/?open={interaction_id}")

    # An internal note: in the conversation with its own look, never mailed.
    alice.click("#note summary")
    alice.fill("#note-body", "Check the warranty before promising a replacement.")
    alice.click("#note-submit")
    note = alice.locator(".desk-note.note").first
    expect(note).to_contain_text("Check the warranty")
    expect(note).to_contain_text("Internal note")
    alice.screenshot(path=f"{SHOTS}/desk-note-1366.png")

    # Transfer to Bob with a note: his tray shows it without a reload.
    alice.click("#transfer summary")
    alice.select_option("#transfer-target", f"agent:{floor.agent2}")
    alice.fill("#transfer-note", "VIP customer, call back before noon")
    alice.click("#transfer-submit")
    expect(alice.locator(".ucmail-flash-success")).to_contain_text("transferred")
    arrived = bob.locator(f'#ucmail-tray li[data-id="{interaction_id}"]')
    expect(arrived).to_contain_text("Printer jam")
    expect(arrived).to_contain_text("VIP customer, call back before noon")
    bob.screenshot(path=f"{SHOTS}/desk-transfer-arrived-1366.png")
    arrived.locator("a").first.click()
    expect(bob.locator(".desk-note.transfer")).to_contain_text(
        "Transferred from Alice Agent to Bob Agent by Alice Agent: "
        "VIP customer, call back before noon"
    )
    expect(bob.locator(".desk-note.note")).to_contain_text("Check the warranty")

    # Bob answers: only his answer goes out, without the note.
    bob.click("#action-reply")
    _type_body(bob, "We will call you this morning.")
    bob.click("#composer-send")
    expect(bob.locator(".ucmail-flash-success")).to_contain_text("on its way")
    [mail] = smtp_sink.wait_for(1, timeout=30)
    text = message_from_bytes(mail.raw, policy=policy.default).get_body(("plain",)).get_content()
    assert "We will call you this morning." in text
    assert "warranty" not in text and "VIP customer" not in text
    assert smtp_sink.count == 1


def test_two_agents_see_each_other_and_the_later_send_shows_the_earlier_answer(
    desks: Any, floor: Floor, live_server: str, smtp_sink: SmtpSink
) -> None:
    from playwright.sync_api import expect

    # Outside opening hours nothing is routed, so the interaction stays in the queue
    # where both agents can pick it up.
    session().add(
        Schedule(campaign_id=floor.campaign_id, days_mask=0, start_time=time(9), end_time=time(10))
    )
    session().commit()
    interaction_id = arrive(session().get(Campaign, floor.campaign_id), "Where is my order").id
    alice, bob = desks("agent1"), desks("agent2")
    url = f"{live_server}/ucmail/agent/?open={interaction_id}&compose=reply"
    alice.goto(url)
    bob.goto(url)

    expect(alice.locator("#desk-viewers")).to_contain_text("Bob Agent")
    expect(bob.locator("#desk-viewers")).to_contain_text("Alice Agent")
    bob.locator("#composer-editor").click()
    bob.keyboard.type("Your order left our warehouse today.", delay=60)
    expect(alice.locator("#desk-viewers")).to_contain_text("Bob Agent is typing")
    alice.screenshot(path=f"{SHOTS}/desk-viewers-typing-1366.png")

    bob.click("#composer-send")
    expect(bob.locator(".ucmail-flash-success")).to_contain_text("on its way")
    smtp_sink.wait_for(1, timeout=30)
    expect(alice.locator("#newer-live")).to_contain_text("Your order left our warehouse today.")

    _type_body(alice, "Let me check where it is.")
    alice.click("#composer-send")
    warning = alice.locator("#newer-warning")
    expect(warning).to_contain_text("1 new message arrived after you began writing")
    expect(warning).to_contain_text("Bob Agent")
    expect(warning).to_contain_text("Your order left our warehouse today.")
    alice.screenshot(path=f"{SHOTS}/desk-collision-warning-1366.png")
    assert smtp_sink.count == 1  # nothing of Alice's went out


def test_reply_all_keeps_cc_the_draft_follows_the_agent_and_close_needs_a_reason(
    desks: Any, floor: Floor, live_server: str, smtp_sink: SmtpSink
) -> None:
    from playwright.sync_api import expect

    campaign = session().get(Campaign, floor.campaign_id)
    campaign.dispositions, campaign.disposition_required = "solved\nescalated", True
    interaction_id = assigned(floor, floor.agent1, "Team question", customer="carla@example.org")
    first = session().get(Interaction, interaction_id).messages[0]
    first.to_addrs = "support@helpdesk.test, dan@example.org"
    first.cc_addrs = "manager@example.org, support@helpdesk.test"
    session().commit()

    laptop = desks("agent1")
    laptop.goto(f"{live_server}/ucmail/agent/?open={interaction_id}")
    laptop.click("#action-reply-all")
    expect(laptop.locator("#composer-to")).to_have_value("carla@example.org, dan@example.org")
    expect(laptop.locator("#composer-cc")).to_have_value("manager@example.org")
    laptop.fill("#composer-bcc", "audit@example.org")
    _type_body(laptop, "Started on the laptop.")
    expect(laptop.locator("#draft-status")).to_contain_text("Draft saved")

    phone = desks("agent1")  # the same agent in another browser
    phone.goto(f"{live_server}/ucmail/agent/?open={interaction_id}")
    expect(phone.locator("#composer-body")).to_have_value(re.compile(r"^Started on the laptop\."))
    expect(phone.locator("#composer-cc")).to_have_value("manager@example.org")
    expect(phone.locator("#composer-bcc")).to_have_value("audit@example.org")
    expect(phone.locator("#draft-status")).to_contain_text("Draft restored")
    phone.screenshot(path=f"{SHOTS}/desk-draft-restored-1366.png")
    phone.click("#composer-send")
    expect(phone.locator(".ucmail-flash-success")).to_contain_text("on its way")
    [mail] = smtp_sink.wait_for(1, timeout=30)
    assert sorted(mail.rcpt_tos) == [
        "audit@example.org",
        "carla@example.org",
        "dan@example.org",
        "manager@example.org",
    ]
    assert message_from_bytes(mail.raw, policy=policy.default)["Cc"] == "manager@example.org"

    # Close without a reason: the browser asks for one and nothing changes.
    phone.click("#action-close")
    expect(phone.locator("#close-disposition")).to_have_js_property("validity.valid", False)
    assert reload(Interaction, interaction_id).state == "assigned"
    phone.select_option("#close-disposition", "solved")
    phone.screenshot(path=f"{SHOTS}/desk-close-reason-1366.png")
    phone.click("#action-close")
    expect(phone.locator(".ucmail-flash-success")).to_contain_text("closed")
    closed = reload(Interaction, interaction_id)
    assert (closed.state, closed.disposition) == ("closed", "solved")
