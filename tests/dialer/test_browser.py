"""The dialer's live screens in a real browser: the progress graph and the monitoring
table follow a running list without a reload."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
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
from ucmail_ext.services.dialer import dialers as dialer_service
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
    headers = page.locator("#dialer-monitor thead th").all_inner_texts()
    seen = row.locator("td").nth(headers.index("Seen"))
    expect(row.locator("td").nth(headers.index("Processed"))).to_have_text("40")
    expect(seen).to_have_text("0")
    html = helpers.parse(sink.messages[0].raw).get_body(("html",)).get_content()
    pixel = re.search(r'src="http://helpdesk\.test([^"]+\.gif)"', html).group(1)
    page.request.get(f"{base}{pixel}")
    expect(seen).to_have_text("1")


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


def _shot(page: Any, name: str) -> None:
    """Screenshots for a human look when UCMAIL_TEST_SHOTS names a folder."""
    folder = os.environ.get("UCMAIL_TEST_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_failed_records_are_listed_filtered_and_the_list_deleted_after_confirmation(
    app: Flask, page: Any, live_server: str, sink: SmtpSink
) -> None:
    from playwright.sync_api import expect

    sink.refused_recipients["nobody@mail.example"] = "550 5.1.1 no such user"
    rows = helpers.simple_rows(3) + [
        f'{helpers.CAMPAIGN};nobody@mail.example;;;"name":"Nobody";',
        f"{helpers.CAMPAIGN};nameless@mail.example;;;;",
    ]
    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(sink.port))
        list_id = upload(dialer_id, csv_text(rows), subject="Hi ${name}").list_id
        assert dialer_service.play_list(list_id, None, "1").ok
        dialer_send.run_list(list_id)
    base = live_server
    page.set_viewport_size({"width": 1366, "height": 768})
    page.set_default_timeout(15_000)
    browser_login(page, base, USERS["supervisor"][0], TEST_PASSWORD)

    page.goto(f"{base}/ucmail/dialer/lists/{list_id}")
    table = page.locator("#record-table tbody tr")
    expect(table).to_have_count(2)
    expect(table.nth(0)).to_contain_text("nobody@mail.example")
    expect(table.nth(0)).to_contain_text("no such user")
    expect(table.nth(1)).to_contain_text("missing variable(s): name")
    _shot(page, "dialer-list-failed-records.png")
    page.select_option("#record-state", "failed")
    expect(page).to_have_url(re.compile(r"state=failed"))
    expect(table).to_have_count(1)
    expect(table.nth(0)).to_contain_text("nameless@mail.example")
    export = page.locator("#records-export")
    expect(export).to_have_attribute("href", re.compile(r"records\.csv\?state=failed$"))

    page.goto(f"{base}/ucmail/dialer/{dialer_id}")
    bad = csv_text(
        [
            f"{helpers.CAMPAIGN};not-an-address;;;;",
            f"{helpers.CAMPAIGN};a@mail.example;;;a=1:t=10:30;",
        ]
    )
    page.set_input_files("#file", {"name": "bad.csv", "mimeType": "text/csv", "buffer": bad})
    page.click("#upload-form button[type=submit]")
    expect(page.locator("#upload-error")).to_contain_text("no list was created")
    expect(page.locator("#upload-problems tbody tr")).to_have_count(2)
    expect(page.locator("#upload-problems")).to_contain_text('"a":"1","t":"10:30"')
    _shot(page, "dialer-upload-errors.png")

    page.goto(f"{base}/ucmail/dialer/lists/{list_id}")
    page.click("[data-action=delete]")
    expect(page.locator("#delete-list")).to_contain_text("This cannot be undone")
    _shot(page, "dialer-delete-confirmation.png")
    page.click("#delete-list button.danger")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("deleted with its 5 record(s)")
    expect(page.locator(f'tr[data-list-id="{list_id}"]')).to_have_count(0)
