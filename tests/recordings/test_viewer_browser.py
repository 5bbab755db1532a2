"""The recording viewer as a supervisor sees it in Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.live import browser_login
from tests.supervision.factories import add_message, make_campaign, make_interaction, session

pytestmark = pytest.mark.browser


@pytest.fixture
def recording(app: Flask, users: dict[str, Any]) -> int:
    with app.app_context():
        campaign = make_campaign("Sales")
        interaction = make_interaction(
            campaign,
            "eve@example.org",
            "Printer question",
            state="closed",
            agent_id=str(users["agent1"].id),
        )
        add_message(interaction, "in", "Hi, how do I print?")
        add_message(interaction, "out", "Thanks, fixed.\n-- \nSupport")
        session().commit()
        return interaction.id


def test_the_print_button_shows_a_drawn_icon_not_a_missing_glyph(
    page: Page, live_server: str, recording: int
) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    browser_login(page, live_server, USERS["supervisor"][0], TEST_PASSWORD)
    page.goto(f"{live_server}/ucmail/recordings/{recording}")
    button = page.locator("#rec-print")
    expect(button).to_have_text("Print")
    icon = button.locator("svg.icon use")
    expect(icon).to_have_count(1)
    # The sprite is fetched separately: wait until the symbol is drawn, at text size.
    page.wait_for_function(
        "() => { const u = document.querySelector('#rec-print svg.icon use');"
        " const b = u && u.getBBox(); return b && b.width > 0 && b.height > 0; }",
        timeout=30_000,
    )
    box = button.locator("svg.icon").bounding_box()
    assert box is not None and 8 <= box["width"] <= 24 and 8 <= box["height"] <= 24
    page.screenshot(path="/tmp/shots/h16-recordings-print.png")
