"""IMAP IDLE: an appended message is an interaction within 2 s; listeners recover and stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from example_host_app.extensions import db
from tests.inbound.helpers import count, interactions, mail, make_campaign
from ucmail_ext.crypto import encrypt_secret
from ucmail_ext.models import Campaign, Interaction
from ucmail_ext.services.inbound.idle import IdleLoop, MailboxListener
from ucmail_ext.services.inbound.idle_leases import IdleNode

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def wait_until(condition, timeout: float) -> float:
    """Seconds it took for ``condition()`` to hold; fails after ``timeout``."""
    start = time.monotonic()
    while not condition():
        elapsed = time.monotonic() - start
        assert elapsed < timeout, f"not within {timeout} s"
        time.sleep(0.02)
    return time.monotonic() - start


@pytest.fixture
def listener_for():
    started: list[MailboxListener] = []

    def start(app, campaign_id, **options):
        listener = MailboxListener(app, campaign_id, **options)  # IDLE re-issued every 300 s
        listener.start()
        started.append(listener)
        wait_until(lambda: listener.polls >= 1, 5)  # connected and caught up
        return listener

    yield start
    for listener in started:
        listener.stop()
    for listener in started:
        listener.join(10)
        assert not listener.is_alive()


def test_appended_message_is_an_interaction_within_two_seconds(
    any_app, dovecot, imap_account, listener_for
):
    campaign_id = make_campaign(any_app, imap_account)
    listener_for(any_app, campaign_id)

    for n in range(3):
        dovecot.append(imap_account.user, mail(n))
        wait_until(lambda n=n: count(any_app, Interaction) == n + 1, 2.0)

    assert [i.state for i in interactions(any_app, campaign_id)] == ["queued"] * 3


def test_listener_reconnects_after_the_server_drops_it(app, dovecot, imap_account, listener_for):
    campaign_id = make_campaign(app, imap_account)
    listener = listener_for(app, campaign_id, min_backoff=0.2)

    dovecot.doveadm("kick", imap_account.user)
    time.sleep(0.3)
    dovecot.append(imap_account.user, mail(1))

    wait_until(lambda: count(app, Interaction) == 1, 5.0)
    assert listener.is_alive()


def test_listener_ends_when_its_campaign_stops_receiving(app, dovecot, imap_account):
    campaign_id = make_campaign(app, imap_account, receive_emails=False)
    loop = IdleLoop(app, workers=1).start()
    try:
        loop.add(campaign_id)
        wait_until(lambda: campaign_id in loop.ended(), 5)
        assert loop.listening() == set()
    finally:
        loop.stop()
    assert not loop.is_alive()


def test_node_follows_the_campaign_table(app, dovecot, imap_account):
    first = make_campaign(app, imap_account)
    second = make_campaign(app, dovecot.new_account(), name="Off", receive_emails=False)
    node = IdleNode(app, takeover=30)
    node.loop.start()
    try:
        with app.app_context():
            node.step()
        assert set(node.held) == {first}
        wait_until(lambda: node.loop.listening() == {first}, 5)

        with app.app_context():
            db.session.get(Campaign, second).receive_emails = True
            db.session.get(Campaign, first).enabled = False
            db.session.commit()
            node.step()
        wait_until(lambda: node.loop.listening() == {second}, 5)
        wait_until(lambda: _round(app, node) and node._handing_over == {}, 5)  # lease released
        assert set(node.held) == {second}
    finally:
        node.shutdown(timeout=10)
    assert node.held == {} and not node.loop.is_alive()


def _round(app, node: IdleNode) -> bool:
    with app.app_context():
        node.step()
    return True


def test_an_edited_campaign_is_listened_to_with_its_new_settings(app, dovecot, imap_account):
    campaign_id = make_campaign(app, imap_account)
    other = dovecot.new_account()
    node = IdleNode(app, takeover=30)
    node.loop.start()
    try:
        with app.app_context():
            node.step()
        wait_until(lambda: node.loop.listening() == {campaign_id}, 5)
        with app.app_context():
            campaign = db.session.get(Campaign, campaign_id)
            campaign.username = other.user
            campaign.password_encrypted = encrypt_secret(other.password)
            db.session.commit()
            node.step()
        dovecot.append(other.user, mail(1))
        wait_until(lambda: count(app, Interaction) == 1, 10)
    finally:
        node.shutdown(timeout=10)


def test_flask_ucmail_idle_imports_mail_until_sigterm(app, dovecot, imap_account, tmp_path):
    campaign_id = make_campaign(app, imap_account)
    env = {
        **os.environ,
        "HELPDESK_SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "HELPDESK_SECRET_KEY": app.config["SECRET_KEY"],
        "HELPDESK_UCMAIL_DISPATCH": "off",
        "HELPDESK_UCMAIL_ATTACHMENT_DIR": str(tmp_path / "files"),
        "HELPDESK_CELERY": json.dumps({"broker_url": "memory://"}),
    }
    command = [sys.executable, "-m", "flask", "--app", "example_host_app:create_app"]
    idle = subprocess.Popen(
        [*command, "ucmail", "idle", "--refresh", "60"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert b"listeners running" in idle.stderr.readline()
        wait_until(lambda: count(app, Interaction) == 0 and _cursor_made(app), 10)
        dovecot.append(imap_account.user, mail(1))
        wait_until(lambda: len(interactions(app, campaign_id)) == 1, 5)
        idle.send_signal(signal.SIGTERM)
        assert idle.wait(5) == 0  # listeners stop at once, not after an IDLE timeout
        assert b"stopped" in idle.stderr.read()
    finally:
        idle.kill()
        idle.wait(10)
        idle.stderr.close()


def _cursor_made(app) -> bool:
    from ucmail_ext.models import MailboxCursor

    return count(app, MailboxCursor) == 1


def test_stop_is_prompt(app, dovecot, imap_account, listener_for):
    campaign_id = make_campaign(app, imap_account)
    listener = listener_for(app, campaign_id)
    stopped = threading.Event()

    def stop_and_join():
        listener.stop()
        listener.join(5)
        stopped.set()

    threading.Thread(target=stop_and_join).start()

    assert stopped.wait(2)
    assert not listener.is_alive()


def test_idle_is_reissued_on_time_and_still_hears_new_mail(app, dovecot, imap_account):
    campaign_id = make_campaign(app, imap_account)
    loop = IdleLoop(app, workers=2, wake_interval=2.0, min_backoff=0.05).start()
    try:
        loop.add(campaign_id)
        wait_until(lambda: loop.polls >= 1, 5)  # connected and caught up
        dovecot.doveadm("kick", imap_account.user)
        wait_until(lambda: loop.polls >= 2, 10)  # reconnected and caught up again
        assert loop.pending_timers() == 1  # the old connection's re-IDLE timer went with it
        for n in range(3):
            time.sleep(1.0)  # re-IDLEs (DONE, IDLE) happen in between
            dovecot.append(imap_account.user, mail(n))
            wait_until(lambda n=n: count(app, Interaction) == n + 1, 5)
        assert loop.listening() == {campaign_id}
    finally:
        loop.stop()
