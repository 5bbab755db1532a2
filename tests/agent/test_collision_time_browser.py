"""The collision warning's times read in the agent's own zone, like every message time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.agent.conftest import Floor
from tests.agent.helpers import assigned
from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.live import browser_login, screen_page
from tests.routing.helpers import session
from tests.supervision.factories import add_message
from ucmail_ext.models import Interaction

pytestmark = [pytest.mark.browser, pytest.mark.integration]

WAIT_MS = 20_000  # generous: a shared 2-core machine; every wait is on a condition
# 01:30 on 10 March 2026 in UTC is 22:30 on the 9th in Montevideo (UTC-3, no DST).
LATE_EVENING = datetime(2026, 3, 10, 1, 30, tzinfo=UTC)


@pytest.fixture
def montevideo_page(browser: Any) -> Iterator[Any]:
    with screen_page(browser, WAIT_MS, locale="en-US", timezone_id="America/Montevideo") as page:
        yield page


def test_the_newer_message_warning_shows_the_agents_local_time_not_utc(
    montevideo_page: Any, floor: Floor, live_server: str
) -> None:
    from playwright.sync_api import expect

    page = montevideo_page
    interaction_id = assigned(floor, floor.agent1, "Shared")
    browser_login(page, live_server, USERS["agent1"][0], TEST_PASSWORD)
    page.goto(f"{live_server}/ucmail/agent/?open={interaction_id}&compose=reply")
    expect(page.locator("#composer-editor")).to_be_visible()

    add_message(
        session().get(Interaction, interaction_id),
        text="Never mind, it works now!",
        message_id="later-tz@example.org",
        from_name="Carla Customer",
        subject="Re: Shared",
        date=LATE_EVENING,
    )
    session().commit()

    editor = page.locator("#composer-editor")
    editor.click()
    editor.type("Here is how to fix it.", delay=20)
    page.click("#composer-send")

    shown = page.locator("#newer-warning .newer-message time")
    expect(shown).to_have_text("Mar 9, 2026, 10:30 PM")
    expect(page.locator("#newer-warning")).not_to_contain_text("UTC")
    page.screenshot(path="/tmp/shots/h16-collision-local-time.png")
