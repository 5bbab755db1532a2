"""Scale-out on shared workers: real Celery worker processes on Redis and PostgreSQL.

``python -m bench scale [--only poll_sweep,dialer_workers] [--mailboxes 1000]
[--n 4000] [--db postgresql|sqlite|URL]`` prints these figures:

- ``poll_sweep_s_1000``: one Celery worker (``--concurrency`` processes, default 8 as
  the README's production command runs the inbound worker) sweeps ``--mailboxes``
  empty mailboxes: 1,000 campaigns, each a real account on one Dovecot (in its
  high-performance login mode; ``--dovecot default`` forks per login). The clock
  runs from sending ``ucmail.inbound.poll_all`` (the beat's task, which fans out one
  poll per mailbox) until every campaign shows a poll after that moment. Measured
  on the second sweep: the first also creates each mailbox's cursor
  (``poll_sweep_first_s_1000``). Goal: at most 30 s.
- ``dialer_2_workers_ratio``: messages per second of one list sent by two Celery
  worker processes (``-P solo``, one runner slot each: the ``ucmail.dialer.run_list``
  tasks Play queues, ``UCMAIL_DIALER_RUNNERS_PER_LIST``) over one, to a
  local SMTP sink in its own process. Goal: at least 1.5. Beside it, the evidence for
  whatever limits it: ``dialer_raw_2_threads_ratio`` (raw smtplib, 2 connections over
  1, to the same sink: what the sink and the machine allow at all),
  ``dialer_machine_cpu_busy_pct`` (all cores, during the two-worker run) and
  ``dialer_worker_cpu_per_s`` (CPU seconds each worker used per second of the run).
  ``dialer_relay_10ms_2_workers_ratio``: the same ratio against a sink that answers
  each message after 10 ms (a relay across a network): one connection per runner is
  then bound by the wire, not by the sink's CPU, so it shows what a second runner adds.

Every Celery queue gets a name private to the run, so workers of other runs or
tests on the same Redis never take these tasks. New figures (IDLE, ...) are a
function taking ``(args, workdir)`` added to ``FIGURES``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from celery import Celery
from flask import Flask
from sqlalchemy import func, select

from bench.common import bench_app, database_url, emit
from tests.fixtures.servers import DovecotServer, SmtpSinkProcess, redis_base_url, require_redis

BENCH = "scale"
# The same two runs against a sink that answers each message after this long, as a
# relay across a network does: there the sink's CPU is not the limit, the wire is.
RELAY_LATENCY = 0.01
RELAY_MESSAGES = 1000
ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret"
READY_TIMEOUT = 180.0
SWEEP_TIMEOUT = 900.0
# Dovecot's "high-performance" mode, as a site with many mailboxes runs it: login and
# imap processes serve one connection after another instead of one fork per login.
# ``--dovecot default`` keeps the out-of-the-box fork per login, for comparison.
FAST_DOVECOT = """
service imap-login {
  service_count = 0
  process_min_avail = 2
}
service imap {
  service_count = 0
}
"""


# --------------------------------------------------------------------------- workers


class Cluster:
    """The broker, the queue names of this run, and the settings workers start with."""

    def __init__(self, db_url: str, workdir: str) -> None:
        self.redis_url = redis_base_url()
        require_redis(self.redis_url)
        self.db_url = db_url
        self.workdir = workdir
        tag = f"bench{os.getpid()}"
        self.queues = {
            area: f"{tag}.{area}" for area in ("inbound", "outbound", "dialer", "routing", "system")
        }
        self.routes = {f"ucmail.{area}.*": {"queue": queue} for area, queue in self.queues.items()}
        self.lock_prefix = f"{tag}:lock:"
        self.logs: list[Path] = []
        self.client = Celery("bench-scale", broker=self.redis_url)
        self.client.conf.task_routes = self.routes

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "HELPDESK_SQLALCHEMY_DATABASE_URI": self.db_url,
            "HELPDESK_SECRET_KEY": SECRET,
            "HELPDESK_BROKER_URL": self.redis_url,
            "HELPDESK_CELERY__task_routes": json.dumps(self.routes),
            "HELPDESK_UCMAIL_LOCK_PREFIX": self.lock_prefix,
            "HELPDESK_UCMAIL_ATTACHMENT_DIR": str(Path(self.workdir) / "files"),
            "HELPDESK_UCMAIL_MESSAGE_ID_DOMAIN": "bench.test",
            "HELPDESK_UCMAIL_PUBLIC_URL": "https://helpdesk.bench.test",
            "HELPDESK_UCMAIL_DIALER_RUN_SECONDS": "3600",
            **extra,
        }

    def app_config(self) -> dict[str, Any]:
        """The bench process's own app: same secret (it encrypts the mailbox passwords)."""
        return {
            "SECRET_KEY": SECRET,
            "UCMAIL_LOCK_PREFIX": self.lock_prefix,
            "UCMAIL_PUBLIC_URL": "https://helpdesk.bench.test",
            "CELERY": {"broker_url": self.redis_url, "task_routes": self.routes},
        }

    @contextlib.contextmanager
    def workers(
        self, name: str, area: str, count: int, *, pool: str = "solo", concurrency: int = 1
    ) -> Iterator[list[subprocess.Popen[bytes]]]:
        """``count`` worker processes on one queue, started and ready, stopped on exit."""
        started: list[tuple[subprocess.Popen[bytes], Path]] = []
        try:
            for n in range(count):
                log = Path(self.workdir) / f"{name}{n}.log"
                command = [
                    sys.executable, "-m", "celery", "-A", "make_celery", "worker",
                    "-Q", self.queues[area], "-P", pool, "-c", str(concurrency),
                    "-n", f"{name}{n}.{os.getpid()}@%h", "-l", "info",
                    "--without-heartbeat", "--without-mingle", "--without-gossip",
                ]  # fmt: skip
                with open(log, "wb") as out:
                    process = subprocess.Popen(
                        command, cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT
                    )
                started.append((process, log))
                self.logs.append(log)
            for process, log in started:
                _wait_ready(process, log)
            yield [process for process, _ in started]
        finally:
            for process, _ in started:
                process.terminate()
            for process, _ in started:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def send(self, task: str, *args: Any) -> None:
        self.client.send_task(task, args=list(args))

    def purge(self) -> None:
        with self.client.connection_for_write() as conn:
            for queue in self.queues.values():
                conn.default_channel.queue_purge(queue)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.purge()
        self.client.close()
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(match=f"{self.lock_prefix}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def _wait_ready(process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while b" ready." not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"Celery worker did not start ({log}):\n{tail}")
        time.sleep(0.1)


def _wait_until(
    condition: Callable[[], bool], timeout: float, what: str, logs: Sequence[Path] = ()
) -> None:
    """Wait for ``condition``; a task that failed in a worker (its log says ERROR) ends
    the wait at once, with the worker's own words."""
    deadline = time.monotonic() + timeout
    while not condition():
        for log in logs:
            text = log.read_text(errors="replace")
            if "ERROR/" in text:
                raise RuntimeError(f"{what}: a task failed in {log}:\n{text[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not done after {timeout:.0f} s")
        time.sleep(0.1)


# --------------------------------------------------------------------------- poll sweep


def _make_mailboxes(app: Flask, dovecot: DovecotServer, count: int) -> None:
    from example_host_app.extensions import db
    from ucmail_ext.crypto import encrypt_secret
    from ucmail_ext.models import Campaign

    with app.app_context():
        for n in range(count):
            account = dovecot.add_user(f"sweep{n:05d}", f"pw-{n:05d}-secret")
            db.session.add(
                Campaign(
                    name=f"Mailbox {n:05d}",
                    email_address=f"{account.user}@bench.test",
                    username=account.user,
                    password_encrypted=encrypt_secret(account.password),
                    imap_host=account.host,
                    imap_port=account.port,
                    imap_security="none",
                    receive_emails=True,
                    enabled=True,
                )
            )
        db.session.commit()


def _polled_since(app: Flask, moment: Any) -> int:
    from example_host_app.extensions import db
    from ucmail_ext.models import Campaign

    with app.app_context():
        count = db.session.scalar(
            select(func.count(Campaign.id)).where(Campaign.last_poll_at >= moment)
        )
        db.session.rollback()
        return int(count or 0)


def _errors(app: Flask) -> list[str]:
    from example_host_app.extensions import db
    from ucmail_ext.models import Campaign

    with app.app_context():
        rows = db.session.scalars(
            select(Campaign.last_poll_error).where(Campaign.last_poll_error != "").limit(3)
        ).all()
        db.session.rollback()
        return list(rows)


def _sweep(app: Flask, cluster: Cluster, count: int) -> float:
    from ucmail_ext.models import utcnow

    moment = utcnow()
    started = time.perf_counter()
    cluster.send("ucmail.inbound.poll_all")
    try:
        _wait_until(
            lambda: _polled_since(app, moment) >= count, SWEEP_TIMEOUT, "poll sweep", cluster.logs
        )
    except TimeoutError:
        raise TimeoutError(f"sweep stalled; poll errors: {_errors(app)}") from None
    return time.perf_counter() - started


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and all its descendants, the exited ones it reaped too."""
    hertz = os.sysconf("SC_CLK_TCK")
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # it exited meanwhile; its parent's cutime has it once reaped
    return total / hertz


def poll_sweep(args: argparse.Namespace, workdir: str) -> None:
    count = args.mailboxes
    concurrency = args.concurrency
    with (
        database_url(args.db, workdir) as url,
        DovecotServer(extra_conf=FAST_DOVECOT if args.dovecot == "fast" else "") as dovecot,
    ):
        cluster = Cluster(url, workdir)
        try:
            with bench_app(url, str(Path(workdir) / "files"), **cluster.app_config()) as app:
                _make_mailboxes(app, dovecot, count)
                with cluster.workers(
                    "sweep", "inbound", 1, pool="prefork", concurrency=concurrency
                ) as (worker,):
                    first = _sweep(app, cluster, count)
                    master = int((Path(dovecot.root or "") / "run" / "master.pid").read_text())
                    cpu = (_tree_cpu(worker.pid), _tree_cpu(master), _machine_ticks())
                    second = _sweep(app, cluster, count)
                    busy, total = _machine_ticks()
                    worker_ms = (_tree_cpu(worker.pid) - cpu[0]) * 1000 / count
                    dovecot_ms = (_tree_cpu(master) - cpu[1]) * 1000 / count
                    busy_pct = 100.0 * (busy - cpu[2][0]) / max(1, total - cpu[2][1])
                assert not _errors(app), _errors(app)
        finally:
            cluster.close()
    emit(BENCH, f"poll_sweep_first_s_{count}", first, "s")
    emit(BENCH, f"poll_sweep_s_{count}", second, "s")
    emit(BENCH, "poll_sweep_worker_processes", concurrency, "processes")
    # Where a sweep's time goes: CPU per poll in the worker (Celery + ucmail) and in
    # Dovecot (a login forks imap-login and imap), and how busy the machine was.
    emit(BENCH, "poll_sweep_worker_cpu_ms_per_poll", worker_ms, "ms")
    emit(BENCH, "poll_sweep_dovecot_cpu_ms_per_poll", dovecot_ms, "ms")
    emit(BENCH, "poll_sweep_machine_cpu_busy_pct", busy_pct, "%")
    emit(BENCH, "poll_sweep_machine_cores", os.cpu_count() or 1, "cores")


# --------------------------------------------------------------------------- dialer


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def _send_list(
    app: Flask, cluster: Cluster, sink: SmtpSinkProcess, workers: list[Any], count: int
) -> tuple[float, float, list[float]]:
    """One fresh list of ``count`` records sent by ``workers`` (one runner slot each):
    messages per second, machine CPU busy percent, CPU seconds per second of each
    worker and, last, of the SMTP sink."""
    from bench.dialer import activate, count_sent, make_dialer, upload

    dialer_id = make_dialer(app, sink.port)
    list_id = upload(app, dialer_id, count)
    activate(app, list_id)  # the bench app dispatches nothing: the runners are ours
    sink.reset()
    hertz = os.sysconf("SC_CLK_TCK")
    # The sink's own process (SmtpSinkProcess keeps it private): is it saturated?
    pids = [w.pid for w in workers] + [sink._process.pid]
    before = [_cpu_ticks(pid) for pid in pids]
    busy0, total0 = _machine_ticks()
    started = time.perf_counter()
    for slot in range(len(workers)):
        cluster.send("ucmail.dialer.run_list", list_id, slot)
    _wait_until(
        lambda: count_sent(app, list_id) >= count, SWEEP_TIMEOUT, "dialer list", cluster.logs
    )
    elapsed = time.perf_counter() - started
    busy1, total1 = _machine_ticks()
    used = [(_cpu_ticks(pid) - b) / hertz / elapsed for pid, b in zip(pids, before, strict=True)]
    assert sink.count() == count, (sink.count(), count)
    return count / elapsed, 100.0 * (busy1 - busy0) / max(1, total1 - total0), used


def dialer_workers(args: argparse.Namespace, workdir: str) -> None:
    from bench.dialer import make_dialer, raw_rate, sample_message, upload

    count = args.n
    with database_url(args.db, workdir) as url, SmtpSinkProcess() as sink:
        cluster = Cluster(url, workdir)
        try:
            with bench_app(url, str(Path(workdir) / "files"), **cluster.app_config()) as app:
                probe = upload(app, make_dialer(app, sink.port), 1)
                message = sample_message(app, probe)
                raw1 = raw_rate(sink.port, message, count)
                raw2 = raw_rate(sink.port, message, count, threads=2)
                with cluster.workers("dialer", "dialer", 2) as workers:
                    _send_list(app, cluster, sink, workers[:1], min(count, 500))  # warm-up
                    one, _, _ = _send_list(app, cluster, sink, workers[:1], count)
                    two, busy, used = _send_list(app, cluster, sink, workers, count)
                    with SmtpSinkProcess(latency=RELAY_LATENCY) as relay:
                        relay_count = min(count, RELAY_MESSAGES)
                        relay_one, _, _ = _send_list(app, cluster, relay, workers[:1], relay_count)
                        relay_two, _, _ = _send_list(app, cluster, relay, workers, relay_count)
        finally:
            cluster.close()
    emit(BENCH, "dialer_1_worker_msgs_per_s", one, "msgs/s")
    emit(BENCH, "dialer_2_workers_msgs_per_s", two, "msgs/s")
    emit(BENCH, "dialer_2_workers_ratio", two / one, "x")
    emit(BENCH, "dialer_raw_1_connection_msgs_per_s", raw1, "msgs/s")
    emit(BENCH, "dialer_raw_2_threads_ratio", raw2 / raw1, "x")
    emit(BENCH, "dialer_machine_cpu_busy_pct", busy, "%")
    emit(BENCH, "dialer_machine_cores", os.cpu_count() or 1, "cores")
    *per_worker, sink_cpu = used
    for n, value in enumerate(per_worker):
        emit(BENCH, f"dialer_worker{n}_cpu_per_s", value, "cpu-s/s")
    emit(BENCH, "dialer_sink_cpu_per_s", sink_cpu, "cpu-s/s")
    ms = int(RELAY_LATENCY * 1000)
    emit(BENCH, f"dialer_relay_{ms}ms_1_worker_msgs_per_s", relay_one, "msgs/s")
    emit(BENCH, f"dialer_relay_{ms}ms_2_workers_msgs_per_s", relay_two, "msgs/s")
    emit(BENCH, f"dialer_relay_{ms}ms_2_workers_ratio", relay_two / relay_one, "x")


FIGURES: dict[str, Callable[[argparse.Namespace, str], None]] = {
    "poll_sweep": poll_sweep,
    "dialer_workers": dialer_workers,
}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench scale")
    parser.add_argument("--only", default=",".join(FIGURES), help="comma-separated figures")
    parser.add_argument("--mailboxes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8, help="sweep worker processes")
    parser.add_argument("--dovecot", choices=("fast", "default"), default="fast")
    parser.add_argument("--n", type=int, default=4000, help="dialer records per list")
    parser.add_argument("--db", default="postgresql")
    args = parser.parse_args(argv)
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in FIGURES]
    if unknown:
        parser.error(f"unknown figure {unknown[0]!r}; choose from {', '.join(FIGURES)}")
    for name in wanted:
        with tempfile.TemporaryDirectory(prefix=f"ucmail-bench-{name}-") as workdir:
            FIGURES[name](args, workdir)


if __name__ == "__main__":
    main(sys.argv[1:])
