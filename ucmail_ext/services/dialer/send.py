"""The dialer pipeline: ``claim_batch`` -> ``render`` -> ``send_batch`` -> ``record``.

listmonk's manager is the model: fetch a batch, render, push to a bounded pool of
connections that share one pace, record results in batches, pause on an error
threshold. Each record is a ledger entry::

    pending -> sending -> sent | deferred (4xx, dropped connection; back-off) |
                          pending again (the relay said "slow down": no retry spent) |
                          rejected (5xx) | failed | skipped (blacklisted)

Batches are sized to what is sent in about ``UCMAIL_DIALER_COMMIT_SECONDS``, and
the results of one batch are committed together with the claim of the next, so a
thousand messages cost a handful of statements. With several connections the
next batch is claimed while the last one is still on the wire. Stopping takes
effect in every sender thread before its next message (``StopSignal``): only the
message a connection has on the wire may still land.

The stages live in their own modules: rendering in ``dialer_compose``, the
sender threads in ``dialer_delivery``, crash recovery and the beat in
``dialer_recovery``.

Crash rule (a worker killed while records are "sending"): what happened to each
is read back from the worker's journal (``dialer_journal``) once its lease is
over. Delivered (the server said 250) -> sent. Refused, or never attempted ->
pending again (sending it cannot make a duplicate). Attempted with no answer
recorded -> it may or may not have arrived; it is marked "interrupted" and never
re-sent by itself: at most once, because a duplicate cannot be taken back. The
monitoring screens count them, and the operator may send them again
(``recovery.resend_interrupted``), choosing at-least-once for those few.
Without a journal (a worker whose storage folder the recovering worker cannot
see) every stale "sending" record is treated that way. So after a crash no record
is sent twice and none is left pending; at most one per connection ends as
"interrupted".
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import (
    bindparam,
    exists,
    func,
    literal_column,
    null,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ucmail_ext.dispatch import enqueue
from ucmail_ext.extension import get_state
from ucmail_ext.mail.smtp import SmtpConnection
from ucmail_ext.models import BlacklistEntry, Campaign, Dialer, DialerList, DialerRecord, Schedule
from ucmail_ext.services import metrics
from ucmail_ext.services.dialer import pacing
from ucmail_ext.services.dialer.compose import (
    ClaimedRecord,
    DialerConfigError,
    ListComposer,
    build_composer,
)
from ucmail_ext.services.dialer.delivery import (
    STOP_CHECK_SECONDS,
    STOP_WAKE_SECONDS,
    Delivery,
    InlineSender,
    Outcome,
    PoolSender,
    RetryPolicy,
    Slots,
    StopSignal,
    released,
)
from ucmail_ext.services.dialer.journal import Journal
from ucmail_ext.services.mailboxes import smtp_settings
from ucmail_ext.services.schedules import is_open

log = logging.getLogger(__name__)

RECORDS = DialerRecord.__table__
LISTS = DialerList.__table__
DIALERS = Dialer.__table__
CAMPAIGNS = Campaign.__table__

# Why a run stopped and its dialer paused; the beat resumes it once the campaign is
# enabled again (recovery.resume_reenabled).
CAMPAIGN_DISABLED = "campaign disabled"

UNFINISHED_STATES = ("pending", "sending", "deferred")
# While batches overlap, the journal only grows; past this it is settled and emptied.
JOURNAL_BYTES = 1024 * 1024
THROTTLED_BATCH_DIVISOR = 2
# The most often a paced run looks up a stop (the database's sake at tiny intervals).
MIN_STOP_AGE = 0.02
HEARTBEAT_SECONDS = 5.0
# Claims per batch at most with per-domain pacing: one more each time a domain is full.
MAX_DOMAIN_CLAIMS = 8


@dataclass
class RunResult:
    list_id: int
    outcome: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, outcomes: Iterable[Outcome]) -> None:
        for item in outcomes:
            self.counts[item.state] = self.counts.get(item.state, 0) + 1


# --------------------------------------------------------------------------- claim


def _runnable(list_id: int) -> Any:
    """The list is active, its dialer running, its campaign enabled: the claim's own stop check."""
    return exists().where(
        LISTS.c.id == list_id,
        LISTS.c.state == "active",
        DIALERS.c.id == LISTS.c.dialer_id,
        DIALERS.c.state == "running",
        DIALERS.c.deleted_at.is_(None),
        CAMPAIGNS.c.id == DIALERS.c.campaign_id,
        CAMPAIGNS.c.enabled,
    )


def claim_batch(
    session: Session,
    list_id: int,
    token: str,
    size: int,
    now: datetime,
    exclude_domains: Sequence[str] = (),
) -> list[ClaimedRecord]:
    """Take up to ``size`` pending records, lowest priority number first.

    One statement. PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets several workers
    claim side by side without waiting or overlapping (a row another worker just
    claimed fails the re-checked ``state = 'pending'``). SQLite has one writer at a
    time, so the same UPDATE is atomic there. Whether the address is blacklisted
    comes back with the row. ``exclude_domains``: recipient domains whose pacing
    slot is not due (``pacing.DomainPacing``); their records stay pending.
    """
    chosen = (
        select(RECORDS.c.id)
        .where(RECORDS.c.list_id == list_id, RECORDS.c.state == "pending", _runnable(list_id))
        .order_by(RECORDS.c.priority, RECORDS.c.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    )
    for domain in exclude_domains:
        chosen = chosen.where(~RECORDS.c.email.iendswith(f"@{domain}", autoescape=True))
    blacklisted = (
        exists()
        .where(BlacklistEntry.__table__.c.address == func.lower(RECORDS.c.email))
        .label("blacklisted")
    )
    stmt = (
        update(RECORDS)
        .where(RECORDS.c.id.in_(chosen.scalar_subquery()))
        .values(
            state="sending",
            claimed_by=token,
            claimed_at=now,
            attempts=RECORDS.c.attempts + 1,
        )
        .returning(
            RECORDS.c.id,
            RECORDS.c.priority,
            RECORDS.c.email,
            RECORDS.c.message,
            RECORDS.c.attachments,
            RECORDS.c.variables,
            RECORDS.c.attempts,
            blacklisted,
        )
    )
    rows = session.execute(stmt).all()
    rows.sort(key=lambda row: (row.priority, row.id))
    return [
        ClaimedRecord(
            id=row.id,
            email=row.email,
            message=row.message,
            attachments=row.attachments,
            variables=row.variables,
            attempts=row.attempts,
            blacklisted=bool(row.blacklisted),
        )
        for row in rows
    ]


# --------------------------------------------------------------------------- record

_RECORD = (
    update(RECORDS)
    .where(RECORDS.c.id == bindparam("b_id"), RECORDS.c.claimed_by == bindparam("b_token"))
    .values(
        state=bindparam("b_state"),
        attempts=bindparam("b_attempts"),
        status_code=bindparam("b_code"),
        error=bindparam("b_error"),
        sent_at=bindparam("b_sent_at"),
        next_attempt_at=bindparam("b_next"),
        message_id=bindparam("b_message_id"),
        claimed_by=None,
        claimed_at=None,
    )
)
# Nearly every outcome is "sent": its constants are SQL text, so each row binds four
# values instead of nine (parameter handling is most of an executemany's cost).
_RECORD_SENT = (
    update(RECORDS)
    .where(RECORDS.c.id == bindparam("b_id"), RECORDS.c.claimed_by == bindparam("b_token"))
    .values(
        state=literal_column("'sent'"),
        status_code=literal_column("'250'"),
        error=literal_column("''"),
        sent_at=bindparam("b_sent_at"),
        next_attempt_at=null(),
        message_id=bindparam("b_message_id"),
        claimed_by=null(),
        claimed_at=null(),
    )
)


def record(session: Session, token: str, outcomes: Sequence[Outcome]) -> None:
    """Write a batch of outcomes, one executemany per kind (not committed here).

    Matching ``claimed_by`` means a worker whose lease was taken over can no
    longer overwrite what the recovery decided.
    """
    sent = [item for item in outcomes if item.state == "sent"]
    if sent:
        session.execute(
            _RECORD_SENT,
            [
                {
                    "b_id": item.record_id,
                    "b_token": token,
                    "b_sent_at": item.sent_at,
                    "b_message_id": item.message_id,
                }
                for item in sent
            ],
        )
    others = [item for item in outcomes if item.state != "sent"]
    if others:
        session.execute(
            _RECORD,
            [
                {
                    "b_id": item.record_id,
                    "b_token": token,
                    "b_state": item.state,
                    "b_attempts": item.attempts,
                    "b_code": item.status_code,
                    "b_error": item.error[:2000],
                    "b_sent_at": item.sent_at,
                    "b_next": item.next_attempt_at,
                    "b_message_id": item.message_id,
                }
                for item in others
            ],
        )


# --------------------------------------------------------------------------- run


@dataclass
class _Plan:
    dialer_list: DialerList
    dialer: Dialer
    campaign: Campaign
    schedules: list[Schedule]


def _load_plan(session: Session, list_id: int) -> _Plan | str:
    dialer_list = session.get(DialerList, list_id)
    if dialer_list is None:
        return "missing"
    dialer = dialer_list.dialer
    if dialer.deleted_at is not None:
        return "deleted"
    if dialer_list.state != "active" or dialer.state != "running":
        return "stopped"
    campaign = session.get(Campaign, dialer.campaign_id)
    if campaign is None:
        return "deleted"
    if not campaign.enabled:
        return CAMPAIGN_DISABLED
    schedules = list(session.scalars(select(Schedule).where(Schedule.dialer_id == dialer.id)))
    return _Plan(dialer_list, dialer, campaign, schedules)


def _stop_reason(connection: Session | Connection, list_id: int) -> str | None:
    """Why the list must not send now, or None; on a session or a thread's own connection."""
    row = connection.execute(
        select(LISTS.c.state, DIALERS.c.state, DIALERS.c.deleted_at, CAMPAIGNS.c.enabled)
        .join(DIALERS, DIALERS.c.id == LISTS.c.dialer_id)
        .join(CAMPAIGNS, CAMPAIGNS.c.id == DIALERS.c.campaign_id)
        .where(LISTS.c.id == list_id)
    ).first()
    if row is None or row[2] is not None:
        return "deleted"
    if row[0] != "active" or row[1] != "running":
        return "stopped" if row[1] != "paused" else "paused"
    if not row[3]:
        return CAMPAIGN_DISABLED
    return None


def _stop_signal(session: Session, list_id: int) -> StopSignal:
    """The stop check sender threads share; each query on a pooled connection of its own."""
    engine = session.get_bind()

    def check() -> str | None:
        with engine.connect() as connection:
            return _stop_reason(connection, list_id)

    return StopSignal(check, STOP_CHECK_SECONDS)


def _pause(session: Session, dialer_id: int, reason: str) -> None:
    session.execute(
        update(DIALERS)
        .where(DIALERS.c.id == dialer_id, DIALERS.c.state == "running")
        .values(state="paused", pause_reason=reason[:2000])
    )


def _finish_if_done(session: Session, list_id: int, dialer_id: int) -> str:
    """ "done" when nothing is left; "waiting" while retries or other workers' claims are."""
    left = session.scalar(
        select(RECORDS.c.id)
        .where(RECORDS.c.list_id == list_id, RECORDS.c.state.in_(UNFINISHED_STATES))
        .limit(1)
    )
    if left is not None:
        return "waiting"
    now = datetime.now(UTC)
    finished = session.execute(
        update(LISTS)
        .where(LISTS.c.id == list_id, LISTS.c.state == "active")
        .values(state="done", finished_at=now)
    ).rowcount
    if finished:
        still_active = session.scalar(
            select(func.count(LISTS.c.id)).where(
                LISTS.c.dialer_id == dialer_id, LISTS.c.state == "active"
            )
        )
        if not still_active:
            session.execute(
                update(DIALERS)
                .where(DIALERS.c.id == dialer_id, DIALERS.c.state == "running")
                .values(state="stopped")
            )
    return "done"


class _Pace:
    """How many records the next claim takes: about one commit interval's worth."""

    def __init__(self, interval: float, maximum: int, commit_seconds: float) -> None:
        self.maximum = max(1, maximum)
        self.commit_seconds = commit_seconds
        self.interval = 0.0
        self.size = min(self.maximum, 16)
        self.set_interval(interval)

    def set_interval(self, interval: float) -> None:
        """A new spacing (the relay's pace changed): claims follow it at once."""
        if interval == self.interval:
            return
        self.interval = interval
        if interval > 0:
            self.size = self._clamp(self.commit_seconds / interval)
        else:
            self.size = min(self.maximum, 16)

    def _clamp(self, value: float) -> int:
        return max(1, min(self.maximum, int(value)))

    def observe(self, count: int, seconds: float, aborted: bool) -> None:
        if aborted:
            self.size = 1
            return
        if count == 0 or seconds <= 0:
            return
        rate = count / seconds
        if self.interval > 0:
            rate = min(rate, 1 / self.interval)
        target = self._clamp(rate * self.commit_seconds)
        # Grow gradually (x4 at most) so one fast batch does not claim a huge one.
        self.size = min(target, max(self.size * 4, 1))


def requeue_due(session: Session, now: datetime | None = None, list_id: int | None = None) -> int:
    """Deferred records whose back-off is over go back to pending."""
    now = now or datetime.now(UTC)
    stmt = update(RECORDS).where(RECORDS.c.state == "deferred", RECORDS.c.next_attempt_at <= now)
    if list_id is not None:
        stmt = stmt.where(RECORDS.c.list_id == list_id)
    return int(session.execute(stmt.values(state="pending")).rowcount or 0)


def run_list(list_id: int, max_seconds: float | None = None) -> RunResult:
    """Send a list until it is done, stopped, paused, out of schedule or out of time.

    Safe on several workers at once: every record is claimed by exactly one.
    """
    cfg = current_app.config
    session: Session = get_state().session
    result = RunResult(list_id)
    plan = _load_plan(session, list_id)
    if plan == CAMPAIGN_DISABLED:
        _pause_for_campaign(session, list_id, result)
        return result
    if isinstance(plan, str):
        session.rollback()
        result.outcome = plan
        return result
    dialer = plan.dialer
    if not is_open(plan.schedules, dialer.timezone):
        session.rollback()
        result.outcome = "closed"
        return result
    try:
        composer = build_composer(plan.dialer_list)
        settings = smtp_settings(plan.campaign)
    except (DialerConfigError, ValueError) as exc:
        _pause(session, dialer.id, f"cannot send: {exc}")
        session.commit()
        result.outcome = "paused"
        return result

    limit = float(max_seconds if max_seconds is not None else cfg["UCMAIL_DIALER_RUN_SECONDS"])
    floor = float(dialer.seconds_between or 0)
    runner = _Runner(
        session=session,
        plan=plan,
        composer=composer,
        make_connection=lambda: SmtpConnection(settings),
        connections=max(1, int(plan.campaign.smtp_connections or 1)),
        policy=RetryPolicy(int(cfg["UCMAIL_SEND_RETRIES"]), float(cfg["UCMAIL_SEND_BACKOFF"])),
        floor=floor,
        pace=_Pace(
            pacing.effective(floor, float(dialer.pace_interval or 0)),
            int(cfg["UCMAIL_DIALER_BATCH"]),
            float(cfg["UCMAIL_DIALER_COMMIT_SECONDS"]),
        ),
        max_errors=int(dialer.max_error_streak or cfg["UCMAIL_DIALER_MAX_ERRORS"]),
        lease=float(cfg["UCMAIL_DIALER_LEASE"]),
        deadline=time.monotonic() + limit,
        result=result,
        domains=pacing.DomainPacing(session, dialer.id, float(cfg["UCMAIL_DIALER_COMMIT_SECONDS"])),
    )
    runner.run()
    if result.outcome == CAMPAIGN_DISABLED:
        _pause_for_campaign(session, list_id, result)
    if result.outcome == "handoff":
        enqueue("ucmail.dialer.run_list", list_id)
    return result


def _pause_for_campaign(session: Session, list_id: int, result: RunResult) -> None:
    """A disabled campaign sends nothing: its dialer waits, paused, until it is enabled."""
    dialer_id = session.scalar(select(LISTS.c.dialer_id).where(LISTS.c.id == list_id))
    if dialer_id is not None:
        _pause(session, dialer_id, CAMPAIGN_DISABLED)
    session.commit()
    result.outcome = "paused"


class _Runner:
    def __init__(
        self,
        *,
        session: Session,
        plan: _Plan,
        composer: ListComposer,
        make_connection: Callable[[], SmtpConnection],
        connections: int,
        policy: RetryPolicy,
        floor: float,
        pace: _Pace,
        max_errors: int,
        lease: float,
        deadline: float,
        result: RunResult,
        domains: pacing.DomainPacing | None = None,
    ) -> None:
        self.session = session
        self.domains = domains
        self.domain_booking: dict[int, str] = {}
        self.domain_booked_at = datetime.now(UTC)
        self.plan = plan
        self.list_id = plan.dialer_list.id
        self.dialer_id = plan.dialer.id
        # Kept as a value: every commit expires the campaign, and reading its id
        # would then load it again per batch (D6 statements).
        self.campaign_id = plan.campaign.id
        self.timezone = plan.dialer.timezone
        self.composer = composer
        self.make_connection = make_connection
        self.connections = connections
        self.policy = policy
        self.floor = floor
        self.pace = pace
        self.booking: pacing.Booking | None = None
        self.started = time.monotonic()
        self.sent_total = 0
        self.max_errors = max_errors
        self.saved_streak = int(plan.dialer.error_streak or 0)
        self.lease = lease
        self.deadline = deadline
        self.result = result
        self.token = secrets.token_hex(16)
        self.stop: str | None = None
        self.last_heartbeat = 0.0
        self.delivery: Delivery | None = None

    def run(self) -> None:
        session = self.session
        journal = Journal(self.token)
        delivery = Delivery(self.composer, journal, self.policy, self.saved_streak, self.max_errors)
        delivery.stop = self.stop_signal = _stop_signal(session, self.list_id)
        delivery.per_domain = self.domains is not None and self.domains.enabled
        self.delivery = delivery
        sender: InlineSender | PoolSender
        if self.connections > 1:
            sender = PoolSender(self.make_connection, delivery, self.connections)
        else:
            sender = InlineSender(self.make_connection, delivery)
        try:
            requeue_due(session, list_id=self.list_id)
            self._heartbeat(force=True)
            session.commit()
            while True:
                outcome = self._next_batch(sender, delivery, journal)
                if outcome:
                    self.result.outcome = outcome
                    break
            self._commit()
            session.commit()
        except BaseException:
            # The database (or this process) failed us: send nothing more, and keep the
            # journal, which is now the only account of the claimed records.
            delivery.cancelled.set()
            sender.close()
            journal.close(keep=True)
            session.rollback()
            raise
        sender.close()
        journal.close()

    def _heartbeat(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_heartbeat >= HEARTBEAT_SECONDS:
            self.last_heartbeat = now
            self.session.execute(
                update(LISTS)
                .where(LISTS.c.id == self.list_id)
                .values(heartbeat_at=datetime.now(UTC))
            )

    def _save_streak(self) -> None:
        streak = self.delivery.streak if self.delivery is not None else self.saved_streak
        if streak != self.saved_streak:
            self.session.execute(
                update(DIALERS).where(DIALERS.c.id == self.dialer_id).values(error_streak=streak)
            )
            self.saved_streak = streak

    def _commit(self) -> None:
        done = self.delivery.take_outcomes() if self.delivery is not None else []
        record(self.session, self.token, done)
        self.result.add(done)
        metrics.dialer_outcomes(self.campaign_id, self.dialer_id, done)
        self._adapt_pace(done)
        self._save_streak()
        self._heartbeat()

    def _adapt_pace(self, done: Sequence[Outcome]) -> None:
        """Slower after the relay's "slow down", faster again as messages go through."""
        accepted = sum(1 for item in done if item.state == "sent")
        self.sent_total += accepted
        delivery = self.delivery
        booking = self.booking
        if delivery is not None and delivery.per_domain and self.domains is not None:
            self.domains.enabled = True
            self._adapt_domains(done, delivery)
        if delivery is not None and delivery.throttled.is_set():
            delivery.throttled.clear()
            elapsed = time.monotonic() - self.started
            measured = self.sent_total / elapsed if elapsed > 0 and self.sent_total else None
            seen = booking.interval if booking is not None else 0.0
            learnt = pacing.slow_down(
                self.session, self.dialer_id, seen, self.floor, measured, booking
            )
            log.info(
                "dialer %s throttled by the relay (%s); now %s messages/min",
                self.dialer_id,
                delivery.throttle_text,
                pacing.per_minute(pacing.effective(self.floor, learnt)),
            )
            self.pace.set_interval(pacing.effective(self.floor, learnt))
        elif booking is not None and accepted:
            pacing.speed_up(self.session, self.dialer_id, accepted, self.floor, booking)

    def _adapt_domains(self, done: Sequence[Outcome], delivery: Delivery) -> None:
        """Per-domain pacing: only the domain that said "try later" slows down."""
        assert self.domains is not None
        with delivery._lock:
            throttled = dict(delivery.throttled_domains)
            delivery.throttled_domains.clear()
        for domain, text in throttled.items():
            learnt = self.domains.slow_down(self.session, domain, 0.0)
            log.info(
                "dialer %s: %s asked to slow down (%s); now %s messages/min to it",
                self.dialer_id,
                domain,
                text,
                pacing.per_minute(learnt),
            )
        accepted = [
            self.domain_booking.pop(item.record_id)
            for item in done
            if item.record_id in self.domain_booking and item.state == "sent"
        ]
        for item in done:
            self.domain_booking.pop(item.record_id, None)
        if accepted:
            self.domains.speed_up(self.session, accepted, self.domain_booked_at)

    def _book_domains(
        self, claimed: list[ClaimedRecord], delivery: Delivery, blocked: list[str], size: int
    ) -> list[ClaimedRecord]:
        """Slots on each paced domain's row; records that do not fit go straight back.

        A domain that filled its share of the batch is then left out of a further
        claim of ``size`` more, so one batch mixes the domains (each at its own pace)
        instead of draining the first one in priority order while the others wait.
        """
        assert self.domains is not None
        kept: list[ClaimedRecord] = []
        slots: dict[int, float] = {}
        exclude = list(blocked)
        batch = claimed
        for _ in range(MAX_DOMAIN_CLAIMS):
            booking = self.domains.book(self.session, batch)
            waiting = set(booking.waiting)
            full = set()
            for item in batch:
                if item.id in waiting:
                    delivery.outcomes.append(released(item))
                    full.add(pacing.domain_of(item.email))
                else:
                    kept.append(item)
            slots.update(booking.at)
            self.domain_booking.update(booking.domains)
            self.domain_booked_at = booking.booked_at
            if not full:
                break
            exclude.extend(sorted(full))
            batch = claim_batch(
                self.session,
                self.list_id,
                self.token,
                size,
                datetime.now(UTC),
                exclude_domains=exclude,
            )
            if not batch:
                break
        delivery.domain_slots.update(slots)
        # In slot order, so a record waiting for its domain does not hold up the others
        # (sorted() is stable: priority order among equal slots).
        return sorted(kept, key=lambda item: slots.get(item.id, 0.0))

    def _wait_for_domains(self) -> bool:
        """Only records of domains not yet due are left: wait for the first one (True),
        looking at the stop signal meanwhile; False when no domain is what holds."""
        if self.domains is None or not self.domains.enabled:
            return False
        session = self.session
        due = self.domains.next_due(session)
        left = session.scalar(
            select(RECORDS.c.id)
            .where(RECORDS.c.list_id == self.list_id, RECORDS.c.state == "pending")
            .limit(1)
        )
        session.commit()
        if left is None:
            return False
        # None: the domain that held the claim came due meanwhile; claim again at once.
        due = due if due is not None else time.time() + MIN_STOP_AGE
        until = min(due, time.time() + max(0.0, self.deadline - time.monotonic()))
        while time.time() < until:
            if self.stop_signal.poll() is not None:
                break
            time.sleep(min(STOP_WAKE_SECONDS, max(0.001, until - time.time())))
        return True

    def _drain(self, sender: InlineSender | PoolSender, delivery: Delivery) -> str | None:
        """Wait for everything handed to the senders; a stop seen meanwhile cancels the rest."""
        stop = None
        while not sender.wait(STOP_WAKE_SECONDS):
            reason = self.stop_signal.poll()
            if reason is not None:
                stop = reason
                delivery.cancelled.set()
        return stop

    def _settle(
        self, sender: InlineSender | PoolSender, delivery: Delivery, journal: Journal
    ) -> str | None:
        """Drain, then commit every outcome: the journal is then empty of news."""
        stop = self._drain(sender, delivery)
        self._commit()
        self.session.commit()
        journal.clear()
        return stop

    def _pause_if_failing(self, delivery: Delivery) -> bool:
        if not delivery.too_many_errors.is_set():
            return False
        reason = f"{delivery.streak} sending errors in a row; last: {delivery.last_error}"
        _pause(self.session, self.dialer_id, reason)
        self.session.commit()
        return True

    def _next_batch(
        self, sender: InlineSender | PoolSender, delivery: Delivery, journal: Journal
    ) -> str | None:
        session = self.session
        paced = self.pace.interval > 0
        overlapping = sender.overlaps and not paced
        if delivery.cancelled.is_set() or not overlapping or journal.size() > JOURNAL_BYTES:
            stop = self._settle(sender, delivery, journal)
            if self._pause_if_failing(delivery):
                return "paused"
            if stop is not None:
                return stop
            delivery.cancelled.clear()
            delivery.connect_failed.clear()
        if time.monotonic() >= self.deadline:
            self._settle(sender, delivery, journal)
            return "handoff"
        if not is_open(self.plan.schedules, self.timezone):
            self._settle(sender, delivery, journal)
            return "closed"
        # Results so far and the claim of the next batch commit together.
        self._commit()
        size = self.pace.size
        if self.booking is not None and self.booking.throttled:
            # Short batches while the relay sets the pace: a throttle then wastes few
            # booked slots, and the rate follows the relay in small steps.
            size = max(1, size // THROTTLED_BATCH_DIVISOR)
        self.booking = None
        if paced:
            self.booking = pacing.book(session, self.dialer_id, size, self.floor)
            self.pace.set_interval(self.booking.interval)
        blocked = self.domains.blocked(session) if self.domains is not None else []
        claimed = claim_batch(
            session, self.list_id, self.token, size, datetime.now(UTC), exclude_domains=blocked
        )
        if claimed and delivery.per_domain:
            claimed = self._book_domains(claimed, delivery, blocked, size)
        session.commit()
        if not claimed:
            reason = self._settle(sender, delivery, journal)
            if self._pause_if_failing(delivery):
                return "paused"
            if reason is None:
                reason = _stop_reason(session, self.list_id)
            if reason is None and self._wait_for_domains():
                return None
            if reason is None:
                reason = _finish_if_done(session, self.list_id, self.dialer_id)
            session.commit()
            return reason
        return self.send_batch(claimed, sender, delivery)

    def send_batch(
        self,
        claimed: list[ClaimedRecord],
        sender: InlineSender | PoolSender,
        delivery: Delivery,
    ) -> str | None:
        """Render and send one claimed batch; returns why to stop, or None to go on.

        With overlapping senders it returns once the batch is handed over; the
        outcomes are committed with the next claim.
        """
        booking = self.booking
        delivery.slots = Slots(booking.first, booking.interval) if booking else Slots()
        # Paced, a stop is looked up about once per message (issue 10b: nothing new
        # starts after it); at full speed twice a second, not once per message.
        self.stop_signal.max_age = STOP_CHECK_SECONDS
        if booking is not None and booking.interval > 0:
            self.stop_signal.max_age = max(MIN_STOP_AGE, min(STOP_CHECK_SECONDS, booking.interval))
        self.composer.prepare(claimed)
        started = time.monotonic()
        for claimed_record in claimed:
            if not delivery.cancelled.is_set():
                stop = self.stop_signal.poll()
                if stop is None and time.monotonic() - started > self.lease / 2:
                    stop = "lease"
                if stop is not None:
                    delivery.cancelled.set()
                    if stop != "lease":
                        self.stop = stop
            if delivery.cancelled.is_set():
                delivery.outcomes.append(released(claimed_record))
                continue
            sender.submit(claimed_record)
        if not sender.overlaps or self.pace.interval > 0:
            stop = self._drain(sender, delivery)
            if stop is not None:
                self.stop = stop
        if self.stop is None and self.stop_signal.reason is not None:
            self.stop = self.stop_signal.reason  # seen by a sender thread
        aborted = delivery.connect_failed.is_set()
        self.pace.observe(len(claimed), time.monotonic() - started, aborted)
        if self.stop is not None:
            return self._settle_stop(sender, delivery)
        return None

    def _settle_stop(self, sender: InlineSender | PoolSender, delivery: Delivery) -> str:
        stop = self.stop or "stopped"
        self._drain(sender, delivery)
        self._commit()
        self.session.commit()
        return stop
