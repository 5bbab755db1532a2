"""An admin sets up DKIM and reads the deliverability check in a real browser (Chromium).

Each step leaves a 1366x768 screenshot under /tmp/shots/ for a person to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from example_host_app.extensions import db
from tests.agent.helpers import sink_campaign, stored_reply
from tests.deliverability.helpers import relayed, verify_all
from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.dns_server import DnsServer
from tests.fixtures.live import browser_login
from tests.fixtures.servers import SmtpSink
from ucmail_ext.services.admin.dkim import DnsRecord
from ucmail_ext.services.desk import send

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SHOTS = Path("/tmp/shots")


def shot(page: Any, name: str, anchor: str = "#dkim") -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(anchor).scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_admin_generates_a_key_publishes_it_checks_and_signs(
    page: Any, live_server: str, app: Flask, dns_server: DnsServer, smtp_sink: SmtpSink
) -> None:
    from playwright.sync_api import expect

    with app.app_context():
        campaign_id = sink_campaign(smtp_sink, email_address="support@shop.example").id
    page.set_viewport_size({"width": 1366, "height": 768})
    page.set_default_timeout(20_000)
    browser_login(page, live_server, USERS["admin"][0], TEST_PASSWORD)
    page.goto(f"{live_server}/ucmail/campaigns/{campaign_id}")
    expect(page.locator("#dkim-state")).to_contain_text("No DKIM key")
    expect(page.locator("#dkim_domain")).to_have_value("shop.example")
    shot(page, "dkim-1-no-key")

    # A wrong selector is refused next to its field; what was typed stays.
    page.fill("#dkim_selector", "bad selector")
    page.click("#dkim-generate")
    expect(page.locator(".ucmail-flash-error")).to_contain_text("not generated")
    expect(page.locator("#dkim-form .ucmail-error")).to_contain_text("A selector is letters")
    expect(page.locator("#dkim_selector")).to_have_value("bad selector")
    shot(page, "dkim-2-bad-selector", "#dkim-form")

    page.fill("#dkim_selector", "helpdesk1")
    page.check("#dkim_ed25519")
    page.click("#dkim-generate")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("Publish the TXT record")
    expect(page.locator("#dkim-state")).to_contain_text("Signing off")
    names = page.locator("[data-record-name]").all_inner_texts()
    values = [v.input_value() for v in page.locator("[data-record-value]").all()]
    assert names == ["helpdesk1._domainkey.shop.example", "helpdesk1-ed._domainkey.shop.example"]
    assert values[0].startswith("v=DKIM1; k=rsa; p=")
    assert "PRIVATE" not in page.content()
    shot(page, "dkim-3-records", "#dkim-records")

    # The admin publishes what the page says, plus SPF and a monitoring-only DMARC.
    for name, value in zip(names, values, strict=True):
        dns_server.records[name] = [value]
    dns_server.records["shop.example"] = ["v=spf1 ip4:192.0.2.10 -all"]
    dns_server.records["_dmarc.shop.example"] = ["v=DMARC1; p=none; rua=mailto:d@shop.example"]

    page.click("#check-deliverability")
    rows = page.locator("#deliverability tr[data-check]")
    expect(rows).to_have_count(4)
    expect(page.locator('[data-check="SPF"]')).to_have_attribute("data-status", "pass")
    expect(page.locator('[data-check="DKIM"]')).to_have_attribute("data-status", "warn")
    expect(page.locator('[data-check="DKIM"]')).to_contain_text("Enable DKIM signing")
    expect(page.locator('[data-check="DKIM Ed25519"]')).to_have_attribute("data-status", "pass")
    expect(page.locator('[data-check="DMARC"]')).to_have_attribute("data-status", "warn")
    shot(page, "dkim-4-check-signing-off", "#deliverability")

    page.click("#dkim-enable")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("DKIM signing enabled")
    expect(page.locator("#dkim-state")).to_contain_text("Signing on")
    page.click("#check-deliverability")
    expect(page.locator('[data-check="DKIM"]')).to_have_attribute("data-status", "pass")
    shot(page, "dkim-5-check-signing-on", "#deliverability")

    # A reply sent now verifies against exactly what the page told the admin to publish.
    with app.app_context():
        from ucmail_ext.models import Campaign

        reply = stored_reply(db.session.get(Campaign, campaign_id))
        assert send.deliver(reply.id).status == "sent"
    [received] = smtp_sink.wait_for(1)
    published = [DnsRecord(n, v, "") for n, v in zip(names, values, strict=True)]
    assert verify_all(relayed(received.raw), published) == [True, True]

    # Missing records fail, with the fix spelled out.
    dns_server.records.clear()
    page.click("#check-deliverability")
    for name in ("SPF", "DKIM", "DMARC"):
        expect(page.locator(f'[data-check="{name}"]')).to_have_attribute("data-status", "fail")
    expect(page.locator('[data-check="DKIM"] .ucmail-fix')).to_contain_text(values[0][:40])
    shot(page, "dkim-6-check-missing", "#deliverability")
