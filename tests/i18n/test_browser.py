"""In a real browser set to Spanish: the screens, and a Spanish campaign's customer pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.live import browser_login, screen_page
from tests.i18n.helpers import (
    answered_interaction,
    dialer_record,
    rating_path,
    spanish_campaign,
)
from tests.i18n.test_pages_in_spanish import _english_left

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SHOTS = Path("/tmp/shots")


@pytest.fixture
def english_page(browser: Any) -> Iterator[Any]:
    with screen_page(browser, locale="en-US") as page:
        yield page


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"i18n-{name}.png"))


def test_an_admin_whose_browser_is_spanish_sees_the_admin_screens_in_spanish(
    spanish_page: Any, live_server: str, app: Flask
) -> None:
    from playwright.sync_api import expect

    with app.app_context():
        campaign_id = spanish_campaign("Ventas").id
    page = spanish_page
    browser_login(page, live_server, USERS["admin"][0], TEST_PASSWORD)
    for name, path, heading in (
        ("campaigns", f"/ucmail/campaigns/{campaign_id}", "Campañas"),
        ("templates", "/ucmail/templates/", "Plantillas"),
        ("members", "/ucmail/members/", "Miembros"),
    ):
        page.goto(live_server + path)
        expect(page.locator("h1")).to_have_text(heading)
        expect(page.locator(".ucmail-nav")).to_contain_text("Discador")
        left = _english_left(page.content())
        assert not left, f"{path}: English left {sorted(left)}"
        _shot(page, name)

    # A form error comes back in Spanish too.
    page.goto(live_server + "/ucmail/campaigns/")
    page.fill("#name", "Ventas")
    page.click("#save-campaign")
    expect(page.locator(".ucmail-flash-error")).to_contain_text("La campaña no se creó")
    expect(page.locator("#error-name")).to_have_text("Otra campaña ya tiene este nombre.")


def test_a_spanish_campaigns_customer_rates_and_unsubscribes_in_spanish(
    english_page: Any, live_server: str, app: Flask
) -> None:
    """The customer's browser says English; the campaign says Spanish, and wins."""
    from playwright.sync_api import expect

    from tests.i18n.helpers import unsubscribe_path

    with app.app_context():
        campaign = spanish_campaign("Ventas")
        rate = rating_path(answered_interaction(campaign), 5)
        unsubscribe = unsubscribe_path(dialer_record(campaign))
    page = english_page

    page.goto(live_server + rate)
    expect(page.locator("h1")).to_have_text("Gracias")
    expect(page.locator("main")).to_contain_text("Gracias por tu calificación.")
    assert page.locator("html").get_attribute("lang") == "es"
    _shot(page, "rating")

    page.goto(live_server + unsubscribe)
    expect(page.locator("h1")).to_have_text("Darse de baja")
    expect(page.locator("main")).to_contain_text("¿Dejar de enviar estos correos a c***@")
    _shot(page, "unsubscribe")
    page.get_by_role("button", name="Darse de baja").click()
    expect(page.locator("h1")).to_have_text("Te diste de baja")
    _shot(page, "unsubscribed")


KEYS = {"ctrl", "enter", "esc", "shift"}  # key caps, as printed on the keyboard


@pytest.mark.parametrize(
    ("who", "screens"),
    [
        ("agent1", [("portal", "/ucmail/agent/"), ("recordings", "/ucmail/recordings/")]),
        (
            "supervisor",
            [
                ("supervision", "/ucmail/supervision/"),
                ("dialer", "/ucmail/dialer/"),
                ("dialer-monitor", "/ucmail/dialer/monitor"),
            ],
        ),
    ],
)
def test_agents_and_supervisors_whose_browser_is_spanish_work_in_spanish(
    spanish_page: Any, live_server: str, app: Flask, users: Any, who: str, screens: list
) -> None:
    """The live screens too, after their scripts have filled them in."""
    from tests.i18n.helpers import make_member

    with app.app_context():
        make_member(spanish_campaign("Ventas"), str(users["agent1"].id))
    page = spanish_page
    browser_login(page, live_server, USERS[who][0], TEST_PASSWORD)
    for name, path in screens:
        page.goto(live_server + path)
        page.wait_for_load_state("networkidle")
        left = _english_left(page.content()) - KEYS
        assert not left, f"{path}: English left {sorted(left)}"
        _shot(page, name)
