"""Auto-replies (RFC 3834): once per real customer, never to robots, lists or history."""

from __future__ import annotations

import time
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from example_host_app.extensions import db
from tests.fixtures.servers import SmtpSink
from tests.inbound.helpers import connect, fill, interactions, mail, make_campaign, poll
from ucmail_ext.mail.thread import is_our_message_id
from ucmail_ext.models import AutoReplyLog, Campaign, Message, Template

pytestmark = pytest.mark.integration


def with_autoreply(app, campaign_id: int) -> None:
    with app.app_context():
        template = Template(
            name="We got it",
            subject="We received: ${subject}",
            body_text="Hello ${name}, your ticket is ${ticket}.",
            body_html="<p>Hello ${name}, your ticket is ${ticket}.</p>",
        )
        db.session.add(template)
        db.session.flush()
        campaign = db.session.get(Campaign, campaign_id)
        campaign.autoreply_enabled = True
        campaign.autoreply_template_id = template.id
        db.session.commit()


def autoreplies(app) -> list[Message]:
    with app.app_context():
        rows = db.session.scalars(
            select(Message).where(Message.kind == "autoreply").order_by(Message.id)
        ).all()
        db.session.expunge_all()
        return list(rows)


def bounce() -> bytes:
    return (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        b"To: support@helpdesk.test\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <bounce-1@mx.example.net>\r\n"
        b"Auto-Submitted: auto-replied\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        b"\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
        b"This is the mail system at host mx.example.net.\r\n"
        b"\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.net\r\n\r\n"
        b"Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"\r\n--b1--\r\n"
    )


@pytest.fixture
def quiet_app(make_app):
    """Auto-replies stay queued: these tests read what was stored, not what was sent."""
    return make_app(UCMAIL_DISPATCH="off")


def test_a_customer_who_opens_an_interaction_gets_one_auto_reply(quiet_app, dovecot, imap_account):
    app = quiet_app
    campaign_id = make_campaign(app, imap_account, from_name="ACME Support")
    with_autoreply(app, campaign_id)
    connect(app, campaign_id)
    fill(
        dovecot,
        imap_account,
        [
            mail(1, sender="ana@example.com", subject="Broken", message_id="<a1@example.com>"),
            mail(2, sender="ana@example.com", subject="Also this"),
        ],
    )

    poll(app, campaign_id)

    first, second = interactions(app, campaign_id)
    [reply] = autoreplies(app)
    assert reply.interaction_id == first.id
    assert (reply.direction, reply.status, reply.to_addrs) == ("out", "queued", "ana@example.com")
    assert reply.subject == f"We received: Broken [#{first.id}]"
    assert reply.text == f"Hello Customer 1, your ticket is [#{first.id}]."
    assert reply.in_reply_to == "a1@example.com"
    assert "a1@example.com" in reply.references.split()
    assert is_our_message_id(reply.message_id, "ucmail.test")
    assert reply.from_addr == f"{imap_account.user}@helpdesk.test"
    with app.app_context():
        assert db.session.scalar(select(AutoReplyLog.address)) == "ana@example.com"


def test_no_auto_reply_to_robots_lists_or_bulk_mail(quiet_app, dovecot, imap_account):
    app = quiet_app
    campaign_id = make_campaign(app, imap_account)
    with_autoreply(app, campaign_id)
    connect(app, campaign_id)
    fill(
        dovecot,
        imap_account,
        [
            bounce(),
            mail(2, sender="news@list.example", headers={"List-Id": "<news.list.example>"}),
            mail(3, sender="bob@example.com", headers={"Auto-Submitted": "auto-replied"}),
            mail(4, sender="shop@example.com", headers={"Precedence": "bulk"}),
            mail(5, sender="no-reply@example.com"),
            mail(6, sender=f"{imap_account.user}@helpdesk.test"),
        ],
    )

    result = poll(app, campaign_id)

    assert result.new_interactions == 6  # all stored, all queued for an agent
    assert autoreplies(app) == []


def test_no_auto_reply_to_imported_history(quiet_app, dovecot, imap_account):
    app = quiet_app
    fill(dovecot, imap_account, [mail(1, sender="old@example.com")])
    campaign_id = make_campaign(app, imap_account)
    with_autoreply(app, campaign_id)

    poll(app, campaign_id)

    assert [i.origin for i in interactions(app, campaign_id)] == ["history"]
    assert autoreplies(app) == []


def test_the_per_sender_cap_follows_the_configured_period(make_app, dovecot, imap_account):
    app = make_app(UCMAIL_DISPATCH="off", UCMAIL_AUTOREPLY_PERIOD=0)
    campaign_id = make_campaign(app, imap_account)
    with_autoreply(app, campaign_id)
    connect(app, campaign_id)
    fill(dovecot, imap_account, [mail(1, sender="ana@example.com")])
    poll(app, campaign_id)
    fill(dovecot, imap_account, [mail(2, sender="ana@example.com")])
    poll(app, campaign_id)

    assert len(autoreplies(app)) == 2


def test_a_reply_in_an_existing_interaction_gets_no_auto_reply(quiet_app, dovecot, imap_account):
    app = quiet_app
    campaign_id = make_campaign(app, imap_account)
    with_autoreply(app, campaign_id)
    connect(app, campaign_id)
    fill(dovecot, imap_account, [mail(1, sender="ana@example.com", message_id="<x1@example.com>")])
    poll(app, campaign_id)
    with app.app_context():
        db.session.execute(db.delete(AutoReplyLog))
        db.session.commit()

    fill(
        dovecot,
        imap_account,
        [mail(2, sender="ana@example.com", headers={"In-Reply-To": "<x1@example.com>"})],
    )
    poll(app, campaign_id)

    assert len(interactions(app, campaign_id)) == 1
    assert len(autoreplies(app)) == 1


@pytest.fixture
def campaign_smtp(imap_account):
    """An SMTP server that takes the campaign's own login, as a mail provider does."""
    with SmtpSink(credentials=(imap_account.user, imap_account.password)) as sink:
        yield sink


def test_auto_reply_is_delivered_once_with_auto_submitted(
    make_app, dovecot, imap_account, campaign_smtp
):
    smtp_sink = campaign_smtp
    app = make_app()  # inline dispatch: the poll's follow-up work runs at once
    campaign_id = make_campaign(app, imap_account, smtp_port=smtp_sink.port)
    with_autoreply(app, campaign_id)
    connect(app, campaign_id)
    fill(
        dovecot,
        imap_account,
        [
            mail(1, sender="ana@example.com", message_id="<a1@example.com>"),
            mail(2, sender="ana@example.com"),
            bounce(),
            mail(4, sender="news@list.example", headers={"List-Unsubscribe": "<mailto:u@x>"}),
        ],
    )

    poll(app, campaign_id)

    [received] = smtp_sink.wait_for(1)
    time.sleep(0.2)
    assert smtp_sink.count == 1
    sent = message_from_bytes(received.raw, policy=policy.default)
    assert received.rcpt_tos == ("ana@example.com",)
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["In-Reply-To"] == "<a1@example.com>"
    first = interactions(app, campaign_id)[0]
    assert sent["Subject"] == f"We received: Question number 1 [#{first.id}]"
    [stored] = autoreplies(app)
    assert stored.status == "sent"
