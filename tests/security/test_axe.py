"""Accessibility (issue 12, point 10): axe-core, run in Chromium on the pages people use
all day — the agent portal with a conversation and the editor open, supervision, the
campaigns admin and the dialer — finds no serious or critical violation.

axe-core is a test-only file (tests/fixtures/static/axe.min.js, from the npm package,
MPL-2.0); the pages' CSP allows only their own scripts, so the test context bypasses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import Floor
from tests.agent.helpers import add_file, assigned
from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.live import browser_login, screen_page
from tests.routing.helpers import session
from ucmail_ext.models import Campaign, Interaction, Message, utcnow

pytestmark = [pytest.mark.browser, pytest.mark.integration]

AXE = Path(__file__).resolve().parents[1] / "fixtures" / "static" / "axe.min.js"
SERIOUS = ("serious", "critical")


@pytest.fixture
def axe_page(browser: Any) -> Iterator[Any]:
    with screen_page(browser, bypass_csp=True) as page:
        yield page


def serious_violations(page: Any) -> list[str]:
    """axe's serious and critical findings on the page as it is now, one line each."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        """async () => {
            const r = await axe.run(document, { resultTypes: ["violations"] });
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(" ") + " :: " + n.failureSummary),
            }));
        }"""
    )
    return [
        f"{v['impact']} {v['id']} ({v['help']}): {node}"
        for v in results
        if v["impact"] in SERIOUS
        for node in v["nodes"]
    ]


def _conversation(floor: Floor) -> int:
    """A conversation with a reply, a file and a threshold colour: the busy case."""
    campaign = session().get(Campaign, floor.campaign_id)
    campaign.threshold_warning_seconds = 60
    campaign.dispositions = "solved\nno answer needed"
    session().commit()
    interaction_id = assigned(floor, floor.agent1, "Printer on fire")
    interaction = session().get(Interaction, interaction_id)
    add_file(interaction.messages[0], "photo.png", b"GIF89a", "image/png")
    interaction.messages.append(
        Message(
            campaign_id=campaign.id,
            direction="out",
            status="sent",
            message_id=f"out-{utcnow().timestamp()}@ucmail.test",
            from_addr=campaign.email_address,
            to_addrs=interaction.customer_email,
            subject="Re: Printer on fire",
            text="We are on it.",
        )
    )
    session().commit()
    assigned(floor, floor.agent1, "Second question")
    return interaction_id


def test_the_agent_portal_has_no_serious_accessibility_violation(
    axe_page: Any, floor: Floor, live_server: str
) -> None:
    from playwright.sync_api import expect

    interaction_id = _conversation(floor)
    browser_login(axe_page, live_server, USERS["agent1"][0], TEST_PASSWORD)

    axe_page.goto(f"{live_server}/ucmail/agent/")
    expect(axe_page.locator("#ucmail-tray li")).to_have_count(2)
    assert serious_violations(axe_page) == []

    axe_page.goto(f"{live_server}/ucmail/agent/?open={interaction_id}&compose=reply")
    expect(axe_page.locator("#composer-editor")).to_be_visible()
    axe_page.locator("details#note summary").click()
    axe_page.screenshot(path="/tmp/shots/agent-conversation-1366x768.png")
    assert serious_violations(axe_page) == []

    axe_page.keyboard.press("Escape")
    axe_page.locator("body").click(position={"x": 5, "y": 5})
    axe_page.keyboard.press("?")
    expect(axe_page.locator("#shortcuts-help")).to_be_visible()
    axe_page.screenshot(path="/tmp/shots/agent-shortcuts-1366x768.png")
    assert serious_violations(axe_page) == []

    axe_page.goto(f"{live_server}/ucmail/agent/new")
    assert serious_violations(axe_page) == []


def test_supervision_has_no_serious_accessibility_violation(
    axe_page: Any, floor: Floor, live_server: str
) -> None:
    from playwright.sync_api import expect

    _conversation(floor)
    browser_login(axe_page, live_server, USERS["supervisor"][0], TEST_PASSWORD)
    axe_page.goto(f"{live_server}/ucmail/supervision/")
    expect(axe_page.locator("body")).to_contain_text("Alice Agent", timeout=30_000)

    assert serious_violations(axe_page) == []


def test_campaigns_admin_and_dialer_have_no_serious_accessibility_violation(
    axe_page: Any, floor: Floor, live_server: str
) -> None:
    browser_login(axe_page, live_server, USERS["admin"][0], TEST_PASSWORD)
    found: dict[str, list[str]] = {}
    for path in (
        "/ucmail/campaigns/",
        f"/ucmail/campaigns/{floor.campaign_id}",
        "/ucmail/dialer/",
        "/ucmail/dialer/monitor",
    ):
        response = axe_page.goto(f"{live_server}{path}")
        assert response is not None and response.status == 200, path
        found[path] = serious_violations(axe_page)

    assert found == {path: [] for path in found}
