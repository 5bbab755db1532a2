"""Several runners per list: slots, their leases, and starting them.

One ``run_list`` task per list left a second Celery worker idle however long the
list (issue 14). A list now has up to ``UCMAIL_DIALER_RUNNERS_PER_LIST`` runners
at once, each in a numbered *slot*. A runner holds the lock ``dialer-list:<id>:<slot>``
(``services/locks.py``) for as long as it sends, extended by a small thread, so:

- two tasks for one slot (a redelivery, a tick racing a handoff) never both send:
  the second waits for the slot to be free, then runs or, finding every slot
  taken, gives up without sending;
- a runner killed with SIGKILL frees its slot when its lease expires (three beat
  ticks), and the beat then starts a runner for that slot alone, while the other
  slots keep sending.

Correctness never rests on the slots: records are claimed row by row
(``FOR UPDATE SKIP LOCKED``) and the pace is booked on the dialer's row
(``pacing.book``), so runners share the dialer's time between messages and the
relay's learnt pace whatever their number. The slots only bound how many send.

SQLite keeps one runner per list: it has one writer at a time, so a second runner
would wait on the first's commits (``database is locked``) instead of sending.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from ucmail_ext.dispatch import enqueue
from ucmail_ext.extension import get_state
from ucmail_ext.services import locks
from ucmail_ext.services.dialer import send as dialer_send

log = logging.getLogger(__name__)

SLOT_PREFIX = "dialer-list:"
# Taken when a runner is queued, so the next ticks do not queue it again while the
# task waits in the broker; it simply expires.
START_PREFIX = "dialer-start:"
# How often a waiting task looks for a free slot.
WAIT_STEP = 0.2


@dataclass(frozen=True)
class SlotRun:
    """What one runner did, and in which slot (None: it found every slot taken)."""

    slot: int | None
    result: dialer_send.RunResult


def runners_per_list(session: Session | None = None) -> int:
    """How many runners one list gets here (see the module doc for SQLite)."""
    session = session or get_state().session
    if session.get_bind().dialect.name == "sqlite":
        return 1
    return max(1, int(current_app.config["UCMAIL_DIALER_RUNNERS_PER_LIST"]))


def slot_ttl() -> float:
    """A runner's lease: three beat ticks, so a dead one is replaced within four."""
    return max(1.0, 3 * float(current_app.config["UCMAIL_DIALER_TICK"]))


def slot_name(list_id: int, slot: int) -> str:
    return f"{SLOT_PREFIX}{list_id}:{slot}"


def live_slots() -> dict[int, set[int]]:
    """Slots whose runner holds its lease, by list id."""
    held: dict[int, set[int]] = {}
    for name in locks.held_names(SLOT_PREFIX):
        list_part, _, slot_part = name[len(SLOT_PREFIX) :].partition(":")
        if list_part.isdigit() and slot_part.isdigit():
            held.setdefault(int(list_part), set()).add(int(slot_part))
    return held


def start(list_id: int, slots: list[int], force: bool = False) -> list[int]:
    """Queue a runner for each slot not already queued in the last lease; the slots queued.

    ``force``: queue them even so (Play, or a list with no live runner at all).
    Call after the commit that made the list active.
    """
    ttl = slot_ttl()
    queued = []
    for slot in slots:
        marker = locks.acquire(f"{START_PREFIX}{list_id}:{slot}", ttl)
        if marker is not None or force:
            queued.append(slot)
    for slot in queued:
        enqueue("ucmail.dialer.run_list", list_id, slot)
    return queued


class _Keeper:
    """Extends a runner's lease while it sends; a lost lease is only logged (module doc)."""

    def __init__(self, lease: locks.Lease, every: float) -> None:
        self.lease = lease
        self.every = every
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"ucmail {lease.name}", daemon=True)

    def _run(self) -> None:
        while not self.done.wait(self.every):
            try:
                held = self.lease.extend()
            except Exception:
                log.exception("could not extend the dialer runner lease %s", self.lease.name)
                continue
            if not held:
                log.warning("dialer runner lease %s was lost; another may take it", self.lease.name)

    def __enter__(self) -> _Keeper:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.done.set()
        self.thread.join(timeout=self.every + 10)
        self.lease.release()


def _take_slot(list_id: int, preferred: int | None, wait: float) -> tuple[int, locks.Lease] | None:
    """The preferred slot, else any free one, waiting up to ``wait`` seconds for one."""
    count = runners_per_list()
    order = list(range(count))
    if preferred is not None and 0 <= preferred < count:
        order.remove(preferred)
        order.insert(0, preferred)
    ttl = slot_ttl()
    deadline = time.monotonic() + wait
    while True:
        for slot in order:
            lease = locks.acquire(slot_name(list_id, slot), ttl)
            if lease is not None:
                return slot, lease
        if time.monotonic() >= deadline:
            return None
        time.sleep(WAIT_STEP)


def run_slot(list_id: int, slot: int | None = None) -> SlotRun:
    """Send the list in one slot (``slot`` first, any free one else) while holding it.

    A slot's lease outlives a killed runner by up to its TTL, and a handoff queues the
    next task before this one lets go: so the task waits that long for a slot before
    concluding that every runner the list may have is already there ("busy").
    """
    taken = _take_slot(list_id, slot, slot_ttl() + WAIT_STEP)
    if taken is None:
        get_state().session.rollback()
        return SlotRun(None, dialer_send.RunResult(list_id, outcome="busy"))
    number, lease = taken
    with _Keeper(lease, slot_ttl() / 3):
        result = dialer_send.run_list(list_id)
    return SlotRun(number, result)
