"""IMAP IDLE at scale: ``python -m bench scale_idle [--mailboxes 1000] [--samples 100]``.

Starts a private Dovecot raised for thousands of connections (imap processes
serve many clients each; the login process runs in high-performance mode),
PostgreSQL and Redis leases, ``--mailboxes`` receiving campaigns, and real
``IdleNode`` processes (``bench.idle_node``). Four figures:

- ``idle_mailboxes_per_process``: mailboxes one process listens to at once.
- ``idle_rss_mb_per_1000``: that process's resident memory, per 1,000 mailboxes.
- ``idle_arrival_p99_ms``: with two processes sharing the mailboxes, APPEND to a
  random mailbox -> interaction stored, 99th percentile.
- ``idle_takeover_s``: SIGKILL one of the two -> the survivor listens to every
  mailbox again (``UCMAIL_IDLE_TAKEOVER`` is 30 s).
- ``idle_round_ms_per_1000``: one node's round (extend its leases, read the
  campaigns and the nodes), holding every mailbox, per 1,000 mailboxes; it runs
  every ``UCMAIL_IDLE_TAKEOVER / 6`` seconds.

``--leases database`` keeps the leases in PostgreSQL instead of Redis.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, insert, select

from bench.common import bench_app, database_url, emit, percentile
from tests.fixtures.servers import (
    DovecotServer,
    delete_redis_keys,
    redis_base_url,
    redis_key_prefix,
    require_redis,
)
from tests.inbound.helpers import mail

BENCH = "scale_idle"
ROOT = Path(__file__).resolve().parents[1]

# Each IDLE holds a connection; by default Dovecot gives each one its own imap
# process (service_count 1, process_limit 100) and caps a login process at 1,000
# clients: here an imap process serves 250 clients, a login process all of them.
SCALE_CONF = """
default_client_limit = 10000
default_process_limit = 200
mail_max_userip_connections = 2000
mailbox_idle_check_interval = 1 secs
service imap-login {
  service_count = 0
  client_limit = 10000
  process_min_avail = 2
}
service imap {
  service_count = 0
  client_limit = 250
  process_limit = 200
}
service auth {
  client_limit = 10000
}
service anvil {
  client_limit = 10000
}
"""


class Node:
    """A bench.idle_node process and the count of mailboxes it listens to."""

    def __init__(self, db_url: str, files: str, config: dict[str, Any], log: Path) -> None:
        self._log = open(log, "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.idle_node", db_url, files, json.dumps(config)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.listening = 0
        self.round_s = 0.0
        self.lines = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            item = json.loads(line)
            self.listening, self.round_s = item["listening"], item["round_s"]
            self.lines += 1

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()


def _wait(condition, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"the benchmark waited {timeout} s for {what}")
        time.sleep(0.01)
    return time.monotonic() - start


def _make_campaigns(app: Flask, dovecot: DovecotServer, count: int) -> list[tuple[int, str]]:
    from ucmail_ext.crypto import encrypt_secret
    from ucmail_ext.extension import get_state
    from ucmail_ext.models import Campaign

    rows, users = [], []
    with app.app_context():
        for n in range(count):
            account = dovecot.new_account()
            users.append(account.user)
            rows.append(
                {
                    "name": f"Box {n}",
                    "email_address": f"{account.user}@bench.test",
                    "username": account.user,
                    "password_encrypted": encrypt_secret(account.password),
                    "imap_host": account.host,
                    "imap_port": account.port,
                    "imap_security": "none",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": 2525,
                    "smtp_security": "none",
                    "receive_emails": True,
                    "enabled": True,
                }
            )
        session = get_state().session
        session.execute(insert(Campaign), rows)
        session.commit()
        ids = session.scalars(select(Campaign.id).order_by(Campaign.id)).all()
    return list(zip(ids, users, strict=True))


def _stored(app: Flask, campaign_id: int) -> int:
    from ucmail_ext.extension import get_state
    from ucmail_ext.models import Interaction

    with app.app_context():
        session = get_state().session
        count = session.scalar(
            select(func.count()).select_from(Interaction).filter_by(campaign_id=campaign_id)
        )
        session.remove()
        return int(count or 0)


@contextlib.contextmanager
def _leases(where: str) -> Iterator[dict[str, str]]:
    if where == "database":
        yield {}  # no Redis configured, broker in memory: the ucmail_lock table
        return
    url = redis_base_url()
    require_redis(url)
    prefix = redis_key_prefix() + "bench:"
    try:
        yield {"UCMAIL_LOCK_URL": url, "UCMAIL_LOCK_PREFIX": prefix}
    finally:
        delete_redis_keys(url, prefix)


def run(mailboxes: int, samples: int, db: str, leases_in: str) -> None:
    workdir = tempfile.mkdtemp(prefix="ucmail-bench-idle-")
    files = str(Path(workdir) / "files")
    nodes: list[Node] = []
    with (
        DovecotServer(extra_conf=SCALE_CONF) as dovecot,
        database_url(db, workdir) as url,
        _leases(leases_in) as leases,
        bench_app(url, files, **leases) as app,
    ):
        boxes = _make_campaigns(app, dovecot, mailboxes)
        config = {**leases, "UCMAIL_IDLE_TAKEOVER": 30}

        def start(name: str) -> Node:
            node = Node(url, files, config, Path(workdir) / f"{name}.log")
            nodes.append(node)
            return node

        try:
            first = start("first")
            _wait(lambda: first.listening >= mailboxes, 600, "one process to hold them all")
            emit(BENCH, "idle_mailboxes_per_process", first.listening, "mailboxes")
            emit(BENCH, "idle_rss_mb_per_1000", first.rss_mb() * 1000 / mailboxes, "MB")

            second = start("second")
            half = mailboxes // 2
            _wait(
                lambda: (
                    first.listening + second.listening == mailboxes
                    and min(first.listening, second.listening) >= half
                ),
                600,
                "the second process to take its share",
            )
            latencies = []
            rng = random.Random(14)
            for n in range(samples + 5):
                campaign_id, user = rng.choice(boxes)
                before = _stored(app, campaign_id)
                started = time.perf_counter()
                dovecot.append(user, mail(n))
                _wait(lambda c=campaign_id, b=before: _stored(app, c) > b, 60, "an arrival")
                if n >= 5:  # the first few warm both processes up
                    latencies.append(time.perf_counter() - started)
            emit(BENCH, "idle_arrival_p99_ms", percentile(latencies, 0.99) * 1000, "ms")

            second.process.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            second.process.wait(10)
            _wait(lambda: first.listening == mailboxes, 300, "the take-over")
            emit(BENCH, "idle_takeover_s", time.monotonic() - killed, "s")
            seen = first.lines
            _wait(lambda: first.lines >= seen + 12, 60, "a few more rounds")
            emit(BENCH, "idle_round_ms_per_1000", first.round_s * 1e6 / mailboxes, "ms")
        finally:
            for node in nodes:
                node.stop()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench scale_idle")
    parser.add_argument("--mailboxes", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=100, help="arrivals timed")
    parser.add_argument("--db", default="postgresql", help="postgresql or a database URL")
    parser.add_argument("--leases", choices=("redis", "database"), default="redis")
    args = parser.parse_args(argv)
    run(args.mailboxes, args.samples, args.db, args.leases)


if __name__ == "__main__":
    main(sys.argv[1:])
