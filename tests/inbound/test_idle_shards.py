"""Several IDLE processes share the mailboxes: one listener per mailbox, even, with failover."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select

from example_host_app.extensions import db
from tests.inbound.helpers import mail, make_campaign
from ucmail_ext.models import Interaction, Message
from ucmail_ext.services import locks
from ucmail_ext.services.inbound.idle_leases import assign

REPO = Path(__file__).resolve().parents[2]
TAKEOVER = 6  # seconds: leases live 3 s, rounds every second
DEADLINE = 60  # seconds: generous, the machine is shared


def test_assignment_is_even_and_moves_little_when_a_node_joins():
    boxes = range(1, 1001)
    three = assign(boxes, ["a", "b", "c"])
    loads = [list(three.values()).count(node) for node in "abc"]
    assert sum(loads) == 1000 and max(loads) - min(loads) <= 1

    four = assign(boxes, ["a", "b", "c", "d"])
    moved = sum(1 for box in boxes if three[box] != four[box])
    assert sorted(list(four.values()).count(node) for node in "abcd") == [250, 250, 250, 250]
    assert moved < 400  # about a quarter move to the new node, not everything


def test_assignment_is_the_same_whatever_order_a_node_reads_the_lists_in():
    assert assign([3, 1, 2, 9], ["y", "x"]) == assign([9, 2, 1, 3], ["x", "y", "x"])
    assert assign([], ["x"]) == {} and assign([1], []) == {}


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def lock_ctx(request, make_app):
    if request.param == "redis":
        prefix = f"{request.getfixturevalue('redis_prefix')}many{secrets.token_hex(3)}:"
        app = make_app(
            UCMAIL_LOCK_URL=request.getfixturevalue("redis_url"), UCMAIL_LOCK_PREFIX=prefix
        )
    else:
        app = make_app(request.param)
    with app.app_context():
        yield app


def test_extending_many_leases_at_once_reports_those_lost_and_leaves_others_alone(lock_ctx):
    ours = [locks.acquire(f"idle:{n}", ttl=30) for n in range(3)]
    nodes = [locks.acquire(f"idle-node:{name}", ttl=30) for name in ("a", "b")]
    thief = locks.acquire("idle:9", ttl=0.3)
    assert all(ours) and all(nodes) and thief is not None
    time.sleep(0.45)
    other = locks.acquire("idle:9", ttl=30)  # someone else took it after it expired
    assert other is not None

    assert locks.extend_many([*ours, thief]) == {"idle:0", "idle:1", "idle:2"}
    assert locks.acquire("idle:9") is None and other.extend()  # the new holder's, untouched
    assert locks.held_names("idle-node:") == ["idle-node:a", "idle-node:b"]


# ------------------------------------------------------------------ real processes


@dataclass
class Node:
    process: subprocess.Popen[str]
    events: list[tuple[float, int, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    killed_at: float | None = None

    def held(self) -> set[int]:
        with self.lock:
            now: set[int] = set()
            for _, box, on in self.events:
                (now.add if on else now.discard)(box)
            return now

    def intervals(self, box: int) -> list[tuple[float, float]]:
        spans, start = [], None
        with self.lock:
            for t, b, on in self.events:
                if b != box:
                    continue
                if on:
                    start = t
                elif start is not None:
                    spans.append((start, t))
                    start = None
        if start is not None:
            spans.append((start, self.killed_at or time.time()))
        return spans


def _read(node: Node) -> None:
    assert node.process.stdout is not None
    for line in node.process.stdout:
        item = json.loads(line)
        if "box" in item:
            with node.lock:
                node.events.append((item["t"], item["box"], item["on"]))


def wait_until(condition, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"not within {timeout} s: {what}"
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture(params=["redis", "database"])
def lock_backend(request, redis_url, redis_prefix) -> dict[str, object]:
    """Leases in Redis, or in the database (no Redis configured, broker not Redis)."""
    if request.param == "redis":
        prefix = f"{redis_prefix}shards{secrets.token_hex(3)}:"
        return {"UCMAIL_LOCK_URL": redis_url, "UCMAIL_LOCK_PREFIX": prefix}
    return {}


@pytest.fixture
def start_node(tmp_path):
    nodes: list[Node] = []
    logs = []

    def start(app, config: dict[str, object]) -> Node:
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        extra = json.dumps({**config, "UCMAIL_IDLE_TAKEOVER": TAKEOVER})
        logs.append(open(tmp_path / f"node{len(nodes)}.log", "w"))  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.inbound.idle_process", url, str(tmp_path), extra],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=logs[-1],
            text=True,
        )
        node = Node(process)
        threading.Thread(target=_read, args=(node,), daemon=True).start()
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        if node.process.poll() is None:
            node.process.kill()
        node.process.wait(10)
        node.process.stdout.close()
    for log in logs:
        log.close()


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _assert_never_both(nodes: list[Node], boxes: list[int]) -> None:
    for box in boxes:
        spans = sorted(span for node in nodes for span in node.intervals(box))
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end <= start, f"mailbox {box} was held by two processes at once"


@pytest.mark.integration
def test_processes_share_mailboxes_take_over_a_killed_one_and_lose_no_mail(
    make_app, dovecot, lock_backend, start_node
):
    app = make_app("postgresql", **lock_backend)
    accounts = [dovecot.new_account() for _ in range(6)]
    boxes = [make_campaign(app, account, name=f"Box {n}") for n, account in enumerate(accounts)]

    first = start_node(app, lock_backend)
    wait_until(
        lambda: first.held() == set(boxes), DEADLINE, "the first process takes every mailbox"
    )
    second = start_node(app, lock_backend)
    wait_until(
        lambda: len(first.held()) == 3 and len(second.held()) == 3,
        DEADLINE,
        "the mailboxes are shared evenly when a second process joins",
    )
    assert first.held() | second.held() == set(boxes)

    for n, account in enumerate(accounts):
        dovecot.append(account.user, mail(n))
    wait_until(lambda: _count(app, Interaction) == 6, DEADLINE, "every mail imported")

    second.process.send_signal(signal.SIGKILL)
    second.process.wait(10)
    second.killed_at = time.time()
    # Within TAKEOVER on an idle machine (bench scale_idle measures it); generous here.
    wait_until(lambda: first.held() == set(boxes), DEADLINE, "take-over")

    for n, account in enumerate(accounts):
        dovecot.append(account.user, mail(100 + n))
    wait_until(lambda: _count(app, Interaction) == 12, DEADLINE, "mail after the take-over")

    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(20) == 0
    assert first.held() == set()  # handed everything back on SIGTERM
    _assert_never_both([first, second], boxes)
    assert _count(app, Message) == 12  # none lost, none doubled


@pytest.mark.integration
def test_two_flask_ucmail_idle_commands_share_the_work(app, dovecot, tmp_path):
    accounts = [dovecot.new_account() for _ in range(4)]
    boxes = [make_campaign(app, account, name=f"Box {n}") for n, account in enumerate(accounts)]
    env = {
        **os.environ,
        "HELPDESK_SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "HELPDESK_SECRET_KEY": app.config["SECRET_KEY"],
        "HELPDESK_UCMAIL_DISPATCH": "off",
        "HELPDESK_UCMAIL_IDLE_TAKEOVER": str(TAKEOVER),
        "HELPDESK_UCMAIL_ATTACHMENT_DIR": str(tmp_path / "files"),
        "HELPDESK_CELERY": json.dumps({"broker_url": "memory://"}),
    }
    command = [sys.executable, "-m", "flask", "--app", "example_host_app:create_app"]
    held: list[set[int]] = [set(), set()]
    lock = threading.Lock()
    processes = []

    def read(index: int, stream) -> None:
        for line in stream:
            words = line.split()
            if line.startswith("ucmail: listening to campaign"):
                with lock:
                    held[index].add(int(words[-1]))
            elif line.startswith("ucmail: handed over campaign"):
                with lock:
                    held[index].discard(int(words[-1]))

    try:
        for index in range(2):
            process = subprocess.Popen(
                [*command, "ucmail", "idle", "-v"],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            processes.append(process)
            threading.Thread(target=read, args=(index, process.stderr), daemon=True).start()
        wait_until(
            lambda: sorted(map(len, held)) == [2, 2] and set.union(*held) == set(boxes),
            DEADLINE,
            "two commands hold two mailboxes each",
        )
        victim = processes[1]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        orphaned = sorted(held[1])
        for n, account in enumerate(accounts):
            dovecot.append(account.user, mail(n))
        # No beat runs here: only the surviving listener can import the orphans' mail.
        wait_until(lambda: _count(app, Interaction) == 4, DEADLINE, "take-over by IDLE")
        with lock:
            assert set(orphaned) <= held[0]
        processes[0].send_signal(signal.SIGTERM)
        assert processes[0].wait(20) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(10)
            process.stderr.close()
    assert _count(app, Message) == 4
