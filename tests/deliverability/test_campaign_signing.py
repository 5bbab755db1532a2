"""A campaign's DKIM key: generated, published, and used on every kind of mail it sends."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from flask import Flask

from example_host_app.extensions import db
from tests.agent.helpers import sink_campaign, stored_reply
from tests.deliverability.helpers import relayed, verify_all
from tests.dialer import helpers as dialer_helpers
from tests.fixtures.servers import SmtpSink
from ucmail_ext.crypto import build_cipher
from ucmail_ext.models import Campaign, Dialer, DialerRecord
from ucmail_ext.services.admin import credentials
from ucmail_ext.services.admin import dkim as dkim_service
from ucmail_ext.services.desk import send
from ucmail_ext.services.dialer import dialers as dialer_service

pytestmark = pytest.mark.integration


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


@pytest.fixture
def ctx(any_app: Flask) -> Iterator[Flask]:
    with any_app.app_context():
        yield any_app


def _signing_on(campaign_id: int, *, ed25519: bool = False) -> list[dkim_service.DnsRecord]:
    made = dkim_service.generate_key(
        campaign_id, domain="shop.example", selector="ucm1", with_ed25519=ed25519, actor_id="1"
    )
    assert made.ok, made.errors
    assert dkim_service.set_signing(campaign_id, True, actor_id="1").ok
    return dkim_service.dns_records(db.session.get(Campaign, campaign_id))


def test_dialer_mail_is_signed_and_verifies_after_the_relay(ctx: Flask, sink: SmtpSink) -> None:
    campaign_id = dialer_helpers.make_campaign(sink.port)
    records = _signing_on(campaign_id, ed25519=True)
    dialer_id = dialer_helpers.make_dialer(campaign_id)
    rows = dialer_helpers.simple_rows(3)
    report = dialer_helpers.upload(dialer_id, dialer_helpers.csv_text(rows), subject="Hi ${name}")
    assert dialer_service.play_list(report.list_id, None, "1").ok

    received = sink.wait_for(3)
    assert dialer_helpers.states(report.list_id) == {"sent": 3}
    for message in received:
        assert verify_all(relayed(message.raw), records) == [True, True]
        assert b"List-Unsubscribe-Post" in message.raw
        tampered = message.raw.replace(b"Customer", b"Kustomer", 1)
        assert verify_all(relayed(tampered), records) == [False, False]


@pytest.mark.parametrize("connections", [1, 3])
def test_a_long_list_signed_ahead_sends_each_record_its_own_message(
    ctx: Flask, sink: SmtpSink, connections: int
) -> None:
    campaign_id = dialer_helpers.make_campaign(sink.port, smtp_connections=connections)
    records = _signing_on(campaign_id)
    dialer_id = dialer_helpers.make_dialer(campaign_id)
    rows = dialer_helpers.simple_rows(45)  # more than the 16 rendered ahead
    report = dialer_helpers.upload(dialer_id, dialer_helpers.csv_text(rows), subject="Hi ${name}")
    assert dialer_service.play_list(report.list_id, None, "1").ok

    received = sink.wait_for(45, timeout=60)
    assert dialer_helpers.states(report.list_id) == {"sent": 45}
    by_recipient = {m.rcpt_tos[0]: m.raw for m in received}
    assert len(by_recipient) == 45
    for address, raw in by_recipient.items():
        message = dialer_helpers.parse(raw)
        number = address.removeprefix("customer").partition("@")[0]
        assert message["To"] == address and message["Subject"] == f"Hi Customer {number}"
        assert verify_all(relayed(raw), records) == [True]


def test_a_new_key_leaves_signing_off_until_enabled(ctx: Flask, sink: SmtpSink) -> None:
    campaign_id = dialer_helpers.make_campaign(sink.port)
    result = dkim_service.generate_key(
        campaign_id, domain="shop.example", selector="ucm1", with_ed25519=False, actor_id="1"
    )
    dialer_id = dialer_helpers.make_dialer(campaign_id)
    report = dialer_helpers.upload(
        dialer_id, dialer_helpers.csv_text(dialer_helpers.simple_rows(1))
    )
    assert dialer_service.play_list(report.list_id, None, "1").ok

    assert result.ok and "enable signing" in result.message
    [message] = sink.wait_for(1)
    assert b"DKIM-Signature" not in message.raw


def test_agent_replies_and_autoreplies_are_signed(ctx: Flask, smtp_sink: SmtpSink) -> None:
    campaign = sink_campaign(smtp_sink, email_address="support@shop.example")
    records = _signing_on(campaign.id)
    reply = stored_reply(campaign)
    auto = stored_reply(campaign, text="We got your mail.")
    auto.kind = "autoreply"
    db.session.commit()

    assert send.deliver(reply.id).status == "sent"
    assert send.deliver(auto.id).status == "sent"

    received = smtp_sink.wait_for(2)
    assert [verify_all(relayed(m.raw), records) for m in received] == [[True], [True]]
    assert b"Auto-Submitted: auto-replied" in received[1].raw
    db.session.expire_all()
    # The stored copy is the signed message that went out (smtplib adds the last CRLF).
    stored = db.session.get(type(reply), reply.id).raw.raw
    assert stored.rstrip(b"\r\n") == received[0].raw.rstrip(b"\r\n")
    assert verify_all(stored, records) == [True]


def test_the_record_shows_only_the_public_key(ctx: Flask, sink: SmtpSink) -> None:
    campaign_id = dialer_helpers.make_campaign(sink.port)
    _signing_on(campaign_id, ed25519=True)
    campaign = db.session.get(Campaign, campaign_id)

    view = dkim_service.dkim_view(campaign)

    names = [r["name"] for r in view["records"]]
    assert names == ["ucm1._domainkey.shop.example", "ucm1-ed._domainkey.shop.example"]
    assert view["records"][0]["value"].startswith("v=DKIM1; k=rsa; p=MIIBIjAN")
    assert view["records"][1]["value"].startswith("v=DKIM1; k=ed25519; p=")
    assert "PRIVATE" not in str(view)
    # A 2048-bit key's record is longer than one TXT string: the zone line splits it.
    assert view["records"][0]["zone"].count('" "') == 1


@pytest.mark.parametrize(
    ("domain", "selector", "field"),
    [
        ("shop example", "ucm1", "dkim_domain"),
        ("other.example", "ucm1", "dkim_domain"),
        ("shop.example", "bad selector!", "dkim_selector"),
    ],
)
def test_a_bad_domain_or_selector_is_refused_and_keeps_the_old_key(
    ctx: Flask, sink: SmtpSink, domain: str, selector: str, field: str
) -> None:
    campaign_id = dialer_helpers.make_campaign(sink.port)
    _signing_on(campaign_id)
    before = db.session.get(Campaign, campaign_id).dkim_private_key_encrypted

    result = dkim_service.generate_key(
        campaign_id, domain=domain, selector=selector, with_ed25519=False, actor_id="1"
    )

    assert not result.ok and field in result.errors
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign.dkim_private_key_encrypted == before and campaign.dkim_enabled


def test_signing_cannot_be_enabled_without_a_key(ctx: Flask, sink: SmtpSink) -> None:
    campaign_id = dialer_helpers.make_campaign(sink.port)

    result = dkim_service.set_signing(campaign_id, True, actor_id="1")

    assert not result.ok and "Generate a DKIM key first" in result.message
    assert not db.session.get(Campaign, campaign_id).dkim_enabled


def test_rotate_keys_reencrypts_the_dkim_keys(app: Flask, sink: SmtpSink) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with app.app_context():
        app.extensions["ucmail"].cipher = build_cipher([old], None)
        campaign_id = dialer_helpers.make_campaign(sink.port)
        before = [r.value for r in _signing_on(campaign_id, ed25519=True)]
        app.extensions["ucmail"].cipher = build_cipher([new, old], None)

    result = app.test_cli_runner().invoke(args=["ucmail", "rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted 2 mailbox secret(s)" in result.output
    assert "PRIVATE" not in result.output

    with app.app_context():
        app.extensions["ucmail"].cipher = build_cipher([new], None)
        campaign = db.session.get(Campaign, campaign_id)
        assert [r.value for r in dkim_service.dns_records(campaign)] == before
        assert dkim_service.signer_for(campaign) is not None
        assert credentials.rotate_mailbox_passwords() == 2


def test_an_unreadable_key_pauses_the_dialer_with_the_reason(ctx: Flask, sink: SmtpSink) -> None:
    campaign_id = dialer_helpers.make_campaign(sink.port)
    _signing_on(campaign_id)
    ctx.extensions["ucmail"].cipher = build_cipher([Fernet.generate_key().decode()], None)
    dialer_id = dialer_helpers.make_dialer(campaign_id)
    report = dialer_helpers.upload(
        dialer_id, dialer_helpers.csv_text(dialer_helpers.simple_rows(1))
    )

    dialer_service.play_list(report.list_id, None, "1")

    assert sink.count == 0
    db.session.expire_all()
    record = db.session.query(DialerRecord).filter_by(list_id=report.list_id).one()
    assert record.state != "sent"
    reason = db.session.get(Dialer, dialer_id).pause_reason
    assert "DKIM key cannot be decrypted" in reason


def test_the_signing_thread_ends_with_the_run(ctx: Flask, sink: SmtpSink) -> None:
    campaign_id = dialer_helpers.make_campaign(sink.port)
    _signing_on(campaign_id)
    dialer_id = dialer_helpers.make_dialer(campaign_id)
    rows = dialer_helpers.simple_rows(5)
    report = dialer_helpers.upload(dialer_id, dialer_helpers.csv_text(rows))
    assert dialer_service.play_list(report.list_id, None, "1").ok
    sink.wait_for(5)

    deadline = time.monotonic() + 30
    while any(t.name.startswith("ucmail-dkim") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the DKIM signing thread outlived its run"
        gc.collect()
        time.sleep(0.05)
