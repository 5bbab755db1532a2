"""The dialer's live screens in a real browser: the progress graph and the monitoring
table follow a running list without a reload."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from flask import Flask

from example_host_app.extensions import db
from tests.dialer import helpers
from tests.dialer.helpers import csv_text, upload
from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.live import browser_login
from tests.fixtures.servers import SmtpSink
from ucmail_ext.models import Dialer
from ucmail_ext.services.dialer import send as dialer_send

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(autouse=True)
def live_settings(app: Flask) -> None:
    """The test runs the list itself (no dispatch); the screens poll fast enough to watch."""
    app.config["UCMAIL_DISPATCH"] = "off"
    app.config["UCMAIL_LIVE_POLL_MS"] = 300


def test_progress_and_monitoring_update_live_while_a_list_is_sent(
    app: Flask, page: Any, live_server: str, sink: SmtpSink
) -> None:
    from playwright.sync_api import expect

    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(sink.port), seconds_between=0.03)
        list_id = upload(dialer_id, csv_text(helpers.simple_rows(40)), subject="Hi").list_id
    base = live_server
    page.set_default_timeout(15_000)
    browser_login(page, base, USERS["supervisor"][0], TEST_PASSWORD)

    page.goto(f"{base}/ucmail/dialer/lists/{list_id}")
    figures = page.locator(".ucmail-dialer-progress").first
    expect(figures.locator('[data-field="percent"]')).to_have_text("0.0")
    page.click("[data-action=play]")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("Sending")

    def worker() -> None:
        with app.app_context():
            dialer_send.run_list(list_id)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        expect(figures.locator('[data-field="percent"]')).not_to_have_text("0.0")
        expect(figures.locator('[data-field="percent"]')).to_have_text("100.0")
        expect(page.locator('td[data-field="sent"]')).to_have_text("40")
        bar = figures.locator('[data-field="bar"]')
        expect(bar).to_have_attribute("style", re.compile(r"width: 100%"))
    finally:
        thread.join(30)

    page.goto(f"{base}/ucmail/dialer/monitor")
    row = page.locator(f'#dialer-monitor tr[data-list-id="{list_id}"]')
    expect(row.locator("td").nth(5)).to_have_text("40")
    expect(row.locator("td").nth(9)).to_have_text("0")
    html = helpers.parse(sink.messages[0].raw).get_body(("html",)).get_content()
    pixel = re.search(r'src="http://helpdesk\.test([^"]+\.gif)"', html).group(1)
    page.request.get(f"{base}{pixel}")
    expect(row.locator("td").nth(9)).to_have_text("1")


def test_dialer_form_adds_schedules_and_shows_event_fields_on_demand(
    app: Flask, page: Any, live_server: str
) -> None:
    from playwright.sync_api import expect

    with app.app_context():
        helpers.make_campaign(25)
    base = live_server
    page.set_default_timeout(15_000)
    browser_login(page, base, USERS["supervisor"][0], TEST_PASSWORD)
    page.goto(f"{base}/ucmail/dialer/")

    expect(page.locator("#event-fields")).to_be_hidden()
    page.check("#event_enabled")
    expect(page.locator("#event-fields")).to_be_visible()
    page.click("#schedule-add")
    page.click("#schedule-add")
    expect(page.locator("#schedule-rows tr")).to_have_count(2)
    page.locator("#schedule-rows tr").nth(1).locator("[data-schedule-remove]").click()
    page.select_option("#campaign_id", label=helpers.CAMPAIGN)
    page.fill("#event_title", "Visit of ${name}")
    page.fill("#event_start", "${start}")
    page.fill("#event_end", "${end}")
    page.click("#dialer-form button[type=submit]")

    expect(page.locator(".ucmail-flash-success")).to_contain_text("saved")
    with app.app_context():
        dialer = db.session.query(Dialer).one()
        assert dialer.event_enabled and dialer.event_title == "Visit of ${name}"
