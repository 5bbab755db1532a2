"""Settling what dead workers left, and starting runners for lists that lack them.

The rule for records a dead worker left "sending" (its lease over) is the one in
``dialer_send``'s docstring: its journal decides each record; delivered -> sent,
refused or never attempted -> pending, attempted with no answer -> "interrupted",
never re-sent by itself. Only the operator can send those again
(``resend_interrupted``): choosing at-least-once over at-most-once for them is a
decision about duplicates that only a person can take.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, exists, select, update
from sqlalchemy.orm import Session, contains_eager

from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext as _
from ucmail_ext.mail.parse import normalize_message_id
from ucmail_ext.mail.thread import make_message_id
from ucmail_ext.models import Dialer, DialerList
from ucmail_ext.services import audit, links
from ucmail_ext.services.dialer import runners
from ucmail_ext.services.dialer.delivery import Outcome
from ucmail_ext.services.dialer.dialers import ActionResult, dialers_open, get_list
from ucmail_ext.services.dialer.journal import JournalState, discard_journal, read_journal
from ucmail_ext.services.dialer.send import (
    CAMPAIGN_DISABLED,
    CAMPAIGNS,
    DIALERS,
    LISTS,
    RECORDS,
    record,
    requeue_due,
)

INTERRUPTED = (
    "interrupted: the worker stopped during delivery, so it may or may not have arrived; "
    "not retried by itself, so that it is never sent twice (Send again to retry it)"
)


@dataclass(frozen=True)
class RecoveryReport:
    sent: int = 0
    requeued: int = 0
    interrupted: int = 0


def _recovered(row: Any, journal: JournalState | None, domain: str) -> Outcome:
    record_id, attempts = row.id, row.attempts
    message_id = normalize_message_id(make_message_id("dialer", str(record_id), domain))
    status = journal.last.get(record_id) if journal is not None else "A"
    if status == "D":
        assert journal is not None
        return Outcome(
            record_id,
            "sent",
            attempts,
            "250",
            sent_at=journal.delivered[record_id],
            message_id=message_id,
        )
    if status == "F":
        return Outcome(record_id, "pending", attempts)
    if status == "A":
        return Outcome(record_id, "interrupted", attempts, error=INTERRUPTED, message_id=message_id)
    return Outcome(record_id, "pending", attempts - 1)


def recover_stale(now: datetime | None = None) -> RecoveryReport:
    """Settle records left "sending" by a worker whose lease is over (see module doc)."""
    session: Session = get_state().session
    now = now or datetime.now(UTC)
    lease = float(current_app.config["UCMAIL_DIALER_LEASE"])
    rows = session.execute(
        select(RECORDS.c.id, RECORDS.c.attempts, RECORDS.c.claimed_by).where(
            RECORDS.c.state == "sending",
            RECORDS.c.claimed_at < now - timedelta(seconds=lease),
        )
    ).all()
    by_token: dict[str, list[Any]] = {}
    for row in rows:
        by_token.setdefault(row.claimed_by or "", []).append(row)
    domain = links.message_id_domain()
    counts = {"sent": 0, "pending": 0, "interrupted": 0}
    for token, items in by_token.items():
        journal = read_journal(token) if token else None
        outcomes = [_recovered(row, journal, domain) for row in items]
        if token:
            record(session, token, outcomes)
        else:
            session.execute(
                update(RECORDS)
                .where(RECORDS.c.id.in_([row.id for row in items]), RECORDS.c.claimed_by.is_(None))
                .values(state="interrupted", error=INTERRUPTED)
            )
        for item in outcomes:
            counts[item.state] = counts.get(item.state, 0) + 1
        session.commit()
        if token:
            discard_journal(token)
    return RecoveryReport(counts["sent"], counts["pending"], counts["interrupted"])


def resend_interrupted(list_id: int, visible: set[int] | None, actor: str) -> ActionResult:
    """The operator's choice: send a list's interrupted records again (at least once).

    They go back to pending with their attempts kept; a running list picks them up,
    a finished or stopped one sends them on Play.
    """
    session: Session = get_state().session
    dialer_list = get_list(list_id, visible)
    if dialer_list is None:
        return ActionResult(False, _("This list no longer exists."))
    count = int(
        session.execute(
            update(RECORDS)
            .where(RECORDS.c.list_id == dialer_list.id, RECORDS.c.state == "interrupted")
            .values(state="pending", error="", status_code="", next_attempt_at=None)
        ).rowcount
        or 0
    )
    if not count:
        session.rollback()
        return ActionResult(False, _("This list has no interrupted records."))
    if dialer_list.state == "done":
        dialer_list.state = "inactive"
        dialer_list.finished_at = None
    audit.record(actor, "dialer.resend_interrupted", None, f"list {dialer_list.id}: {count}")
    session.commit()
    running = dialer_list.state == "active" and dialer_list.dialer.state == "running"
    if running:
        done = _("%(count)s interrupted record(s) queued again; they are being sent.", count=count)
    else:
        done = _(
            "%(count)s interrupted record(s) queued again; press Play to send them.", count=count
        )
    return ActionResult(True, done)


@dataclass(frozen=True)
class RunnersWanted:
    """Slots of one list to start; ``orphaned``: the list has no live runner at all."""

    list_id: int
    slots: list[int]
    orphaned: bool


def lists_needing_runner(now: datetime | None = None) -> list[RunnersWanted]:
    """Active lists with work that lack runners, and which of their slots to start.

    A list whose heartbeat is stale has no live runner at all: all its slots start.
    With several runners per list, a list whose heartbeat is fresh also gets runners
    for the slots whose lease is free (one died beside live ones, or ended early).
    """
    session: Session = get_state().session
    now = now or datetime.now(UTC)
    stale = now - timedelta(seconds=max(15.0, 3 * float(current_app.config["UCMAIL_DIALER_TICK"])))
    has_work = exists().where(RECORDS.c.list_id == DialerList.id, RECORDS.c.state == "pending")
    orphaned = (DialerList.heartbeat_at.is_(None)) | (DialerList.heartbeat_at < stale)
    stmt: Select[Any] = (
        select(DialerList, orphaned.label("orphaned"))
        .join(Dialer, Dialer.id == DialerList.dialer_id)
        .options(contains_eager(DialerList.dialer))
        .where(
            DialerList.state == "active",
            Dialer.state == "running",
            Dialer.deleted_at.is_(None),
            has_work,
        )
    )
    rows = session.execute(stmt).all()
    open_now = dialers_open({row[0].dialer for row in rows}, now)
    rows = [row for row in rows if open_now[row[0].dialer_id]]
    count = runners.runners_per_list(session)
    live = runners.live_slots() if count > 1 and rows else {}
    wanted: list[RunnersWanted] = []
    for dialer_list, is_orphaned in rows:
        if is_orphaned:
            wanted.append(RunnersWanted(dialer_list.id, list(range(count)), True))
            continue
        held = live.get(dialer_list.id, set())
        free = [slot for slot in range(count) if slot not in held]
        if count > 1 and free:
            wanted.append(RunnersWanted(dialer_list.id, free, False))
    orphans = [item.list_id for item in wanted if item.orphaned]
    if orphans:
        # Claimed for the tasks about to be queued, so the next tick does not queue more.
        session.execute(update(LISTS).where(LISTS.c.id.in_(orphans)).values(heartbeat_at=now))
    session.commit()
    return wanted


def resume_reenabled() -> list[int]:
    """Dialers paused because their campaign was disabled, whose campaign is enabled again.

    They run again, and their active lists are marked as having no worker, so this
    same tick starts them.
    """
    session: Session = get_state().session
    enabled = exists().where(
        CAMPAIGNS.c.id == DIALERS.c.campaign_id,
        CAMPAIGNS.c.enabled,
        CAMPAIGNS.c.deleted_at.is_(None),
    )
    resumed = list(
        session.scalars(
            update(DIALERS)
            .where(
                DIALERS.c.state == "paused",
                DIALERS.c.pause_reason == CAMPAIGN_DISABLED,
                DIALERS.c.deleted_at.is_(None),
                enabled,
            )
            .values(state="running", pause_reason="", error_streak=0)
            .returning(DIALERS.c.id)
        )
    )
    if resumed:
        session.execute(
            update(LISTS)
            .where(LISTS.c.dialer_id.in_(resumed), LISTS.c.state == "active")
            .values(heartbeat_at=None)
        )
    session.commit()
    return resumed


def tick(now: datetime | None = None) -> list[int]:
    """The beat's job: recover dead workers' records, requeue due retries, resume dialers
    whose campaign is enabled again, start runners where a list lacks them.

    Returns the lists a runner was queued for.
    """
    session: Session = get_state().session
    recover_stale(now)
    requeue_due(session, now)
    session.commit()
    resume_reenabled()
    started = []
    for item in lists_needing_runner(now):
        if runners.start(item.list_id, item.slots, force=item.orphaned):
            started.append(item.list_id)
    return started
