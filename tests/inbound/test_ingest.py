"""Mailbox polling against a real Dovecot: every message exactly once, nothing blocks."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from example_host_app.extensions import db
from tests.inbound.helpers import (
    connect,
    count,
    fill,
    inbound_messages,
    interactions,
    mail,
    make_campaign,
    poll,
)
from ucmail_ext.models import (
    Attachment,
    Campaign,
    Interaction,
    MailboxCursor,
    Member,
    Message,
    MessageRaw,
    utcnow,
)
from ucmail_ext.services import storage
from ucmail_ext.services.desk import presence
from ucmail_ext.services.inbound import ingest

pytestmark = pytest.mark.integration


def test_two_hundred_messages_become_two_hundred_interactions_once(any_app, dovecot, imap_account):
    campaign_id = make_campaign(any_app, imap_account)
    connect(any_app, campaign_id)
    fill(dovecot, imap_account, (mail(n) for n in range(200)))

    first = poll(any_app, campaign_id)
    again = poll(any_app, campaign_id)

    assert (first.status, first.imported, first.new_interactions) == ("ok", 200, 200)
    assert (again.status, again.imported) == ("ok", 0)
    assert count(any_app, Interaction, Interaction.campaign_id == campaign_id) == 200
    assert count(any_app, Message, Message.campaign_id == campaign_id) == 200
    stored = interactions(any_app, campaign_id)
    assert {i.state for i in stored} == {"queued"}
    assert {i.origin for i in stored} == {"inbound"}
    assert sorted(i.subject for i in stored) == sorted(f"Question number {n}" for n in range(200))
    assert dovecot.message_count(imap_account.user) == 200  # kept on the server


def test_message_fields_raw_bytes_and_cursor_are_stored(app, dovecot, imap_account):
    campaign_id = make_campaign(app, imap_account)
    connect(app, campaign_id)
    raw = mail(7, sender="Ana@Example.com", subject="Invoice", message_id="<inv-7@example.com>")
    uid = dovecot.append(imap_account.user, raw)

    poll(app, campaign_id)

    [message] = inbound_messages(app, campaign_id)
    assert message.message_id == "inv-7@example.com"
    assert message.from_addr == "ana@example.com"
    assert message.subject == "Invoice"
    assert "question 7" in message.text
    assert (message.folder, message.uid, message.status) == ("INBOX", uid, "received")
    with app.app_context():
        stored_raw = db.session.get(MessageRaw, message.id).raw
        cursor = db.session.scalar(select(MailboxCursor))
        assert stored_raw == dovecot.fetch_all(imap_account.user)[0]
        assert cursor.last_uid == uid
        assert cursor.uidvalidity == message.uidvalidity
    [interaction] = interactions(app, campaign_id)
    assert (interaction.customer_email, interaction.customer_name) == (
        "ana@example.com",
        "Customer 7",
    )


def test_uidvalidity_reset_rescans_without_duplicates(any_app, dovecot, imap_account):
    campaign_id = make_campaign(any_app, imap_account)
    connect(any_app, campaign_id)
    fill(dovecot, imap_account, (mail(n) for n in range(5)))
    poll(any_app, campaign_id)

    dovecot.set_uidvalidity(imap_account.user, 424242)
    fill(dovecot, imap_account, [mail(99)])
    result = poll(any_app, campaign_id)

    assert (result.imported, result.duplicates) == (1, 5)
    assert count(any_app, Message, Message.campaign_id == campaign_id) == 6
    with any_app.app_context():
        assert db.session.scalar(select(MailboxCursor.uidvalidity)) == 424242
    newest = interactions(any_app, campaign_id)[-1]
    assert (newest.subject, newest.state) == ("Question number 99", "queued")


def test_reused_message_id_with_a_different_body_is_imported(any_app, dovecot, imap_account):
    campaign_id = make_campaign(any_app, imap_account)
    connect(any_app, campaign_id)
    same_id = "<not-unique@sloppy-mailer.example>"
    fill(
        dovecot,
        imap_account,
        [mail(1, message_id=same_id, body="first"), mail(2, message_id=same_id, body="second")],
    )

    poll(any_app, campaign_id)

    bodies = sorted(m.text.strip() for m in inbound_messages(any_app, campaign_id))
    assert bodies == ["first", "second"]


def test_the_same_bytes_twice_in_a_mailbox_are_one_message(app, dovecot, imap_account):
    campaign_id = make_campaign(app, imap_account)
    connect(app, campaign_id)
    raw = mail(1)
    fill(dovecot, imap_account, [raw, raw])

    result = poll(app, campaign_id)

    assert (result.imported, result.duplicates) == (1, 1)


def test_same_mail_to_two_campaigns_makes_one_interaction_in_each(any_app, dovecot, imap_account):
    other_account = dovecot.new_account()
    first = make_campaign(any_app, imap_account, name="Sales")
    second = make_campaign(any_app, other_account, name="Support")
    connect(any_app, first)
    connect(any_app, second)
    raw = mail(1, to="sales@helpdesk.test, support@helpdesk.test")
    dovecot.append(imap_account.user, raw)
    dovecot.append(other_account.user, raw)

    poll(any_app, first)
    poll(any_app, second)

    assert len(interactions(any_app, first)) == 1
    assert len(interactions(any_app, second)) == 1


def test_our_own_messages_in_the_mailbox_are_not_customer_mail(app, dovecot, imap_account):
    campaign_id = make_campaign(app, imap_account)
    connect(app, campaign_id)
    with app.app_context():
        interaction = Interaction(campaign_id=campaign_id, customer_email="c@example.com")
        db.session.add(interaction)
        db.session.flush()
        db.session.add(
            Message(
                interaction_id=interaction.id,
                campaign_id=campaign_id,
                direction="out",
                status="sent",
                message_id="agent-reply-1@mail.helpdesk.example",
            )
        )
        db.session.commit()
    sent_copy = mail(1, message_id="<agent-reply-1@mail.helpdesk.example>")
    generated = mail(2, message_id="<ucmail.autoreply.17@ucmail.test>")
    customer = mail(3)
    fill(dovecot, imap_account, [sent_copy, generated, customer])

    result = poll(app, campaign_id)

    assert (result.own, result.imported) == (2, 1)
    assert [m.subject for m in inbound_messages(app, campaign_id)] == ["Question number 3"]


def test_mail_already_in_a_new_mailbox_is_imported_as_closed_history(app, dovecot, imap_account):
    fill(dovecot, imap_account, (mail(n) for n in range(3)))
    campaign_id = make_campaign(app, imap_account)

    first = poll(app, campaign_id)
    fill(dovecot, imap_account, [mail(3)])
    second = poll(app, campaign_id)

    assert (first.imported, first.history) == (3, 3)
    assert (second.imported, second.history) == (1, 0)
    stored = interactions(app, campaign_id)
    assert [(i.origin, i.state) for i in stored] == [("history", "closed")] * 3 + [
        ("inbound", "queued")
    ]
    assert all(i.closed_at is not None for i in stored[:3])


def test_full_queue_leaves_mail_on_the_server_until_there_is_room(app, dovecot, imap_account):
    campaign_id = make_campaign(app, imap_account, max_in_queue=3)
    connect(app, campaign_id)
    fill(dovecot, imap_account, (mail(n) for n in range(5)))

    first = poll(app, campaign_id)
    assert (first.imported, first.left_on_server) == (3, 2)
    assert poll(app, campaign_id).imported == 0

    with app.app_context():
        oldest = db.session.scalar(select(Interaction).order_by(Interaction.id))
        oldest.state = "closed"
        db.session.commit()
    later = poll(app, campaign_id)

    assert (later.imported, later.left_on_server) == (1, 1)
    subjects = [i.subject for i in interactions(app, campaign_id)]
    assert subjects == [f"Question number {n}" for n in range(4)]


@pytest.mark.parametrize(
    "fields",
    [
        {"receive_emails": False},
        {"enabled": False},
        {"deleted_at": utcnow()},
    ],
    ids=["receive-emails-off", "disabled", "deleted"],
)
def test_a_campaign_not_receiving_is_not_polled(app, dovecot, imap_account, fields):
    campaign_id = make_campaign(app, imap_account, **fields)
    fill(dovecot, imap_account, [mail(1)])

    result = poll(app, campaign_id)

    assert result.status == "skipped"
    assert count(app, MailboxCursor) == 0
    with app.app_context():
        assert ingest.due_campaign_ids() == []


def test_login_error_is_recorded_backs_off_and_clears_on_success(app, dovecot, imap_account):
    campaign_id = make_campaign(app, imap_account, username="nobody-here", poll_failures=0)

    first = poll(app, campaign_id)
    second = poll(app, campaign_id)

    assert first.status == second.status == "error"
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign.poll_failures == 2
        assert "login" in campaign.last_poll_error.lower()
        assert imap_account.password not in campaign.last_poll_error
        interval = app.config["UCMAIL_POLL_INTERVAL"]
        wait = campaign.next_poll_at - campaign.last_poll_at
        assert wait == timedelta(seconds=2 * interval)
        assert ingest.due_campaign_ids() == []
        assert ingest.due_campaign_ids(campaign.next_poll_at) == [campaign_id]
        campaign.username = imap_account.user
        db.session.commit()

    assert poll(app, campaign_id).status == "ok"
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert (campaign.poll_failures, campaign.last_poll_error) == (0, "")
        assert campaign.next_poll_at is None and campaign.last_poll_at is not None


def test_unreachable_server_is_recorded_not_raised(app, imap_account):
    campaign_id = make_campaign(app, imap_account, imap_port=1)

    result = poll(app, campaign_id)

    assert result.status == "error"
    assert "connection" in result.error.lower()


def test_unparseable_mail_is_stored_raw_flagged_and_queued(app, dovecot, imap_account):
    campaign_id = make_campaign(app, imap_account)
    connect(app, campaign_id)
    garbage = b"\x00\x01 this is not a mail \xff\xfe\r\n\r\n\x00"
    fill(dovecot, imap_account, [garbage, mail(2)])

    result = poll(app, campaign_id)

    assert result.imported == 2
    broken, fine = interactions(app, campaign_id)
    assert (broken.flagged, broken.state, fine.flagged) == (True, "queued", False)
    [message, _] = inbound_messages(app, campaign_id)
    assert message.flagged and message.defects
    with app.app_context():
        # Dovecot serves NUL as 0x80; what we keep is exactly what the server gave.
        assert db.session.get(MessageRaw, message.id).raw == dovecot.fetch_all(imap_account.user)[0]


def test_oversized_mail_is_not_downloaded_but_reaches_an_agent_flagged(
    make_app, dovecot, imap_account
):
    app = make_app(UCMAIL_MAX_MESSAGE_BYTES=20_000)
    campaign_id = make_campaign(app, imap_account)
    connect(app, campaign_id)
    fill(dovecot, imap_account, [mail(1, subject="Huge scan", body="x" * 50_000), mail(2)])

    result = poll(app, campaign_id)

    assert result.imported == 2
    big, small = inbound_messages(app, campaign_id)
    assert big.subject == "Huge scan" and big.flagged
    assert "still on the mail server" in big.text
    assert big.size > 50_000
    with app.app_context():
        assert len(db.session.get(MessageRaw, big.id).raw) < 20_000
    assert not small.flagged


def test_attachments_are_stored_as_files_and_oversized_ones_refused(
    make_app, dovecot, imap_account
):
    app = make_app(UCMAIL_MAX_ATTACHMENT_BYTES=1000)
    campaign_id = make_campaign(app, imap_account)
    connect(app, campaign_id)
    msg = EmailMessage()
    msg["From"] = "c@example.com"
    msg["Subject"] = "files"
    msg["Message-ID"] = "<files@example.com>"
    msg.set_content("see attached")
    msg.add_attachment(b"small file", maintype="application", subtype="pdf", filename="../a.pdf")
    msg.add_attachment(b"B" * 5000, maintype="application", subtype="zip", filename="big.zip")
    fill(dovecot, imap_account, [bytes(msg)])

    poll(app, campaign_id)

    with app.app_context():
        small, big = db.session.scalars(select(Attachment).order_by(Attachment.id)).all()
        assert small.filename == "a.pdf" and small.original_filename == "../a.pdf"
        assert storage.read_stored(small.storage_key) == b"small file"
        assert small.sha256 == hashlib.sha256(b"small file").hexdigest()
        assert big.storage_key is None and big.size == 5000
        assert "limit" in big.refused_reason


def test_html_is_stored_sanitized(app, dovecot, imap_account):
    campaign_id = make_campaign(app, imap_account)
    connect(app, campaign_id)
    msg = EmailMessage()
    msg["From"] = "c@example.com"
    msg["Subject"] = "html"
    msg.set_content("plain")
    msg.add_alternative('<p onclick="x()">Hi<script>alert(1)</script></p>', subtype="html")
    fill(dovecot, imap_account, [bytes(msg)])

    poll(app, campaign_id)

    [message] = inbound_messages(app, campaign_id)
    assert "Hi" in message.html
    assert "script" not in message.html and "onclick" not in message.html


def test_seen_flag_is_left_alone_by_default_and_set_when_configured(
    make_app, dovecot, imap_account
):
    plain = make_app()
    marking = make_app(UCMAIL_MARK_SEEN=True)
    other = dovecot.new_account()
    keep = make_campaign(plain, imap_account)
    mark = make_campaign(marking, other)
    connect(plain, keep)
    connect(marking, mark)
    fill(dovecot, imap_account, [mail(1)])
    fill(dovecot, other, [mail(1)])

    poll(plain, keep)
    poll(marking, mark)

    def seen(user):
        with dovecot.client(user) as client:
            client.select_folder("INBOX", readonly=True)
            return client.search(["SEEN"])

    assert seen(imap_account.user) == []
    assert len(seen(other.user)) == 1


def test_two_pollers_at_once_store_each_message_once(any_app, dovecot, imap_account):
    campaign_id = make_campaign(any_app, imap_account)
    connect(any_app, campaign_id)
    fill(dovecot, imap_account, (mail(n) for n in range(60)))
    results: list[ingest.PollResult] = []

    def run():
        results.append(poll(any_app, campaign_id))

    workers = [threading.Thread(target=run) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    poll(any_app, campaign_id)

    assert sum(r.imported for r in results) == 60
    assert count(any_app, Message, Message.campaign_id == campaign_id) == 60


def test_overlapping_pollers_without_the_lock_still_store_each_message_once(
    any_app, dovecot, imap_account, monkeypatch
):
    """A lease can expire under a stalled poller: the unique keys must hold alone."""
    campaign_id = make_campaign(any_app, imap_account)
    connect(any_app, campaign_id)
    fill(dovecot, imap_account, (mail(n) for n in range(60)))

    class Everyone:
        name = "mailbox"

        def extend(self):
            return True

        def release(self):
            return None

    monkeypatch.setattr(ingest.locks, "acquire", lambda name, ttl=None: Everyone())
    start = threading.Barrier(2)
    results: list[ingest.PollResult] = []

    def run():
        start.wait()
        results.append(poll(any_app, campaign_id))

    workers = [threading.Thread(target=run) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    final = poll(any_app, campaign_id)

    assert sum(r.imported for r in results) + final.imported == 60
    assert count(any_app, Message, Message.campaign_id == campaign_id) == 60
    assert count(any_app, Interaction, Interaction.campaign_id == campaign_id) == 60


def test_poll_all_polls_due_receiving_campaigns(app, dovecot, imap_account):
    due = make_campaign(app, imap_account)
    make_campaign(app, dovecot.new_account(), name="Off", receive_emails=False)
    backing_off = make_campaign(
        app, dovecot.new_account(), name="Later", next_poll_at=utcnow() + timedelta(hours=1)
    )
    fill(dovecot, imap_account, [mail(1)])

    with app.app_context():
        from ucmail_ext.tasks.inbound import poll_all

        enqueued = poll_all.apply().get()

    assert enqueued == [due]
    assert len(interactions(app, due)) == 1
    assert count(app, MailboxCursor, MailboxCursor.campaign_id == backing_off) == 0


def test_new_mail_is_routed_to_a_free_member_agent(app, dovecot, imap_account):
    campaign_id = make_campaign(app, imap_account)
    with app.app_context():
        db.session.add(Member(campaign_id=campaign_id, agent_id="agent-7"))
        db.session.commit()
        presence.heartbeat("agent-7", "Agent Seven")
    connect(app, campaign_id)
    fill(dovecot, imap_account, [mail(1)])

    poll(app, campaign_id)

    [interaction] = interactions(app, campaign_id)
    assert (interaction.state, interaction.agent_id) == ("assigned", "agent-7")
