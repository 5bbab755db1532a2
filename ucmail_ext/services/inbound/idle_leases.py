"""Many ``flask ucmail idle`` processes share the mailboxes: one listener per mailbox.

Each process is a *node*. It holds a lease ``idle-node:<id>`` (it is alive) and one
lease ``idle:<campaign id>`` per mailbox it listens to, both from ``services/locks``
(Redis, else the database) with a time-to-live of a third of ``UCMAIL_IDLE_TAKEOVER``.
Every sixth of that period a node runs one round:

1. extend its own leases; a mailbox lease it could not extend was taken over by
   someone else (we stalled past the TTL): stop listening at once;
2. read the receiving campaigns and the live nodes, and compute who should listen
   to what with :func:`assign` — every node computes the same answer from the same
   lists, so no message passes between them;
3. hand over what is no longer ours: stop listening, *then* release the lease, so
   the next holder never overlaps with us;
4. take the free leases of what is ours and start listening.

A node that dies stops extending: its leases expire after at most the TTL and the
others take its mailboxes in their next round, within ``UCMAIL_IDLE_TAKEOVER``
seconds in all. A node that joins appears in everyone's list in the next round;
the others hand over the mailboxes that are now its, so the load evens out. A node
stopped with SIGTERM releases everything at once.

Correctness never rests on the lease alone (``services/locks`` explains why): a
poll takes its own mailbox lock, and stored mail has unique keys. At worst two
listeners for a few seconds would poll twice; no message is lost or doubled.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask
from sqlalchemy import select

from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign
from ucmail_ext.services import locks
from ucmail_ext.services.inbound import ingest
from ucmail_ext.services.inbound.idle import IdleLoop

log = logging.getLogger(__name__)

NODE_PREFIX = "idle-node:"
MAILBOX_PREFIX = "idle:"


def assign(mailboxes: Iterable[int], nodes: Iterable[str]) -> dict[int, str]:
    """Who listens to which mailbox: even (at most one apart) and stable.

    Rendezvous hashing with bounded loads: each mailbox goes to the node that
    scores highest for it, unless that node already has its share, then to the
    next. A node joining or leaving moves about one share of mailboxes, not all.
    """
    members = sorted(set(nodes))
    boxes = sorted(set(mailboxes))
    if not members:
        return {}
    # Each node gets ``base`` mailboxes, and ``extra`` of them one more.
    base, extra = divmod(len(boxes), len(members))
    load = dict.fromkeys(members, 0)
    result: dict[int, str] = {}
    for box in boxes:
        ranked = sorted(members, key=lambda node: _score(node, box), reverse=True)
        chosen = next(n for n in ranked if load[n] < base or (load[n] == base and extra > 0))
        if load[chosen] == base:
            extra -= 1
        load[chosen] += 1
        result[box] = chosen
    return result


def _score(node: str, box: int) -> bytes:
    return hashlib.blake2b(f"{node}/{box}".encode(), digest_size=8).digest()


@dataclass
class _Held:
    lease: locks.Lease
    version: datetime | None


Listener = Callable[[int, bool], None]


class IdleNode:
    """One ``flask ucmail idle`` process: its share of the mailboxes, under leases."""

    def __init__(
        self,
        app: Flask,
        *,
        takeover: float | None = None,
        refresh: float | None = None,
        workers: int | None = None,
        wake_interval: float | None = None,
        on_change: Listener | None = None,
    ) -> None:
        self.app = app
        self.takeover = float(takeover or app.config["UCMAIL_IDLE_TAKEOVER"])
        # A dead node's leases run out within ttl and the others notice within one
        # round: half the take-over time, the other half is left for reconnecting.
        self.ttl = self.takeover / 3
        self.refresh = min(refresh or self.takeover / 6, self.takeover / 6)
        self.node_id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.loop = IdleLoop(
            app, workers=workers, wake_interval=wake_interval, poll_lock_ttl=self.takeover
        )
        self.on_change = on_change
        self.held: dict[int, _Held] = {}
        self._handing_over: dict[int, tuple[_Held, threading.Event]] = {}
        self._node_lease: locks.Lease | None = None
        self.round_seconds = 0.0  # how long the last round took (leases, campaigns)

    def run(self, stop: threading.Event) -> None:
        """Rounds until ``stop`` is set; then every mailbox is released."""
        self.loop.start()
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    with self.app.app_context():
                        self.step()
                except Exception:
                    log.exception("IDLE node %s: round failed", self.node_id)
                self.round_seconds = time.monotonic() - started
                stop.wait(self.refresh)
        finally:
            self.shutdown()

    def step(self) -> None:
        """One round (inside an app context): heartbeat, leases, hand-over, take."""
        self._heartbeat()
        self._extend_held()
        self._finish_handovers()
        wanted = self._receiving()
        nodes = {name[len(NODE_PREFIX) :] for name in locks.held_names(NODE_PREFIX)}
        nodes.add(self.node_id)
        plan = assign(wanted, nodes)
        mine = {box for box, node in plan.items() if node == self.node_id}
        for box in list(self.held):
            if box not in mine:
                self._hand_over(box)
            elif self.held[box].version != wanted[box]:
                # Edited (new password, host, folder): reconnect with the new settings.
                self.held[box].version = wanted[box]
                self.loop.remove(box)
                self.loop.add(box)
        for box in sorted(mine - self.held.keys() - self._handing_over.keys()):
            lease = locks.acquire(MAILBOX_PREFIX + str(box), self.ttl)
            if lease is None:
                continue  # its previous holder has not handed it over yet
            self.held[box] = _Held(lease, wanted[box])
            self._changed(box, True)
            self.loop.add(box)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop listening everywhere, then release every lease: the others take over now."""
        waiting = [(box, self.loop.remove(box)) for box in self.held]
        waiting += [(box, done) for box, (_, done) in self._handing_over.items()]
        for _, done in waiting:
            done.wait(timeout)
        self.loop.stop()
        with self.app.app_context():
            for box, held in list(self.held.items()):
                self._changed(box, False)
                held.lease.release()
            for box, (held, _) in list(self._handing_over.items()):
                self._changed(box, False)
                held.lease.release()
            if self._node_lease is not None:
                self._node_lease.release()
        self.held.clear()
        self._handing_over.clear()
        self._node_lease = None

    def _heartbeat(self) -> None:
        if self._node_lease is not None and self._node_lease.extend():
            return
        self._node_lease = locks.acquire(NODE_PREFIX + self.node_id, self.ttl)

    def _extend_held(self) -> None:
        leases = [held.lease for held in self.held.values()]
        leases += [held.lease for held, _ in self._handing_over.values()]
        still = locks.extend_many(leases)
        for box, held in list(self.held.items()):
            if held.lease.name not in still:
                log.warning("IDLE node %s lost mailbox %s to another node", self.node_id, box)
                del self.held[box]
                self.loop.remove(box)
                self._changed(box, False)

    def _hand_over(self, box: int) -> None:
        held = self.held.pop(box)
        self._handing_over[box] = (held, self.loop.remove(box))

    def _finish_handovers(self) -> None:
        for box, (held, done) in list(self._handing_over.items()):
            if done.is_set():
                del self._handing_over[box]
                self._changed(box, False)
                held.lease.release()

    def _receiving(self) -> dict[int, datetime | None]:
        rows = get_state().session.execute(
            select(Campaign.id, Campaign.updated_at).where(ingest.receiving_clause())
        )
        return {campaign_id: updated_at for campaign_id, updated_at in rows}

    def _changed(self, box: int, listening: bool) -> None:
        if self.on_change is not None:
            self.on_change(box, listening)
