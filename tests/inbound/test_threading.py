"""Replies join their interaction; closed ones reopen; tokens need a known sender."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from example_host_app.extensions import db
from tests.inbound.helpers import connect, inbound_messages, interactions, mail, make_campaign, poll
from ucmail_ext.mail.parse import normalize_message_id
from ucmail_ext.mail.thread import new_message_id
from ucmail_ext.models import Dialer, DialerList, DialerRecord, Interaction, Message, utcnow

pytestmark = pytest.mark.integration


def agent_reply(app, interaction_id: int) -> str:
    """Store what an agent sent in the interaction; returns its Message-ID."""
    with app.app_context():
        interaction = db.session.get(Interaction, interaction_id)
        message_id = normalize_message_id(new_message_id("ucmail.test"))
        db.session.add(
            Message(
                interaction_id=interaction.id,
                campaign_id=interaction.campaign_id,
                direction="out",
                status="sent",
                kind="reply",
                message_id=message_id,
                to_addrs=interaction.customer_email,
                subject=f"Re: {interaction.subject} [#{interaction.id}]",
            )
        )
        db.session.commit()
        return message_id


def test_customer_reply_to_an_agent_message_lands_in_the_same_interaction(
    any_app, dovecot, imap_account
):
    campaign_id = make_campaign(any_app, imap_account)
    connect(any_app, campaign_id)
    dovecot.append(imap_account.user, mail(1, message_id="<first@example.com>"))
    poll(any_app, campaign_id)
    [interaction] = interactions(any_app, campaign_id)
    sent_id = agent_reply(any_app, interaction.id)

    reply = mail(
        2,
        subject="Re: Question number 1",
        headers={"In-Reply-To": f"<{sent_id}>", "References": f"<first@example.com> <{sent_id}>"},
    )
    dovecot.append(imap_account.user, reply)
    poll(any_app, campaign_id)

    [same] = interactions(any_app, campaign_id)
    assert same.id == interaction.id
    assert same.message_count == 2
    assert [m.interaction_id for m in inbound_messages(any_app, campaign_id)] == [same.id] * 2


def test_reply_to_a_closed_interaction_reopens_it(any_app, dovecot, imap_account):
    campaign_id = make_campaign(any_app, imap_account)
    connect(any_app, campaign_id)
    dovecot.append(imap_account.user, mail(1))
    poll(any_app, campaign_id)
    [interaction] = interactions(any_app, campaign_id)
    sent_id = agent_reply(any_app, interaction.id)
    with any_app.app_context():
        row = db.session.get(Interaction, interaction.id)
        row.state, row.agent_id, row.closed_at = "closed", "7", utcnow()
        db.session.commit()

    dovecot.append(imap_account.user, mail(2, headers={"In-Reply-To": f"<{sent_id}>"}))
    poll(any_app, campaign_id)

    [reopened] = interactions(any_app, campaign_id)
    assert (reopened.state, reopened.agent_id, reopened.closed_at) == ("queued", None, None)
    assert reopened.reopened_count == 1


def test_subject_token_joins_only_when_the_sender_takes_part(app, dovecot, imap_account):
    campaign_id = make_campaign(app, imap_account)
    connect(app, campaign_id)
    dovecot.append(imap_account.user, mail(1, sender="ana@example.com"))
    poll(app, campaign_id)
    [interaction] = interactions(app, campaign_id)
    token = f"[#{interaction.id}]"

    dovecot.append(imap_account.user, mail(2, sender="ANA@example.com", subject=f"Re: x {token}"))
    dovecot.append(imap_account.user, mail(3, sender="eve@evil.example", subject=f"Re: {token}"))
    poll(app, campaign_id)

    first, intruder = interactions(app, campaign_id)
    assert first.id == interaction.id and first.message_count == 2
    assert intruder.customer_email == "eve@evil.example"


def test_reply_to_a_dialer_email_becomes_an_interaction_in_the_dialers_campaign(
    any_app, dovecot, imap_account
):
    mailbox_campaign = make_campaign(any_app, imap_account, name="Mailbox")
    with any_app.app_context():
        dialer_campaign = make_campaign(any_app, dovecot.new_account(), name="Outreach")
        dialer = Dialer(name="Spring", campaign_id=dialer_campaign)
        db.session.add(dialer)
        db.session.flush()
        mailing = DialerList(dialer_id=dialer.id, name="list.csv", subject="Spring offer")
        db.session.add(mailing)
        db.session.flush()
        record = DialerRecord(
            list_id=mailing.id,
            line=2,
            email="lead@example.com",
            state="sent",
            message_id="ucmail.dialer.1-2@ucmail.test",
        )
        db.session.add(record)
        db.session.commit()
        record_id = record.id
    connect(any_app, mailbox_campaign)
    answer = {"In-Reply-To": "<ucmail.dialer.1-2@ucmail.test>"}

    dovecot.append(imap_account.user, mail(1, sender="lead@example.com", headers=answer))
    dovecot.append(imap_account.user, mail(2, sender="lead@example.com", headers=answer))
    poll(any_app, mailbox_campaign)

    assert interactions(any_app, mailbox_campaign) == []
    [interaction] = interactions(any_app, dialer_campaign)
    assert (interaction.origin, interaction.dialer_record_id) == ("dialer", record_id)
    assert (interaction.state, interaction.message_count) == ("queued", 2)


def test_history_that_answers_a_closed_interaction_does_not_reopen_it(app, dovecot, imap_account):
    campaign_id = make_campaign(app, imap_account)
    with app.app_context():
        closed = Interaction(campaign_id=campaign_id, state="closed", closed_at=utcnow())
        db.session.add(closed)
        db.session.flush()
        db.session.add(
            Message(
                interaction_id=closed.id,
                campaign_id=campaign_id,
                direction="out",
                status="sent",
                message_id="old-answer@ucmail.test",
            )
        )
        db.session.commit()
    dovecot.append(imap_account.user, mail(1, headers={"In-Reply-To": "<old-answer@ucmail.test>"}))

    poll(app, campaign_id)

    with app.app_context():
        [only] = db.session.scalars(select(Interaction)).all()
        assert (only.state, only.reopened_count, only.message_count) == ("closed", 0, 1)


def test_a_bounce_of_a_dialer_email_updates_the_record_instead_of_queueing(
    any_app, dovecot, imap_account
):
    campaign_id = make_campaign(any_app, imap_account)
    with any_app.app_context():
        dialer = Dialer(name="Spring", campaign_id=campaign_id)
        db.session.add(dialer)
        db.session.flush()
        mailing = DialerList(dialer_id=dialer.id, name="list.csv")
        db.session.add(mailing)
        db.session.flush()
        record = DialerRecord(
            list_id=mailing.id,
            line=2,
            email="gone@example.org",
            state="sent",
            sent_at=utcnow(),
            message_id="<ucmail.dialer.1-2@ucmail.test>",
        )
        db.session.add(record)
        db.session.commit()
        record_id = record.id
    connect(any_app, campaign_id)
    bounce = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        b"To: support@helpdesk.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <bounce-7@mx.example.org>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.org\r\n"
        b"\r\nFinal-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        b"Message-ID: <ucmail.dialer.1-2@ucmail.test>\r\nTo: gone@example.org\r\n"
        b"--b--\r\n"
    )
    dovecot.append(imap_account.user, bounce)
    dovecot.append(imap_account.user, mail(2))

    result = poll(any_app, campaign_id)

    assert (result.feedback, result.imported) == (1, 1)
    assert [i.subject for i in interactions(any_app, campaign_id)] == ["Question number 2"]
    with any_app.app_context():
        record = db.session.get(DialerRecord, record_id)
        assert (record.state, record.status_code) == ("rejected", "5.1.1")
    assert poll(any_app, campaign_id).feedback == 0  # the cursor moved past it
