"""The deliverability check reads SPF, DKIM and DMARC from a real (local) DNS server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from example_host_app.extensions import db
from tests.dialer import helpers as dialer_helpers
from tests.fixtures.dns_server import DnsServer
from ucmail_ext.models import Campaign
from ucmail_ext.services.admin import deliverability
from ucmail_ext.services.admin import dkim as dkim_service

pytestmark = pytest.mark.integration

SPF = "v=spf1 ip4:192.0.2.10 include:_spf.mailer.example -all"
DMARC = "v=DMARC1; p=quarantine; rua=mailto:dmarc@shop.example"


@pytest.fixture
def ctx(make_app, dns_server: DnsServer) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    app = make_app("sqlite", UCMAIL_DNS_RESOLVER=dns_server.address, UCMAIL_DNS_TIMEOUT=2)
    with app.app_context():
        yield app


@pytest.fixture
def campaign(ctx: Flask) -> Campaign:
    campaign_id = dialer_helpers.make_campaign(2525)  # sender news@shop.example
    result = dkim_service.generate_key(
        campaign_id, domain="shop.example", selector="ucm1", with_ed25519=False, actor_id="1"
    )
    assert result.ok
    assert dkim_service.set_signing(campaign_id, True, actor_id="1").ok
    return db.session.get(Campaign, campaign_id)


def publish_all(dns: DnsServer, campaign: Campaign) -> None:
    [record] = dkim_service.dns_records(campaign)
    dns.records["shop.example"] = [SPF, "google-site-verification=abc"]
    dns.records[record.name] = [record.value]
    dns.records["_dmarc.shop.example"] = [DMARC]


def verdicts(report: deliverability.Report) -> dict[str, str]:
    return {check.name: check.status for check in report.checks}


def test_every_record_published_passes(campaign: Campaign, dns_server: DnsServer) -> None:
    publish_all(dns_server, campaign)

    report = deliverability.check_campaign(campaign)

    assert verdicts(report) == {"SPF": "pass", "DKIM": "pass", "DMARC": "pass"}
    assert report.status == "pass" and report.domain == "shop.example"
    assert {"shop.example", "ucm1._domainkey.shop.example"} <= set(dns_server.queries)


def test_missing_records_fail_and_say_what_to_publish(
    campaign: Campaign, dns_server: DnsServer
) -> None:
    report = deliverability.check_campaign(campaign)

    checks = {check.name: check for check in report.checks}
    assert verdicts(report) == {"SPF": "fail", "DKIM": "fail", "DMARC": "fail"}
    assert "v=spf1" in checks["SPF"].fix
    [record] = dkim_service.dns_records(campaign)
    assert record.value in checks["DKIM"].fix and record.name in checks["DKIM"].fix
    assert "_dmarc.shop.example" in checks["DMARC"].fix


def test_a_published_key_that_is_not_the_campaigns_fails(
    campaign: Campaign, dns_server: DnsServer
) -> None:
    publish_all(dns_server, campaign)
    # An older key left in DNS after "Generate key" was pressed again.
    assert dkim_service.generate_key(
        campaign.id, domain="shop.example", selector="ucm1", with_ed25519=False, actor_id="1"
    ).ok

    report = deliverability.check_campaign(db.session.get(Campaign, campaign.id))

    dkim_check = next(c for c in report.checks if c.name == "DKIM")
    assert dkim_check.status == "fail"
    assert "not this campaign's key" in dkim_check.message
    assert dkim_check.fix.startswith("Replace it.")


def test_dmarc_none_warns(campaign: Campaign, dns_server: DnsServer) -> None:
    publish_all(dns_server, campaign)
    dns_server.records["_dmarc.shop.example"] = ["v=DMARC1; p=none"]

    report = deliverability.check_campaign(campaign)

    assert verdicts(report)["DMARC"] == "warn" and report.status == "warn"
    assert "p=quarantine" in next(c for c in report.checks if c.name == "DMARC").fix


def test_dmarc_of_the_parent_domain_applies(ctx: Flask, dns_server: DnsServer) -> None:
    campaign_id = dialer_helpers.make_campaign(2525, email_address="news@mail.shop.example")
    campaign = db.session.get(Campaign, campaign_id)
    dns_server.records["_dmarc.shop.example"] = [DMARC]

    check = deliverability.check_dmarc(deliverability.resolver(), "mail.shop.example")

    assert check.status == "pass" and check.lookup == "_dmarc.shop.example"
    assert campaign.email_address.endswith("shop.example")


@pytest.mark.parametrize(
    ("spf", "status"),
    [
        ("v=spf1 mx ~all", "pass"),
        ("v=spf1 mx +all", "fail"),
        ("v=spf1 mx", "warn"),
    ],
)
def test_spf_policy(campaign: Campaign, dns_server: DnsServer, spf: str, status: str) -> None:
    dns_server.records["shop.example"] = [spf]

    check = deliverability.check_spf(deliverability.resolver(), "shop.example")

    assert check.status == status and check.record == spf


def test_two_spf_records_fail(campaign: Campaign, dns_server: DnsServer) -> None:
    dns_server.records["shop.example"] = ["v=spf1 mx -all", "v=spf1 a -all"]

    check = deliverability.check_spf(deliverability.resolver(), "shop.example")

    assert check.status == "fail" and "Merge" in check.fix


def test_a_matching_key_with_signing_off_warns(campaign: Campaign, dns_server: DnsServer) -> None:
    publish_all(dns_server, campaign)
    dkim_service.set_signing(campaign.id, False, actor_id="1")

    report = deliverability.check_campaign(db.session.get(Campaign, campaign.id))

    assert verdicts(report)["DKIM"] == "warn"
    assert "Enable DKIM signing" in next(c for c in report.checks if c.name == "DKIM").fix


def test_no_answer_within_the_timeout_warns_instead_of_hanging(
    make_app,
    dns_server: DnsServer,  # type: ignore[no-untyped-def]
) -> None:
    app = make_app("sqlite", UCMAIL_DNS_RESOLVER=dns_server.address, UCMAIL_DNS_TIMEOUT=0.5)
    dns_server.records["shop.example"] = DnsServer.SILENT
    with app.app_context():
        check = deliverability.check_spf(deliverability.resolver(), "shop.example")

    assert check.status == "warn" and "Could not check" in check.message
    assert "within 0.5 s" in check.message


@pytest.mark.parametrize("setting", ["127.0.0.1:dns", "127.0.0.1:0", ":53"])
def test_a_malformed_resolver_setting_is_named_in_the_error(make_app, setting: str) -> None:  # type: ignore[no-untyped-def]
    app = make_app("sqlite", UCMAIL_DNS_RESOLVER=setting)
    with app.app_context(), pytest.raises(ValueError, match="UCMAIL_DNS_RESOLVER must be"):
        deliverability.resolver()


def test_a_resolver_without_a_port_uses_53(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app("sqlite", UCMAIL_DNS_RESOLVER="127.0.0.1")
    with app.app_context():
        res = deliverability.resolver()
    assert res.nameservers == ["127.0.0.1"] and res.port == 53
