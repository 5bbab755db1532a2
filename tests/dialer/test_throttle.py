"""Issue 16: a relay that says "slow down" slows the dialer; it never fails records.

The acceptance runs use ``RateLimitedRelay``, an aiosmtpd relay that refuses MAIL FROM
with ``450 4.7.1 Error: too much mail from ...`` past ``burst`` messages per
``window`` seconds, as Postfix's ``smtpd_client_message_rate_limit`` does. The
issue's relay allowed 8 messages per 10 s; here the time is scaled 50x down to 8
per 0.2 s (the same burst per window, 40 messages/s), so a 500-record list takes
about 13 s instead of ten minutes, with the same shape: a sender far faster than
the relay, bursts of 8, then refusals until the window turns.
"""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import select

from example_host_app.extensions import db
from tests.dialer import helpers, workers
from tests.dialer.helpers import csv_text, upload
from tests.dialer.ratelimited import RateLimitedRelay
from ucmail_ext.mail.replies import classify, is_throttling
from ucmail_ext.models import Dialer, DialerList, DialerRecord
from ucmail_ext.services.dialer import dialers as dialer_service
from ucmail_ext.services.dialer import pacing
from ucmail_ext.services.dialer import send as dialer_send

BURST, WINDOW = 8, 0.2
TOTAL = 500


@pytest.mark.parametrize(
    ("code", "text", "kind"),
    [
        (450, "450 4.7.1 Error: too much mail from 10.0.0.1", "throttled"),
        (421, "421 4.7.0 Too many connections, slow down", "throttled"),
        (451, "451 Ratelimit exceeded for sender", "temporary"),
        (451, "451 The server has reached its limit for processing requests", "throttled"),
        (452, "452 4.2.2 Mailbox full, over quota limit", "temporary"),
        (450, "450 4.2.0 <a@b.example>: Recipient address rejected: Greylisted", "temporary"),
        (451, "451 4.7.1 Greylisted, please try again in 300 seconds", "temporary"),
        (451, "451 4.3.0 Temporary failure, please try again later", "temporary"),
        (451, "451 from 10.4.7.6 try later", "temporary"),
        (550, "550 5.7.1 rate limit exceeded permanently", "permanent"),
        (None, "connection lost: Connection unexpectedly closed", "temporary"),
    ],
)
def test_replies_that_mean_slow_down_are_told_from_other_failures(code, text, kind) -> None:
    assert classify(code, text) == kind
    assert is_throttling(code, text) == (kind == "throttled")


def test_the_pace_backs_off_on_a_throttle_and_creeps_back_to_the_floor() -> None:
    slowed = pacing.backed_off(seen=0.0, floor=0.0, measured_rate=100.0)
    assert slowed == pytest.approx(1 / 70)
    assert pacing.backed_off(seen=slowed, floor=0.0, measured_rate=None) > slowed
    # The dialer's own time between messages stays the floor of everything.
    assert pacing.backed_off(seen=0.0, floor=2.0, measured_rate=1000.0) == pytest.approx(2 / 0.7)
    assert pacing.effective(2.0, 0.5) == 2.0
    assert pacing.per_minute(0.75) == 80


def _make_list(relay_port: int, connections: int = 1) -> tuple[int, int]:
    campaign_id = helpers.make_campaign(relay_port, smtp_connections=connections)
    dialer_id = helpers.make_dialer(campaign_id)  # no time between messages, default streak
    report = upload(dialer_id, csv_text(helpers.simple_rows(TOTAL)), subject="x")
    return dialer_id, report.list_id


def _assert_all_sent_once(relay: RateLimitedRelay, dialer_id: int, list_id: int) -> None:
    ids = helpers.message_ids(relay.raws)
    assert len(ids) == len(set(ids)), "a record was sent twice"
    assert len(ids) == TOTAL
    assert helpers.states(list_id) == {"sent": TOTAL}  # 0 failed, 0 lost
    # A throttled attempt spends no retry: each record counts the one that went through.
    attempts = db.session.scalars(
        select(DialerRecord.attempts).where(DialerRecord.list_id == list_id).distinct()
    )
    assert set(attempts) == {1}
    db.session.expire_all()
    dialer = db.session.get(Dialer, dialer_id)
    assert db.session.get(DialerList, list_id).state == "done"
    assert dialer.state == "stopped" and dialer.pause_reason == ""
    assert relay.throttled > 0, "the relay never throttled: the test proves nothing"


@pytest.mark.integration
def test_a_throttling_relay_slows_the_dialer_and_every_record_is_sent_once(ctx) -> None:
    """SQLite, one worker; PostgreSQL is the two-worker test below."""
    with RateLimitedRelay(BURST, WINDOW) as relay:
        dialer_id, list_id = _make_list(relay.port)
        assert dialer_service.play_list(list_id, None, "1").ok  # inline: runs to the end

        _assert_all_sent_once(relay, dialer_id, list_id)


def test_throttling_never_counts_as_errors_in_a_row(ctx) -> None:
    """A dialer that pauses after 2 errors in a row still sends a throttled list through."""
    with RateLimitedRelay(2, WINDOW) as relay:
        campaign_id = helpers.make_campaign(relay.port)
        dialer_id = helpers.make_dialer(campaign_id, max_error_streak=2)
        list_id = upload(dialer_id, csv_text(helpers.simple_rows(30)), subject="x").list_id
        assert dialer_service.play_list(list_id, None, "1").ok

        assert relay.throttled >= 2
        assert helpers.states(list_id) == {"sent": 30}
        db.session.expire_all()
        dialer = db.session.get(Dialer, dialer_id)
        assert (dialer.state, dialer.error_streak) == ("stopped", 0)


@pytest.mark.integration
def test_two_workers_share_the_relays_pace_and_send_every_record_once(make_app, tmp_path) -> None:
    app = make_app("postgresql")
    with RateLimitedRelay(BURST, WINDOW) as relay, app.app_context():
        dialer_id, list_id = _make_list(relay.port, connections=2)
        app.config["UCMAIL_DISPATCH"] = "off"
        assert dialer_service.play_list(list_id, None, "1").ok
        db_url = str(db.engine.url.render_as_string(hide_password=False))

        started = workers.start_workers_together(db_url, tmp_path, list_id, 2)
        results = workers.results(started)

        assert all(result["counts"].get("sent", 0) > 0 for result in results)
        _assert_all_sent_once(relay, dialer_id, list_id)


def test_monitoring_shows_the_relays_current_rate_while_throttled(ctx) -> None:
    with RateLimitedRelay(BURST, WINDOW) as relay:
        dialer_id, list_id = _make_list(relay.port)
        ctx.config["UCMAIL_DISPATCH"] = "off"
        assert dialer_service.play_list(list_id, None, "1").ok
        deadline = time.monotonic() + 60
        while relay.throttled == 0 and time.monotonic() < deadline:
            dialer_send.run_list(list_id, max_seconds=0.5)

        [row] = dialer_service.monitor(None)
        db.session.expire_all()
        learnt = db.session.get(Dialer, dialer_id).pace_interval
        assert learnt > 0
        expected = f"throttled by the relay, current rate {pacing.per_minute(learnt)}/min"
        assert row.pace_note == expected
        assert row.as_dict()["pace_note"] == expected
        assert helpers.states(list_id).get("failed", 0) == 0


@pytest.mark.browser
@pytest.mark.integration
def test_screens_show_the_relays_pace_and_offer_to_resend_interrupted_records(
    app, page, live_server: str
) -> None:
    """The list page and the live monitoring table, as a supervisor sees them."""
    from playwright.sync_api import expect

    from tests.fixtures.app import TEST_PASSWORD, USERS
    from tests.fixtures.live import browser_login
    from ucmail_ext.models import DialerRecord

    app.config.update(UCMAIL_DISPATCH="off", UCMAIL_LIVE_POLL_MS=300)
    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(2525))
        list_id = upload(dialer_id, csv_text(helpers.simple_rows(6)), subject="x").list_id
        assert dialer_service.play_list(list_id, None, "1").ok
        # What a throttled run and a crashed worker leave behind.
        db.session.get(Dialer, dialer_id).pace_interval = 1.25
        record = db.session.query(DialerRecord).filter_by(list_id=list_id).first()
        record.state, record.error = "interrupted", "interrupted: the worker stopped"
        db.session.commit()
    page.set_viewport_size({"width": 1366, "height": 768})
    page.set_default_timeout(15_000)
    browser_login(page, live_server, USERS["supervisor"][0], TEST_PASSWORD)

    page.goto(f"{live_server}/ucmail/dialer/monitor")
    row = page.locator(f'#dialer-monitor tr[data-list-id="{list_id}"]')
    expect(row).to_contain_text("Active · throttled by the relay, current rate 48/min")
    with page.expect_response(lambda response: "/monitor/data" in response.url):
        pass  # one live refresh: the row the script rebuilds keeps it
    row = page.locator(f'#dialer-monitor tr[data-list-id="{list_id}"]')
    expect(row).to_contain_text("throttled by the relay, current rate 48/min")
    os.makedirs("/tmp/shots", exist_ok=True)
    page.screenshot(path="/tmp/shots/dialer-monitor-throttled.png")

    page.goto(f"{live_server}/ucmail/dialer/lists/{list_id}")
    expect(page.locator('[data-field="pace_note"]')).to_have_text(
        "throttled by the relay, current rate 48/min"
    )
    page.on("dialog", lambda dialog: dialog.accept())
    button = page.locator("[data-action=resend-interrupted]")
    expect(button).to_have_text("Send 1 interrupted again")
    page.screenshot(path="/tmp/shots/dialer-list-interrupted.png")
    button.click()
    expect(page.locator(".ucmail-flash-success")).to_contain_text("1 interrupted record(s)")
    expect(page.locator("[data-action=resend-interrupted]")).to_have_count(0)
    with app.app_context():
        assert helpers.states(list_id) == {"pending": 6}
