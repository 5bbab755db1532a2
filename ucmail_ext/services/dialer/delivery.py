"""The send stage of the dialer: sender threads, one SMTP connection each.

``Delivery`` renders a claimed record, waits for its sending slot, sends it and
turns the answer into an ``Outcome``; senders run it in the claiming thread (one
connection) or in a pool of threads (several). Before each SMTP transaction the
journal gets the record's id, and after the answer how it went, so a worker
killed mid-batch can be settled exactly (``dialer_recovery``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ucmail_ext.mail.replies import is_throttling
from ucmail_ext.mail.smtp import SendResult, SmtpConnection
from ucmail_ext.services.dialer.compose import (
    ClaimedRecord,
    ListComposer,
    NotSendable,
    Prepared,
)
from ucmail_ext.services.dialer.journal import Journal

log = logging.getLogger(__name__)

STOP_CHECK_SECONDS = 0.5
# A sender waiting for its slot looks at the stop signal at least this often.
STOP_WAKE_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one claimed record; written by ``record``."""

    record_id: int
    state: str
    attempts: int
    status_code: str = ""
    error: str = ""
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = None
    message_id: str | None = None


@dataclass
class RetryPolicy:
    retries: int
    backoff: float

    def after_failure(self, claimed: ClaimedRecord, result: SendResult, now: datetime) -> Outcome:
        code = str(result.code or "")
        if result.status == "permfail":
            state = "rejected" if result.code else "failed"
            return Outcome(claimed.id, state, claimed.attempts, code, result.text)
        if claimed.attempts >= self.retries:
            error = f"gave up after {claimed.attempts} attempts: {result.text}"
            return Outcome(claimed.id, "failed", claimed.attempts, code, error)
        delay = self.backoff * (2 ** (claimed.attempts - 1))
        return Outcome(
            claimed.id,
            "deferred",
            claimed.attempts,
            code,
            result.text,
            next_attempt_at=now + timedelta(seconds=delay),
        )


def released(claimed: ClaimedRecord) -> Outcome:
    """Claimed but never attempted (a stop, an aborted batch): back in the queue."""
    return Outcome(claimed.id, "pending", claimed.attempts - 1)


def throttled(claimed: ClaimedRecord, result: SendResult, message_id: str) -> Outcome:
    """The relay said "slow down": back in the queue as if never tried (issue 16).

    The attempt is not counted: the answer was about the sender's pace, not about
    this record, and counting it turned a throttling relay into failed records.
    """
    return Outcome(
        claimed.id,
        "pending",
        claimed.attempts - 1,
        str(result.code or ""),
        f"throttled by the relay: {result.text}",
        message_id=message_id,
    )


class Slots:
    """The batch's booked sending times, handed out as messages are about to go.

    A record that cannot be rendered takes no slot; with several connections each
    message still gets its own slot, in order.
    """

    def __init__(self, first: float = 0.0, interval: float = 0.0) -> None:
        self.first = first
        self.interval = interval
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> float:
        if not self.interval:
            return 0.0
        with self._lock:
            at = self.first + self._next * self.interval
            self._next += 1
        return at


class StopSignal:
    """Whether the run must stop (stop pressed, campaign disabled, ...), for every thread.

    Each sender asks before each message; the answer is read from the database at
    most once per ``max_age`` seconds whichever thread asks (one query, the others
    reuse it), so that a stop reaches every connection before its next message
    without a query per message at full speed. ``check`` must be safe in any thread
    (its own connection, not the claiming thread's session).
    """

    def __init__(self, check: Callable[[], str | None], max_age: float) -> None:
        self._check = check
        self.max_age = max_age
        self.reason: str | None = None
        self.seen = threading.Event()
        self._checked = 0.0
        self._lock = threading.Lock()

    def poll(self) -> str | None:
        if self.reason is not None:
            return self.reason
        with self._lock:
            now = time.monotonic()
            if self.reason is None and now - self._checked >= self.max_age:
                reason = self._check()
                self._checked = time.monotonic()
                if reason is not None:
                    self.reason = reason
                    self.seen.set()
        return self.reason


class Delivery:
    """Renders and sends one claimed record at a time, in any sender thread.

    Rendering happens here rather than in the thread that claims, so that with
    several connections each thread renders its own message while the others wait
    on the network.
    """

    def __init__(
        self,
        composer: ListComposer,
        journal: Journal,
        policy: RetryPolicy,
        streak: int,
        max_errors: int,
    ) -> None:
        self.composer = composer
        self.sender = composer.sender
        self.stop: StopSignal | None = None
        self.journal = journal
        self.policy = policy
        self.slots = Slots()
        self.cancelled = threading.Event()
        # A deque: sender threads append while the claiming thread takes.
        self.outcomes: deque[Outcome] = deque()
        self.connect_failed = threading.Event()
        # The relay asked to slow down: the batch stops, the runner lowers the pace.
        self.throttled = threading.Event()
        self.throttle_text = ""
        # With one connection: the next message renders while the server takes this one.
        self.while_waiting: Callable[[], None] | None = None
        # Per-domain pacing (pacing.DomainPacing): each record's booked domain slot, and
        # the domains that said "try later" in this batch. A throttle is then the
        # recipient domain's: only its records stop, the batch goes on.
        self.per_domain = False
        self.domain_slots: dict[int, float] = {}
        self.throttled_domains: dict[str, str] = {}
        self.too_many_errors = threading.Event()
        self.streak = streak
        self.max_errors = max_errors
        self.last_error = ""
        self._lock = threading.Lock()

    def _note(self, error: str | None) -> None:
        """Count errors in a row as they happen: the pause must not wait for the batch."""
        with self._lock:
            if error is None:
                self.streak = 0
                return
            self.streak += 1
            self.last_error = error
            if self.streak >= self.max_errors:
                self.too_many_errors.set()
                self.cancelled.set()

    def take_outcomes(self) -> list[Outcome]:
        taken = []
        while self.outcomes:
            taken.append(self.outcomes.popleft())
        return taken

    def render(self, claimed: ClaimedRecord) -> Prepared | None:
        """The message, or None with the record's outcome noted (cancelled, unsendable)."""
        if self.cancelled.is_set():
            self.outcomes.append(released(claimed))
            return None
        prepared = self.composer.render(claimed)
        if isinstance(prepared, NotSendable):
            self.outcomes.append(
                Outcome(prepared.record_id, prepared.state, claimed.attempts, error=prepared.reason)
            )
            return None
        return prepared

    def deliver(self, connection: SmtpConnection, claimed: ClaimedRecord) -> None:
        prepared = self.render(claimed)
        if prepared is None:
            return
        # Looked up before the wait for the slot, so the query never delays a send:
        # a stop then finds each connection either sending one message or waiting.
        if self._stopped():
            self.outcomes.append(released(claimed))
            return
        domain = claimed.email.rpartition("@")[2].lower() if self.per_domain else ""
        if domain and domain in self.throttled_domains:
            self.outcomes.append(released(claimed))
            return
        at = max(self.slots.take(), self.domain_slots.get(claimed.id, 0.0))
        if at:
            sleep_until(at, self.cancelled, self._stopped)
        if self.cancelled.is_set():
            self.outcomes.append(released(claimed))
            return
        self._send(connection, claimed, prepared)

    def _stopped(self) -> bool:
        """Asked before every message: a stop cancels what has not started yet."""
        if self.stop is None or self.stop.poll() is None:
            return False
        self.cancelled.set()
        return True

    def _send(self, connection: SmtpConnection, claimed: ClaimedRecord, prepared: Prepared) -> None:
        self.journal.attempt(prepared.record_id)
        result = connection.send_raw(
            self.sender, [prepared.to], prepared.raw, while_waiting=self.while_waiting
        )
        now = datetime.now(UTC)
        if result.ok:
            self.journal.delivered(prepared.record_id, now)
            self._note(None)
            self.outcomes.append(
                Outcome(
                    prepared.record_id,
                    "sent",
                    claimed.attempts,
                    "250",
                    sent_at=now,
                    message_id=prepared.message_id,
                )
            )
            return
        self.journal.not_delivered(prepared.record_id)
        if is_throttling(result.code, result.text) and (self.per_domain or result.refused):
            # The recipient was refused (RCPT), or the dialer paces per domain: the
            # recipient's domain asked, so only it slows down; from now on this run
            # paces per domain (the runner books the domain's slots).
            with self._lock:
                self.throttled_domains[prepared.to.rpartition("@")[2].lower()] = result.text
            self.per_domain = True
            self.outcomes.append(throttled(claimed, result, prepared.message_id))
            return
        if is_throttling(result.code, result.text):
            # Not an error (the streak is left as it is): the rest of the batch goes
            # back unsent, and the runner books the next one at a slower pace.
            self.throttle_text = result.text
            self.throttled.set()
            self.cancelled.set()
            self.outcomes.append(throttled(claimed, result, prepared.message_id))
            return
        outcome = self.policy.after_failure(claimed, result, now)
        self._note(outcome.error or "unknown error")
        if result.stage == "connect":
            # The account, not the message: stop this batch rather than fail it record
            # by record against a server that is not there.
            self.connect_failed.set()
            self.cancelled.set()
        self.outcomes.append(
            Outcome(
                outcome.record_id,
                outcome.state,
                outcome.attempts,
                outcome.status_code,
                outcome.error,
                next_attempt_at=outcome.next_attempt_at,
                message_id=prepared.message_id,
            )
        )


def sleep_until(
    at: float, cancelled: threading.Event, stopped: Callable[[], bool] | None = None
) -> None:
    """Wait for a slot; wakes at once on ``cancelled``, and looks at ``stopped`` meanwhile."""
    while True:
        delay = at - time.time()
        if delay <= 0:
            return
        if delay > 0.002:
            if cancelled.wait(min(delay - 0.001, STOP_WAKE_SECONDS)):
                return
            if stopped is not None and stopped():
                return
        else:
            time.sleep(delay)


class InlineSender:
    """One connection, used by the claiming thread itself.

    Rendering ahead in a second thread gains little and unsteadily: the thread
    hand-offs and the GIL cost most of what the overlap saves. The overlap comes
    from the same thread instead: it renders the next message while the server
    takes the current one (bench D1: 0.78-0.84 of raw smtplib before, 0.87-0.92).
    """

    def __init__(self, make: Callable[[], SmtpConnection], delivery: Delivery) -> None:
        self.connection = make()
        self.delivery = delivery
        delivery.while_waiting = delivery.composer.render_next

    overlaps = False

    def submit(self, claimed: ClaimedRecord) -> None:
        self.delivery.deliver(self.connection, claimed)

    def wait(self, timeout: float) -> bool:
        return True

    def close(self) -> None:
        self.connection.close()


class PoolSender:
    """N connections in N threads, fed through a bounded queue (listmonk's pool).

    Each thread renders what it sends, so rendering runs while the others wait on
    the network instead of queueing behind one renderer. The claiming thread does
    not wait for a batch to finish before claiming the next (``overlaps``): the
    connections stay busy while it writes results and claims.
    """

    overlaps = True

    def __init__(self, make: Callable[[], SmtpConnection], delivery: Delivery, size: int) -> None:
        self.delivery = delivery
        self._queue: queue.Queue[ClaimedRecord | None] = queue.Queue(maxsize=size * 4)
        self._pending = 0
        self._cond = threading.Condition()
        self._threads = [
            threading.Thread(target=self._work, args=(make,), daemon=True, name=f"ucmail-smtp-{i}")
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def _work(self, make: Callable[[], SmtpConnection]) -> None:
        connection = make()
        try:
            while True:
                claimed = self._queue.get()
                if claimed is None:
                    return
                try:
                    self.delivery.deliver(connection, claimed)
                except Exception:  # a bug must not lose the record: release it
                    log.exception("dialer delivery failed")
                    self.delivery.outcomes.append(released(claimed))
                finally:
                    with self._cond:
                        self._pending -= 1
                        if not self._pending:
                            self._cond.notify_all()
        finally:
            connection.close()

    def submit(self, claimed: ClaimedRecord) -> None:
        with self._cond:
            self._pending += 1
        self._queue.put(claimed)

    def wait(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
