"""Keyboard shortcuts and the live tray in a real browser (issue 12, points 1, 9 and 10):
j/k through the tray, r/a/f/n/c on the open conversation, ? for the list, never while
typing; the wait ticks, the threshold colour and the New mark show; times are local."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from tests.agent.conftest import Floor
from tests.agent.helpers import assigned
from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.live import browser_login
from tests.fixtures.servers import SmtpSink
from tests.routing.helpers import session
from ucmail_ext.models import Campaign, Interaction, utcnow

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _tray(floor: Floor) -> list[int]:
    """Three interactions in agent1's tray, longest wait first."""
    return [
        assigned(floor, floor.agent1, subject, at=utcnow() - timedelta(minutes=minutes))
        for subject, minutes in (("Oldest", 30), ("Middle", 20), ("Newest", 1))
    ]


def _wait_focus_on(page: Any, interaction_id: int) -> None:
    """Until the keyboard focus is on that tray line (a generous deadline, no sleep)."""
    page.wait_for_function(
        "id => { const at = document.activeElement;"
        " const li = at && at.closest('#ucmail-tray li');"
        " return li && li.dataset.id === id; }",
        arg=str(interaction_id),
        timeout=30_000,
    )


def test_the_tray_is_driven_from_the_keyboard_and_shortcuts_act_on_the_conversation(
    page: Any, floor: Floor, live_server: str, smtp_sink: SmtpSink
) -> None:
    from playwright.sync_api import expect

    page.set_default_timeout(15_000)
    oldest, middle, newest = _tray(floor)
    browser_login(page, live_server, USERS["agent1"][0], TEST_PASSWORD)
    page.goto(f"{live_server}/ucmail/agent/")
    expect(page.locator("#tray-hint")).to_contain_text("for all shortcuts")

    page.keyboard.press("?")
    help_dialog = page.locator("#shortcuts-help")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Reply all")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    page.keyboard.press("j")
    _wait_focus_on(page, oldest)
    page.keyboard.press("j")
    _wait_focus_on(page, middle)
    page.keyboard.press("ArrowDown")
    _wait_focus_on(page, newest)
    page.keyboard.press("k")
    _wait_focus_on(page, middle)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"open={middle}"))
    expect(page.locator("#conversation-subject")).to_have_text("Middle")
    expect(page.locator("#action-reply")).to_have_attribute("aria-keyshortcuts", "r")

    page.keyboard.press("r")
    page.wait_for_url(re.compile(r"compose=reply(&|$)"))
    editor = page.locator("#composer-editor")
    expect(editor).to_be_visible()
    # Typing in the editor never triggers a shortcut.
    editor.click()
    page.keyboard.type(" a fresh answer")
    expect(page).to_have_url(re.compile(r"compose=reply(&|$)"))
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    page.wait_for_url(re.compile(r"compose=replyall"))
    page.keyboard.press("f")
    page.wait_for_url(re.compile(r"compose=forward"))

    page.keyboard.press("n")
    expect(page.locator("#note-body")).to_be_focused()
    page.keyboard.type("n is a letter here")
    expect(page.locator("#note-body")).to_have_value("n is a letter here")
    page.keyboard.press("Escape")

    page.keyboard.press("/")
    expect(page.locator(".agent-search input[type=search]")).to_be_focused()
    page.keyboard.press("Escape")

    page.keyboard.press("c")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("closed")
    session().expire_all()
    assert session().get(Interaction, middle).state == "closed"


def test_ctrl_enter_sends_from_the_editor(
    page: Any, floor: Floor, live_server: str, smtp_sink: SmtpSink
) -> None:
    from playwright.sync_api import expect

    page.set_default_timeout(15_000)
    interaction_id = assigned(floor, floor.agent1, "Quick one")
    browser_login(page, live_server, USERS["agent1"][0], TEST_PASSWORD)
    page.goto(f"{live_server}/ucmail/agent/?open={interaction_id}&compose=reply")
    page.locator("#composer-editor").click()
    page.keyboard.type("Done, thanks.")
    page.keyboard.press("Control+Enter")

    expect(page.locator(".ucmail-flash-success")).to_be_visible()
    smtp_sink.wait_for(1, timeout=60)


def test_the_tray_shows_live_waits_threshold_colours_new_marks_and_local_times(
    page: Any, floor: Floor, live_server: str
) -> None:
    from playwright.sync_api import expect

    page.set_default_timeout(15_000)
    campaign = session().get(Campaign, floor.campaign_id)
    campaign.threshold_warning_seconds = 5 * 60
    campaign.threshold_critical_seconds = 25 * 60
    session().commit()
    oldest, middle, newest = _tray(floor)
    page.emulate_media(color_scheme="light")
    browser_login(page, live_server, USERS["agent1"][0], TEST_PASSWORD)
    page.goto(f"{live_server}/ucmail/agent/?open={newest}")

    tray = page.locator("#ucmail-tray")
    expect(tray.locator(f'li[data-id="{oldest}"]')).to_have_class(re.compile("threshold-critical"))
    expect(tray.locator(f'li[data-id="{middle}"]')).to_have_class(re.compile("threshold-warning"))
    expect(tray.locator(f'li[data-id="{newest}"]')).not_to_have_class(re.compile("threshold"))
    wait = tray.locator(f'li[data-id="{newest}"] .tray-wait')
    first = wait.inner_text()
    assert re.fullmatch(r"\d+:\d\d", first)
    expect(wait).not_to_have_text(first)  # it ticks in the browser, without a reload
    expect(tray.locator(f'li[data-id="{oldest}"] .tray-new')).to_have_text("New")
    # Opened by its agent: no longer new once the tray refreshes.
    expect(tray.locator(f'li[data-id="{newest}"] .tray-new')).to_have_count(0)
    expect(page.locator("#tray-counts")).to_contain_text("Support 3 · 3 waiting")

    # The conversation's times are in the browser's zone, not the server's UTC label.
    stamp = page.locator("#ucmail-timeline time.local-time").first
    expect(stamp).not_to_contain_text("UTC")
    assert stamp.get_attribute("datetime").endswith("+00:00")

    # A new customer interaction appears live with its New mark and is announced.
    arrival = assigned(floor, floor.agent1, "Live arrival", at=utcnow())
    expect(tray.locator(f'li[data-id="{arrival}"] .tray-new')).to_be_visible(timeout=30_000)
    expect(page.locator("#tray-announce")).to_contain_text("Live arrival")


def _in_view(box: dict[str, float] | None, width: int, height: int) -> bool:
    return (
        bool(box)
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + 40 <= width
        and (box["y"] + 40 <= height)
    )


@pytest.mark.parametrize("width,height", [(1366, 768), (1920, 1080)])
def test_tray_conversation_and_editor_are_visible_together(
    browser: Any, floor: Floor, live_server: str, width: int, height: int
) -> None:
    from playwright.sync_api import expect

    campaign = session().get(Campaign, floor.campaign_id)
    campaign.threshold_warning_seconds = 10 * 60
    campaign.threshold_critical_seconds = 30 * 60
    session().commit()
    waits = (
        ("Invoice 2291 charged twice", 42, "Dana Whitfield", "dana@example.org"),
        ("Parcel arrived damaged", 17, "Carla Customer", "carla@example.org"),
        ("Cannot log in after password reset", 6, "Ben Ortiz", "ben@example.org"),
        ("Change of delivery address", 2, "Mia Chen", "mia@example.org"),
    )
    ids = []
    for subject, minutes, name, email in waits:
        item_id = assigned(
            floor,
            floor.agent1,
            subject,
            at=utcnow() - timedelta(minutes=minutes),
            customer=email,
            text=f"Hello,\n\n{subject}. Could you help me with this today?\n\nThanks,\n{name}",
        )
        session().get(Interaction, item_id).customer_name = name
        ids.append(item_id)
    session().commit()
    opened = ids[1]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.set_default_timeout(15_000)
        browser_login(page, live_server, USERS["agent1"][0], TEST_PASSWORD)
        page.goto(f"{live_server}/ucmail/agent/?open={opened}&compose=reply")
        expect(page.locator("#composer-editor")).to_be_visible()
        page.locator("#composer-editor").click()
        page.keyboard.press("Control+Home")
        page.keyboard.type("Hello Carla, I am sorry about the parcel. A replacement leaves today.")
        expect(page.locator("#ucmail-tray li")).to_have_count(len(ids))

        for selector in ("#ucmail-tray li:first-child", "#ucmail-timeline", "#composer-editor"):
            box = page.locator(selector).bounding_box()
            assert _in_view(box, width, height), (selector, box)
        page.screenshot(path=f"/tmp/shots/agent-desk-{width}x{height}.png")
    finally:
        context.close()
