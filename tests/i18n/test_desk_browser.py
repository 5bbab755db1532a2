"""An agent and a supervisor whose browsers are Spanish work in Spanish: the portal, the
supervision dashboard, the recordings and the dialer, including what the scripts write
after the page loaded (tray, live tables, states)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from flask import Flask

from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.live import browser_login
from tests.i18n import test_desk_pages_in_spanish as desk_pages
from tests.i18n.helpers import po_path, spanish_texts, visible_text, words
from tests.i18n.test_desk_pages_in_spanish import DATA, Seeded
from tests.i18n.test_pages_in_spanish import KEPT

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SHOTS = Path("/tmp/shots")
seeded = desk_pages.seeded  # the same rows as the page tests


def _spanish_words() -> set[str]:
    """Both catalogs: the pages' own (ucmail) and the scripts' (ucmail_js)."""
    with po_path("es", "ucmail_js").open("rb") as fh:
        script = read_po(fh)
    texts = set(spanish_texts())
    for message in script:
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        texts.update(form for form in forms if form)
    return words(" ".join(texts))


def _english_left(page: Any) -> list[str]:
    # The live page, as the scripts left it (its <template>s and <script>s aside).
    html = page.evaluate("document.documentElement.outerHTML")
    return sorted(words(visible_text(html)) - _spanish_words() - KEPT - DATA)


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"i18n-desk-{name}.png"))


def test_an_agent_whose_browser_is_spanish_works_in_spanish(
    spanish_page: Any, live_server: str, app: Flask, seeded: Seeded
) -> None:
    from playwright.sync_api import expect

    page = spanish_page
    browser_login(page, live_server, USERS["agent1"][0], TEST_PASSWORD)
    page.goto(f"{live_server}/ucmail/agent/?open={seeded.interaction_id}&compose=reply")
    expect(page.locator("#tray-heading")).to_contain_text("Mis interacciones")
    # The tray is rebuilt by agent.js from tray.json: its words come from the script.
    expect(page.locator("#ucmail-tray li")).to_have_count(1)
    expect(page.locator(".rich-toolbar button").first).to_be_visible()
    _shot(page, "portal")
    assert not _english_left(page), _english_left(page)


def test_a_supervisor_whose_browser_is_spanish_works_in_spanish(
    spanish_page: Any, live_server: str, app: Flask, seeded: Seeded
) -> None:
    from playwright.sync_api import expect

    page = spanish_page
    browser_login(page, live_server, USERS["supervisor"][0], TEST_PASSWORD)
    page.goto(f"{live_server}/ucmail/supervision/")
    # Filled by supervision.js from the feed.
    expect(page.locator("#sv-agents tbody tr[data-agent-id]")).to_have_count(1)
    expect(page.locator("#sv-waiting tbody")).to_contain_text("Nadie")
    page.locator("#sv-agents tbody tr[data-agent-id]").click()
    expect(page.locator("#sv-action-pause")).to_have_text("Pausar")
    _shot(page, "supervision")
    assert not _english_left(page), _english_left(page)

    for name, path in (
        ("spy", f"/ucmail/supervision/agents/{seeded.agent_id}/spy"),
        ("recording", f"/ucmail/recordings/{seeded.interaction_id}"),
        ("dialer-list", f"/ucmail/dialer/lists/{seeded.list_id}"),
        ("dialer-monitor", "/ucmail/dialer/monitor"),
    ):
        page.goto(live_server + path)
        page.wait_for_load_state("networkidle")
        if name == "spy":
            # Message times in the supervisor's zone and language, not raw UTC ISO stamps.
            meta = page.locator("article.sv-message .sv-meta").first
            expect(meta).not_to_have_text(re.compile(r"\d{4}-\d\d-\d\d"))
        if name == "dialer-list":
            # A decimal comma, as the page's figures refresh.
            expect(page.locator('.ucmail-dialer-progress [data-field="percent"]')).to_have_text(
                "100,0"
            )
        _shot(page, name)
        assert not _english_left(page), f"{path}: {_english_left(page)}"
