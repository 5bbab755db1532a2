"""Issue 14: one list sent by several runners, in real Celery worker processes.

Play queues ``UCMAIL_DIALER_RUNNERS_PER_LIST`` runners (2) on PostgreSQL; each holds
its slot's lease while it sends; the beat replaces a runner that was SIGKILLed while
the other goes on. Workers are ``celery -A make_celery worker -P solo`` processes on
Redis, on a queue and key prefix private to the test.
"""

from __future__ import annotations

import ast
import re
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from example_host_app.extensions import db
from tests.dialer import helpers
from tests.fixtures.celery_workers import CeleryWorkers, wait_until
from tests.fixtures.servers import SmtpSink
from ucmail_ext.models import DialerList, DialerRecord
from ucmail_ext.services import locks
from ucmail_ext.services.dialer import dialers as dialer_service
from ucmail_ext.services.dialer import recovery as dialer_recovery
from ucmail_ext.services.dialer import runners

# A paced dialer (at most 200 messages/s for all runners together) so that a list
# lasts long enough for both runners to take part, however fast the machine.
SECONDS_BETWEEN = 0.005
SUCCEEDED = re.compile(r"Task ucmail\.dialer\.run_list\[[^\]]+\] succeeded in [\d.]+s: (\{.*\})")


class Workers(CeleryWorkers):
    """Solo workers that run lists: what each run returned, and who got one."""

    def runs(self, n: int) -> list[dict[str, Any]]:
        """What each run_list task worker ``n`` finished returned."""
        return [ast.literal_eval(m.group(1)) for m in SUCCEEDED.finditer(self.text(n))]

    def received(self, n: int) -> bool:
        return "Task ucmail.dialer.run_list[" in self.text(n)


@pytest.fixture
def cluster(make_app, redis_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[Any]:
    """The test app on PostgreSQL and its workers, on a private Redis queue and prefix."""
    queue = f"ucmail.test.{secrets.token_hex(4)}"
    prefix = f"{redis_prefix}runners{secrets.token_hex(3)}:"
    celery = {
        "broker_url": redis_url,
        "broker_transport_options": {"global_keyprefix": prefix},
        "task_routes": {"ucmail.*": {"queue": queue}},
        "task_ignore_result": True,
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "worker_enable_remote_control": False,
        "broker_connection_retry_on_startup": True,
    }
    # A short tick: a dead runner's slot lease (three ticks) runs out within seconds.
    config = {
        "UCMAIL_LOCK_PREFIX": f"{prefix}lock:",
        "UCMAIL_DIALER_TICK": 2,
        "UCMAIL_DIALER_LEASE": 5,
        "UCMAIL_DISPATCH": "celery",
    }
    app = make_app("postgresql", CELERY=dict(celery), **config)
    workers = Workers(app, {"queue": queue, "celery": celery, "config": config}, tmp_path)
    try:
        yield app, workers
    finally:
        workers.stop_all()


def _list(app: Flask, port: int, total: int) -> int:
    with app.app_context():
        campaign_id = helpers.make_campaign(port)
        dialer_id = helpers.make_dialer(campaign_id, seconds_between=SECONDS_BETWEEN)
        csv = helpers.csv_text(helpers.simple_rows(total))
        return helpers.upload(dialer_id, csv, subject="x").list_id


def _state(app: Flask, list_id: int) -> str:
    with app.app_context():
        db.session.expire_all()
        return db.session.get(DialerList, list_id).state


def _records(app: Flask, list_id: int) -> list[DialerRecord]:
    with app.app_context():
        db.session.expire_all()
        records = db.session.query(DialerRecord).filter_by(list_id=list_id).all()
        db.session.expunge_all()
        return records


@pytest.mark.integration
def test_play_starts_two_runners_that_share_the_list_and_its_pace(cluster) -> None:
    app, workers = cluster
    total = 1200
    with SmtpSink() as sink:
        list_id = _list(app, sink.port, total)
        with app.app_context():
            assert runners.runners_per_list() == 2
        workers.start()
        workers.start()
        workers.wait_ready()

        with app.app_context():
            assert dialer_service.play_list(list_id, None, "1").ok
        wait_until(lambda: _state(app, list_id) == "done", 180, "the list is sent")
        wait_until(lambda: all(workers.runs(n) for n in (0, 1)), 30, "both runs end")

        ids = helpers.message_ids([m.raw for m in sink.messages])
    assert len(ids) == total and len(set(ids)) == total, "a record was sent twice or lost"
    records = _records(app, list_id)
    assert {r.state for r in records} == {"sent"}
    # Two processes sent it, each in its own slot.
    runs = [workers.runs(n) for n in (0, 1)]
    sent_by_worker = [sum(run["counts"].get("sent", 0) for run in each) for each in runs]
    assert min(sent_by_worker) > 0 and sum(sent_by_worker) == total, runs
    assert {run["slot"] for each in runs for run in each} == {0, 1}
    # The dialer's time between messages held for both runners together.
    times = sorted(r.sent_at for r in records)
    span = (times[-1] - times[0]).total_seconds()
    assert span >= 0.9 * (total - 1) * SECONDS_BETWEEN, span


@pytest.mark.integration
def test_a_runner_killed_mid_list_is_replaced_by_the_beat(cluster) -> None:
    app, workers = cluster
    total = 4000
    with SmtpSink() as sink:
        list_id = _list(app, sink.port, total)
        for _ in range(3):
            workers.start()
        workers.wait_ready()

        with app.app_context():
            assert dialer_service.play_list(list_id, None, "1").ok
            prefix = runners.slot_name(list_id, 0)[:-1]
            wait_until(lambda: len(locks.held_names(prefix)) == 2, 60, "two runners hold slots")
        sink.wait_for(300, timeout=60)
        busy = [n for n in range(3) if workers.received(n)]
        (idle,) = [n for n in range(3) if n not in busy]
        victim = workers.processes[busy[0]]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        assert sink.count < total

        # The beat, as celery beat would run it, until the list is finished.
        deadline = time.monotonic() + 240
        while _state(app, list_id) != "done":
            assert time.monotonic() < deadline, "the list was not finished"
            with app.app_context():
                dialer_recovery.tick()
            time.sleep(0.5)
        ids = helpers.message_ids([m.raw for m in sink.messages])

    assert len(ids) == len(set(ids)), "a record was sent twice"
    records = _records(app, list_id)
    interrupted = [r for r in records if r.state != "sent"]
    assert len(interrupted) <= 1  # at most the one on the wire when the runner died
    assert all(r.error == dialer_recovery.INTERRUPTED for r in interrupted)
    assert len(set(ids)) >= total - len(interrupted), "a record was lost"
    # The worker that was idle took the dead runner's slot and sent part of the list.
    replacement = workers.runs(idle)
    in_a_slot = [run for run in replacement if run["slot"] is not None]
    assert sum(run["counts"].get("sent", 0) for run in in_a_slot) > 0, replacement


# --------------------------------------------------------------------------- slots


def _queued_slots(list_id: int) -> list[str]:
    """Slots a runner was queued for within the last lease (``runners.start``'s markers)."""
    names = locks.held_names(f"{runners.START_PREFIX}{list_id}:")
    return [name.rsplit(":", 1)[1] for name in names]


def _played(app: Flask, port: int, rows: int = 5) -> int:
    app.config["UCMAIL_DISPATCH"] = "off"  # the queued runners are looked at, not run
    list_id = _list(app, port, rows)
    with app.app_context():
        assert dialer_service.play_list(list_id, None, "1").ok
    return list_id


def test_play_queues_two_runners_on_postgresql_and_one_on_sqlite(any_app, sink) -> None:
    list_id = _played(any_app, sink.port)
    with any_app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
        assert _queued_slots(list_id) == (["0", "1"] if postgresql else ["0"])


def test_the_beat_starts_only_the_slot_whose_runner_is_gone(make_app, sink) -> None:
    app = make_app("postgresql", UCMAIL_DIALER_TICK=0.4)  # slot leases of 1.2 s
    list_id = _played(app, sink.port)
    with app.app_context():
        alive = locks.acquire(runners.slot_name(list_id, 0), 60)
        assert alive is not None
        wait_until(lambda: not _queued_slots(list_id), 60, "Play's markers expire")

        assert dialer_recovery.tick() == [list_id]
        assert _queued_slots(list_id) == ["1"]
        assert dialer_recovery.tick() == []  # already queued: not again within its lease
        alive.release()


def test_a_runner_finding_every_slot_taken_sends_nothing(make_app, sink) -> None:
    app = make_app("postgresql", UCMAIL_DIALER_TICK=0.4)
    list_id = _played(app, sink.port)
    with app.app_context():
        held = [locks.acquire(runners.slot_name(list_id, slot), 60) for slot in (0, 1)]
        run = runners.run_slot(list_id, 0)
        assert (run.slot, run.result.outcome) == (None, "busy")
        assert helpers.states(list_id) == {"pending": 5} and sink.count == 0
        for lease in held:
            lease.release()


def test_a_runner_waits_for_a_slot_its_predecessor_is_leaving(make_app, sink) -> None:
    """A handoff queues the next task before the old one lets its slot go."""
    app = make_app("postgresql", UCMAIL_DIALER_TICK=5)  # the wait lasts a 15 s lease
    list_id = _played(app, sink.port)
    with app.app_context():
        held = [locks.acquire(runners.slot_name(list_id, slot), 60) for slot in (0, 1)]
        leaving = threading.Timer(0.3, held[1].release)
        leaving.start()
        run = runners.run_slot(list_id)
        leaving.join()
        held[0].release()
        assert (run.slot, run.result.outcome) == (1, "done")
        assert helpers.states(list_id) == {"sent": 5} and sink.count == 5
