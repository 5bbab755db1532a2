"""Worker crashes and several workers: no record sent twice, none left behind.

The rule under test (dialer_send's docstring): after a worker dies, its records in
"sending" are settled from its journal once the lease is over: delivered -> sent,
refused or never attempted -> pending, attempted with no answer -> "interrupted",
never re-sent unless the operator asks for it.
"""

from __future__ import annotations

import os
import re
import signal
from datetime import UTC, datetime, timedelta

import pytest

from example_host_app.extensions import db
from tests.dialer import helpers, workers
from tests.dialer.helpers import csv_text, upload
from tests.fixtures.app import csrf_token
from tests.fixtures.servers import SmtpSink
from ucmail_ext.models import DialerList, DialerRecord
from ucmail_ext.services.dialer import dialers as dialer_service
from ucmail_ext.services.dialer import recovery as dialer_recovery
from ucmail_ext.services.dialer import send as dialer_send
from ucmail_ext.services.dialer.journal import Journal, journal_path


def _records(list_id: int) -> dict[str, DialerRecord]:
    db.session.expire_all()
    return {r.email: r for r in db.session.query(DialerRecord).filter_by(list_id=list_id)}


def _activate(app, list_id: int) -> None:
    app.config["UCMAIL_DISPATCH"] = "off"
    assert dialer_service.play_list(list_id, None, "1").ok
    app.config["UCMAIL_DISPATCH"] = "inline"


def _claim(list_id: int, token: str, size: int, when: datetime) -> list[int]:
    claimed = dialer_send.claim_batch(db.session, list_id, token, size, when)
    db.session.commit()
    return [c.id for c in claimed]


def test_stale_sending_records_are_settled_from_the_dead_workers_journal(
    any_ctx, any_dialer_id: int
) -> None:
    report = upload(any_dialer_id, csv_text(helpers.simple_rows(6)), subject="x")
    _activate(any_ctx, report.list_id)
    token = "ab" * 16
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    delivered, refused, unanswered, untouched, *_ = _claim(report.list_id, token, 5, long_ago)
    journal = Journal(token)
    for record_id in (delivered, refused, unanswered):
        journal.attempt(record_id)
    journal.delivered(delivered, datetime(2026, 5, 1, 12, 0, tzinfo=UTC))
    journal.not_delivered(refused)

    outcome = dialer_recovery.recover_stale()

    assert (outcome.sent, outcome.requeued, outcome.interrupted) == (1, 3, 1)
    by_id = {r.id: r for r in _records(report.list_id).values()}
    assert by_id[delivered].state == "sent"
    assert by_id[delivered].sent_at == datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert by_id[delivered].message_id == f"ucmail.dialer.{delivered}@ucmail.test"
    assert by_id[refused].state == "pending"
    assert by_id[unanswered].state == "interrupted"
    assert by_id[unanswered].error == dialer_recovery.INTERRUPTED
    assert by_id[untouched].state == "pending" and by_id[untouched].attempts == 0
    assert not journal_path(token).exists()


def test_without_a_journal_stale_records_are_never_resent(any_ctx, any_dialer_id: int) -> None:
    report = upload(any_dialer_id, csv_text(helpers.simple_rows(2)), subject="x")
    _activate(any_ctx, report.list_id)
    _claim(report.list_id, "cd" * 16, 2, datetime.now(UTC) - timedelta(hours=1))

    dialer_recovery.recover_stale()

    records = _records(report.list_id).values()
    assert {(r.state, r.error) for r in records} == {("interrupted", dialer_recovery.INTERRUPTED)}


def test_records_of_a_live_worker_are_left_alone(any_ctx, any_dialer_id: int) -> None:
    report = upload(any_dialer_id, csv_text(helpers.simple_rows(2)), subject="x")
    _activate(any_ctx, report.list_id)
    _claim(report.list_id, "ef" * 16, 2, datetime.now(UTC))

    assert dialer_recovery.recover_stale() == dialer_recovery.RecoveryReport(0, 0, 0)
    assert {r.state for r in _records(report.list_id).values()} == {"sending"}


@pytest.mark.integration
def test_worker_killed_mid_list_resumes_with_no_duplicate_and_none_left(
    any_app, sink: SmtpSink, tmp_path
) -> None:
    total = 600
    with any_app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(sink.port))
        list_id = upload(dialer_id, csv_text(helpers.simple_rows(total)), subject="x").list_id
        _activate(any_app, list_id)
        db_url = str(db.engine.url.render_as_string(hide_password=False))

    worker = workers.start_worker(db_url, tmp_path, list_id)
    try:
        sink.wait_for(150, timeout=120)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=10)
        worker.stdout.close()
        worker.stderr.close()
    assert worker.returncode == -signal.SIGKILL
    arrived_before = sink.count
    assert arrived_before < total

    with any_app.app_context():
        stuck = sum(1 for r in _records(list_id).values() if r.state == "sending")
        assert stuck > 0
        # The beat, once the dead worker's lease and heartbeat have run out.
        any_app.config["UCMAIL_DIALER_LEASE"] = 10
        started = dialer_recovery.tick(datetime.now(UTC) + timedelta(seconds=30))
        assert started == [list_id]
        records = _records(list_id)
        assert db.session.get(DialerList, list_id).state == "done"

    ids = helpers.message_ids([m.raw for m in sink.messages])
    assert len(ids) == len(set(ids)), "a record was sent twice"
    states: dict[str, int] = {}
    for record in records.values():
        states[record.state] = states.get(record.state, 0) + 1
    interrupted = [r for r in records.values() if r.state == "interrupted"]
    assert set(states) <= {"sent", "interrupted"}
    assert len(interrupted) <= 1
    assert all(r.error == dialer_recovery.INTERRUPTED for r in interrupted)
    sent_ids = {r.message_id for r in records.values() if r.state == "sent"}
    assert sent_ids <= set(ids)
    # None left behind: everything arrived, except at most the one whose fate was unknown.
    assert len(set(ids)) >= total - len(interrupted)


@pytest.mark.integration
def test_two_workers_on_one_list_send_every_record_once(make_app, sink: SmtpSink, tmp_path) -> None:
    app = make_app("postgresql")
    total = 1500
    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(sink.port))
        list_id = upload(dialer_id, csv_text(helpers.simple_rows(total)), subject="x").list_id
        _activate(app, list_id)
        db_url = str(db.engine.url.render_as_string(hide_password=False))

    started = workers.start_workers_together(db_url, tmp_path, list_id, 2)
    results = workers.results(started)

    ids = helpers.message_ids([m.raw for m in sink.messages])
    assert len(ids) == total and len(set(ids)) == total
    sent_by_each = [result["counts"].get("sent", 0) for result in results]
    assert sum(sent_by_each) == total and min(sent_by_each) > 0
    with app.app_context():
        assert {r.state for r in _records(list_id).values()} == {"sent"}
        assert db.session.get(DialerList, list_id).state == "done"


def test_interrupted_records_are_counted_and_sent_again_only_when_the_operator_asks(
    any_ctx, any_dialer_id: int, sink: SmtpSink
) -> None:
    """Issue 10c: the unknown ones wait for a person, who chooses at-least-once."""
    report = upload(any_dialer_id, csv_text(helpers.simple_rows(3)), subject="x")
    _activate(any_ctx, report.list_id)
    _claim(report.list_id, "aa" * 16, 2, datetime.now(UTC) - timedelta(hours=1))
    dialer_recovery.tick(datetime.now(UTC) + timedelta(minutes=5))  # settles 2, sends 1

    progress = dialer_service.list_progress(report.list_id, None)
    assert (progress.interrupted, progress.sent, progress.not_processed) == (2, 1, 0)
    assert db.session.get(DialerList, report.list_id).state == "done"
    assert sink.count == 1
    assert dialer_recovery.tick(datetime.now(UTC) + timedelta(hours=1)) == []  # never by itself

    result = dialer_recovery.resend_interrupted(report.list_id, None, "1")
    assert result.ok and result.message.startswith("2 interrupted record(s) queued again")
    assert helpers.states(report.list_id) == {"pending": 2, "sent": 1}
    assert dialer_service.play_list(report.list_id, None, "1").ok
    assert helpers.states(report.list_id) == {"sent": 3} and sink.count == 3
    again = dialer_recovery.resend_interrupted(report.list_id, None, "1")
    assert not again.ok and again.message == "This list has no interrupted records."


def test_the_list_page_offers_send_again_for_interrupted_records(app, client_for, sink) -> None:
    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(sink.port))
        list_id = upload(dialer_id, csv_text(helpers.simple_rows(2)), subject="x").list_id
        _activate(app, list_id)
        _claim(list_id, "bb" * 16, 1, datetime.now(UTC) - timedelta(hours=1))
        app.config["UCMAIL_DISPATCH"] = "off"
        dialer_recovery.recover_stale()
    client = client_for("supervisor")

    page = client.get(f"/ucmail/dialer/lists/{list_id}").get_data(as_text=True)
    assert re.search(r'data-field="interrupted"[^>]*>1<', page)
    assert "Send 1 interrupted again" in page
    response = client.post(
        f"/ucmail/dialer/lists/{list_id}/resend-interrupted",
        data={"csrf_token": csrf_token(client, app)},
    )
    assert response.status_code == 302
    with app.app_context():
        assert helpers.states(list_id) == {"pending": 2}
    page = client.get(f"/ucmail/dialer/lists/{list_id}").get_data(as_text=True)
    assert "1 interrupted record(s) queued again" in page
    assert "Send 1 interrupted again" not in page
