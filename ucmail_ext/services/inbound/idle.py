"""IMAP IDLE: new mail is imported the moment the server announces it.

``flask ucmail idle`` runs an :class:`IdleNode`. Any number of them, on any machines,
share the receiving mailboxes (``idle_leases`` says how: one lease per mailbox, so
exactly one process listens to each). Inside a process, an :class:`IdleLoop` waits
on every IDLE connection at once with one selector, so a thousand mailboxes cost a
thousand sockets, not a thousand threads; a small pool of worker threads does the
blocking parts (connect and log in, poll, re-issue IDLE).

When a connection announces EXISTS, the loop runs the ordinary poll
(``ingest.poll_mailbox``) in the pool: arrival does not wait for a Celery worker,
and the poll keeps every guarantee it has elsewhere (lock, cursor, one transaction
per batch). Polling by beat stays on as the fallback: a listener that is down,
reconnecting, handing over or stopped loses nothing, it only makes arrival slower.

- IDLE starts *before* the first (catch-up) poll and stays on while polls run:
  mail that arrives before the poll's SELECT is found by the poll, mail that
  arrives after it is announced on the IDLE connection, and an announcement
  during a poll makes one more poll once it ends. Nothing falls in between.
- A poll that finds the mailbox locked by another worker is retried every 0.2 s
  for up to 10 s (or ``poll_lock_ttl``): that worker may have selected the folder
  before our mail arrived, or died holding the lock.
- A dropped connection or a login error reconnects with back-off (1 s doubling to
  ``max_backoff``); any other error is logged and treated the same way.
- IDLE is re-issued every ``UCMAIL_IDLE_TIMEOUT`` seconds (RFC 2177: less than 29
  minutes, or a NAT box forgets the connection).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from ucmail_ext.extension import get_state
from ucmail_ext.mail.imap import ImapError, ImapSession, open_mailbox
from ucmail_ext.models import Campaign
from ucmail_ext.services import metrics
from ucmail_ext.services.inbound import ingest
from ucmail_ext.services.mailboxes import imap_settings

log = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 0.2
BUSY_RETRY_FOR_SECONDS = 10.0


@dataclass(eq=False)
class _Watch:
    """One mailbox in the loop. Touched only by the loop thread."""

    campaign_id: int
    backoff: float
    session: ImapSession | None = None
    job: bool = False  # a connect or re-IDLE job owns the connection
    polling: bool = False
    dirty: bool = False  # new mail announced during a poll: poll once more
    busy_since: float | None = None
    stopping: bool = False
    timer_seq: int = 0  # bumped to cancel this watch's pending timers
    waiters: list[threading.Event] = field(default_factory=list)  # set once stopped


@dataclass(order=True)
class _Timer:
    when: float
    order: int
    watch: _Watch = field(compare=False)
    seq: int = field(compare=False)
    fn: Callable[[_Watch], None] = field(compare=False)

    @property
    def live(self) -> bool:
        """False once its watch was stopped, closed or ended after it was set."""
        return self.watch.timer_seq == self.seq and not self.watch.stopping


class IdleLoop:
    """Listens to many mailboxes from one thread; add and remove them from any thread."""

    def __init__(
        self,
        app: Flask,
        *,
        workers: int | None = None,
        wake_interval: float | None = None,
        min_backoff: float = 1.0,
        max_backoff: float = 60.0,
        poll_lock_ttl: float | None = None,
    ) -> None:
        self.app = app
        self.poll_lock_ttl = poll_lock_ttl
        # A dead poller's mailbox lock runs out after poll_lock_ttl: wait that long for it.
        self.busy_retry_for = max(BUSY_RETRY_FOR_SECONDS, poll_lock_ttl or 0.0)
        idle_timeout = float(app.config["UCMAIL_IDLE_TIMEOUT"])
        self.wake_interval = min(wake_interval or idle_timeout, idle_timeout)
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.polls = 0
        self._pool = ThreadPoolExecutor(
            max_workers=workers or int(app.config["UCMAIL_IDLE_WORKERS"]),
            thread_name_prefix="ucmail-idle-worker",
        )
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._calls: deque[Callable[[], None]] = deque()
        self._timers: list[_Timer] = []
        self._timer_ids = itertools.count()
        self._watches: dict[int, _Watch] = {}
        self._listening: dict[int, _Watch] = {}
        self._ended: set[int] = set()
        self._state_lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ucmail-idle-loop", daemon=True)

    # ---------------------------------------------------------------- any thread
    def start(self) -> IdleLoop:
        self._thread.start()
        return self

    def add(self, campaign_id: int) -> None:
        """Listen to this campaign's mailbox (no-op if already listening)."""
        self._call(lambda: self._add(campaign_id))

    def remove(self, campaign_id: int) -> threading.Event:
        """Stop listening; the event is set once the connection is closed and no poll runs."""
        done = threading.Event()
        self._call(lambda: self._remove(campaign_id, done))
        return done

    def listening(self) -> set[int]:
        """Mailboxes with an IDLE running right now."""
        with self._state_lock:
            return set(self._listening)

    def ended(self) -> set[int]:
        """Mailboxes given up because their campaign no longer receives mail."""
        with self._state_lock:
            return set(self._ended)

    def stop(self, timeout: float = 30.0) -> None:
        """Close every connection, wait for running polls, end the thread."""
        if not self._thread.is_alive():
            self._pool.shutdown(wait=True)
            return
        self._call(self._stop_all)
        self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _call(self, fn: Callable[[], None]) -> None:
        self._calls.append(fn)
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (a wake-up is pending anyway) or closed (stopped)

    # ---------------------------------------------------------------- loop thread
    def _run(self) -> None:
        try:
            while not self._stopped.is_set():
                timeout = None
                if self._timers:
                    timeout = max(0.0, self._timers[0].when - time.monotonic())
                for key, _ in self._selector.select(timeout):
                    if key.data is None:
                        self._drain_wakeups()
                    else:
                        self._guarded(lambda watch=key.data: self._readable(watch))
                while self._calls:
                    self._guarded(self._calls.popleft())
                now = time.monotonic()
                while self._timers and self._timers[0].when <= now:
                    timer = heapq.heappop(self._timers)
                    if timer.live:
                        self._guarded(lambda timer=timer: timer.fn(timer.watch))
        finally:
            self._close_everything()

    def _guarded(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("IDLE loop step failed")

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _later(self, watch: _Watch, delay: float, fn: Callable[[_Watch], None]) -> None:
        when = time.monotonic() + delay
        timer = _Timer(when, next(self._timer_ids), watch, watch.timer_seq, fn)
        heapq.heappush(self._timers, timer)

    def pending_timers(self) -> int:
        """Timers that will still fire (cancelled ones wait in the heap as no-ops)."""
        return sum(1 for timer in list(self._timers) if timer.live)

    def _submit(self, watch: _Watch, job: Callable[[], Any], then: Callable[..., None]) -> None:
        future = self._pool.submit(self._in_app, job)

        def finished(done: Future[Any]) -> None:
            self._call(lambda: then(watch, done))

        future.add_done_callback(finished)

    def _in_app(self, job: Callable[[], Any]) -> Any:
        with self.app.app_context():
            return job()

    def _add(self, campaign_id: int) -> None:
        current = self._watches.get(campaign_id)
        if (current is not None and not current.stopping) or self._stopped.is_set():
            return
        watch = _Watch(campaign_id, backoff=self.min_backoff)
        self._watches[campaign_id] = watch
        with self._state_lock:
            self._ended.discard(campaign_id)
        self._connect(watch)

    def _remove(self, campaign_id: int, done: threading.Event) -> None:
        watch = self._watches.get(campaign_id)
        if watch is None:
            done.set()
            return
        watch.waiters.append(done)
        watch.stopping = True
        watch.timer_seq += 1
        if watch.session is not None:
            if watch.job:
                watch.session.interrupt()  # the job fails fast and its callback closes
            else:
                self._close(watch)
        self._settle(watch)

    def _settle(self, watch: _Watch) -> None:
        """A stopping watch is done once nothing holds a connection or runs a poll."""
        if watch.stopping and watch.session is None and not watch.job and not watch.polling:
            if self._watches.get(watch.campaign_id) is watch:
                del self._watches[watch.campaign_id]
            for waiter in watch.waiters:
                waiter.set()

    # connect -----------------------------------------------------------------
    def _connect(self, watch: _Watch) -> None:
        watch.job = True
        self._submit(watch, lambda: self._open(watch.campaign_id), self._connected)

    def _open(self, campaign_id: int) -> ImapSession | None:
        campaign = get_state().session.get(Campaign, campaign_id)
        if not ingest.is_receiving(campaign):
            return None
        assert campaign is not None
        session = open_mailbox(imap_settings(campaign), readonly=True)
        try:
            session.idle_start()
        except BaseException:
            session.close()
            raise
        return session

    def _connected(self, watch: _Watch, done: Future[ImapSession | None]) -> None:
        watch.job = False
        try:
            session = done.result()
        except Exception as exc:
            self._retry(watch, exc)
            return
        if watch.stopping:
            if session is not None:
                _close_session(session)
            self._settle(watch)
            return
        if session is None:
            self._end(watch)
            return
        watch.session = session
        metrics.idle_connected(+1)
        watch.backoff = self.min_backoff
        self._selector.register(session.fileno(), selectors.EVENT_READ, watch)
        with self._state_lock:
            self._listening[watch.campaign_id] = watch
        self._later(watch, self.wake_interval, self._reidle)
        self._request_poll(watch)  # what arrived while nobody listened

    def _retry(self, watch: _Watch, exc: BaseException) -> None:
        if watch.stopping:
            self._settle(watch)
            return
        if isinstance(exc, ImapError):
            log.warning(
                "campaign %s IDLE: %s; retry in %.0f s", watch.campaign_id, exc, watch.backoff
            )
        else:
            log.error(
                "campaign %s IDLE failed; retry in %.0f s",
                watch.campaign_id,
                watch.backoff,
                exc_info=exc,
            )
        self._later(watch, watch.backoff, self._connect)
        watch.backoff = min(watch.backoff * 2, self.max_backoff)

    # while idling --------------------------------------------------------------
    def _readable(self, watch: _Watch) -> None:
        session = watch.session
        if session is None or watch.job:
            return
        try:
            arrived = session.idle_read()
        except ImapError as exc:
            self._close(watch)
            self._retry(watch, exc)
            return
        if arrived:
            self._request_poll(watch)

    def _reidle(self, watch: _Watch) -> None:
        session = watch.session
        if session is None:
            return
        self._unregister(watch)
        watch.job = True

        def restart() -> bool:
            arrived = session.idle_stop()
            session.idle_start()
            return arrived

        self._submit(watch, restart, self._reidled)

    def _reidled(self, watch: _Watch, done: Future[bool]) -> None:
        watch.job = False
        try:
            arrived = done.result()
        except Exception as exc:
            self._close(watch)
            self._retry(watch, exc)
            return
        if watch.stopping or watch.session is None:
            self._close(watch)
            self._settle(watch)
            return
        self._selector.register(watch.session.fileno(), selectors.EVENT_READ, watch)
        self._later(watch, self.wake_interval, self._reidle)
        if arrived:
            self._request_poll(watch)

    # polls ---------------------------------------------------------------------
    def _request_poll(self, watch: _Watch) -> None:
        if watch.polling:
            watch.dirty = True
            return
        watch.polling = True
        watch.dirty = False
        campaign_id = watch.campaign_id
        ttl = self.poll_lock_ttl
        self._submit(watch, lambda: ingest.poll_mailbox(campaign_id, ttl), self._polled)

    def _polled(self, watch: _Watch, done: Future[ingest.PollResult]) -> None:
        watch.polling = False
        self.polls += 1
        try:
            status = done.result().status
            log.debug("campaign %s: poll after IDLE: %s", watch.campaign_id, status)
        except Exception:
            log.exception("campaign %s: poll after IDLE failed", watch.campaign_id)
            status = "error"
        if watch.stopping:
            self._settle(watch)
            return
        if status == "skipped":
            self._end(watch)
            return
        if status == "busy":
            now = time.monotonic()
            watch.busy_since = watch.busy_since or now
            if now - watch.busy_since < self.busy_retry_for:
                self._later(watch, BUSY_RETRY_SECONDS, self._request_poll)
                return
        watch.busy_since = None
        if watch.dirty:
            self._request_poll(watch)

    # closing -------------------------------------------------------------------
    def _end(self, watch: _Watch) -> None:
        log.info("campaign %s no longer receives mail: IDLE ends", watch.campaign_id)
        watch.timer_seq += 1
        self._close(watch)
        with self._state_lock:
            self._ended.add(watch.campaign_id)

    def _unregister(self, watch: _Watch) -> None:
        if watch.session is not None:
            try:
                self._selector.unregister(watch.session.fileno())
            except (KeyError, ValueError, OSError):
                pass  # never registered, or the socket is already closed

    def _close(self, watch: _Watch) -> None:
        session = watch.session
        if session is None:
            return
        self._unregister(watch)
        with self._state_lock:
            if self._listening.get(watch.campaign_id) is watch:
                del self._listening[watch.campaign_id]
        watch.session = None
        metrics.idle_connected(-1)
        watch.timer_seq += 1  # its re-IDLE timer; a reconnect schedules a new one
        _close_session(session)

    def _stop_all(self) -> None:
        for campaign_id in list(self._watches):
            self._remove(campaign_id, threading.Event())
        self._stopped.set()

    def _close_everything(self) -> None:
        for watch in list(self._watches.values()):
            watch.stopping = True
            self._close(watch)
            for waiter in watch.waiters:
                waiter.set()
        self._watches.clear()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()


def _close_session(session: ImapSession) -> None:
    """Shut the socket first: LOGOUT then fails at once instead of waiting on the server."""
    session.interrupt()
    session.close()


class MailboxListener:
    """One mailbox, no leases: for tests, benchmarks and single-process setups."""

    def __init__(self, app: Flask, campaign_id: int, **options: Any) -> None:
        self.campaign_id = campaign_id
        self.loop = IdleLoop(app, workers=options.pop("workers", 2), **options)

    @property
    def polls(self) -> int:
        return self.loop.polls

    def start(self) -> None:
        self.loop.start()
        self.loop.add(self.campaign_id)

    def stop(self) -> None:
        self.loop.stop()

    def join(self, timeout: float | None = None) -> None:
        self.loop._thread.join(timeout)

    def is_alive(self) -> bool:
        return self.loop.is_alive()
