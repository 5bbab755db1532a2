"""Polling a campaign's mailbox: every message becomes part of an interaction, once.

The flow of one poll (``poll_mailbox``), and why each step is where it is:

1. Only a live, enabled campaign with "Receive emails" on is polled, by one worker
   at a time (``locks.hold("mailbox:<id>")``; see services/locks.py).
2. SELECT gives UIDVALIDITY and UIDNEXT. The cursor (``MailboxCursor``) keeps the
   last UID stored under a UIDVALIDITY. When UIDNEXT shows nothing past the cursor,
   the poll ends there: an idle mailbox costs a login and a SELECT, never a scan.
   A new UIDVALIDITY (server migration, restore) resets the cursor to 0: every
   message is seen again and the fallback key below recognises those already stored.
3. ``UID SEARCH UID n:*`` lists what is new; RFC822.SIZE is fetched first, so a
   message over ``UCMAIL_MAX_MESSAGE_BYTES`` is never downloaded: its header
   becomes a flagged interaction that says the mail was left on the server.
4. Bodies come with ``BODY.PEEK[]`` (the server's \\Seen stays as it was) in
   batches of ``UCMAIL_FETCH_BATCH``. Per batch, with one query each: messages
   already stored (same server slot, or same Message-ID + sha256 of the bytes) are
   skipped; so are our own (a Sent copy, mail to ourselves: the Message-ID is one
   we generated or sent). Bounces and spam reports that match a dialer record are
   consumed by the dialer's feedback service instead of becoming interactions.
5. The rows of the batch (one multi-row INSERT per table) and the cursor move
   commit in ONE transaction, so a crash at any point leaves either both or
   neither: nothing is lost, nothing doubles (the unique keys on Message catch even
   a second poller whose lease expired). Only after the commit are server flags
   set (\\Seen with ``UCMAIL_MARK_SEEN``: set before, it would mark as handled a
   message that a crash then loses), the routing is asked to run and auto-replies
   are sent.
6. A campaign with "max interactions in queue" reached takes no new mail: it stays
   on the server, behind the cursor, until the queue has room.

Mail already in a mailbox when it is first connected is imported as history:
closed interactions (origin "history"), never routed and never auto-replied
(Zammad #243, #539: a first import answered years of old mail). The boundary is
the UIDNEXT seen at the first connection (``MailboxCursor.history_uid``).

Connection, login and decryption errors are recorded on the campaign
(``last_poll_error``, ``poll_failures``) and the next poll waits longer each time
(``next_poll_at``, doubling from ``UCMAIL_POLL_INTERVAL`` up to an hour); they
never escape to crash the worker.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from ucmail_ext.crypto import DecryptionError
from ucmail_ext.dispatch import enqueue
from ucmail_ext.extension import get_state
from ucmail_ext.mail.dsn import classify
from ucmail_ext.mail.imap import ImapError, ImapSession, open_mailbox
from ucmail_ext.mail.parse import ParsedMessage, ParseLimits, parse_message
from ucmail_ext.mail.thread import is_our_message_id, referenced_ids
from ucmail_ext.models import Campaign, DialerRecord, Interaction, MailboxCursor, Message, utcnow
from ucmail_ext.services import links, locks, metrics
from ucmail_ext.services.inbound import autoreply, threading
from ucmail_ext.services.inbound import store as inbound_store
from ucmail_ext.services.inbound.store import MailboxSlot
from ucmail_ext.services.mailboxes import imap_settings

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600


@dataclass
class PollResult:
    """What one poll did; the task returns it as a dict."""

    campaign_id: int
    status: str = "ok"  # ok, skipped, busy, error, conflict, lost-lock
    imported: int = 0
    new_interactions: int = 0
    history: int = 0
    duplicates: int = 0
    own: int = 0
    feedback: int = 0
    left_on_server: int = 0
    error: str = ""


@dataclass(frozen=True)
class _Fetched:
    uid: int
    raw: bytes
    oversize: int = 0  # RFC822.SIZE when only the header was fetched


@dataclass
class _Batch:
    """What a committed batch leaves to do once the transaction is safe."""

    uids: list[int] = field(default_factory=list)
    route_campaigns: set[int] = field(default_factory=set)
    autoreply_ids: list[int] = field(default_factory=list)


def is_receiving(campaign: Campaign | None) -> bool:
    return bool(
        campaign is not None
        and campaign.deleted_at is None
        and campaign.enabled
        and campaign.receive_emails
        and campaign.imap_host
    )


def receiving_clause() -> ColumnElement[bool]:
    """:func:`is_receiving`, as SQL."""
    return and_(
        Campaign.deleted_at.is_(None),
        Campaign.enabled.is_(True),
        Campaign.receive_emails.is_(True),
        Campaign.imap_host != "",
    )


def due_campaign_ids(now: datetime | None = None) -> list[int]:
    """Receiving campaigns whose back-off (if any) has passed."""
    now = now or utcnow()
    return list(
        get_state().session.scalars(
            select(Campaign.id)
            .where(
                receiving_clause(),
                or_(Campaign.next_poll_at.is_(None), Campaign.next_poll_at <= now),
            )
            .order_by(Campaign.id)
        )
    )


def enqueue_due_polls(now: datetime | None = None) -> list[int]:
    ids = due_campaign_ids(now)
    for campaign_id in ids:
        enqueue("ucmail.inbound.poll_mailbox", campaign_id)
    return ids


def poll_mailbox(campaign_id: int, lock_ttl: float | None = None) -> PollResult:
    """Import what is new in the campaign's mailbox; safe to call from any worker, any time.

    ``lock_ttl``: how long the mailbox stays locked if this process dies mid-poll
    (default ``UCMAIL_LOCK_TTL``); the IDLE listener uses its take-over time, so the
    process that takes over a killed one's mailboxes can poll them that soon.
    """
    session = get_state().session
    campaign = session.get(Campaign, campaign_id)
    if not is_receiving(campaign):
        return PollResult(campaign_id, status="skipped")
    assert campaign is not None
    with locks.hold(f"mailbox:{campaign_id}", lock_ttl) as lease:
        if lease is None:
            return PollResult(campaign_id, status="busy")
        return metrics.observe_poll(_poll_locked(campaign, lease))


def _poll_locked(campaign: Campaign, lease: locks.Lease) -> PollResult:
    session = get_state().session
    result = PollResult(campaign.id)
    try:
        settings = imap_settings(campaign)
        readonly = not current_app.config["UCMAIL_MARK_SEEN"]
        with open_mailbox(settings, readonly=readonly) as mailbox:
            _drain(campaign, settings.folder, mailbox, lease, result)
    except (ImapError, DecryptionError) as exc:
        session.rollback()
        result.status = "error"
        result.error = str(exc)
        _record_failure(campaign.id, result.error)
        return result
    except IntegrityError:
        # Another poller (its lease expired under it, or ours did) stored these first.
        session.rollback()
        result.status = "conflict"
        return result
    except SQLAlchemyError as exc:
        # A full disk, a lost connection, a trigger: the batch rolled back with its
        # cursor, and flags are only set after a commit, so the mail is still on the
        # server for the next poll. The admin sees it on the campaign like an IMAP error.
        session.rollback()
        result.status = "error"
        result.error = _database_error(exc)
        _record_failure(campaign.id, result.error)
        return result
    _record_success(campaign.id)
    return result


def _drain(
    campaign: Campaign,
    folder: str,
    mailbox: ImapSession,
    lease: locks.Lease,
    result: PollResult,
) -> None:
    cursor = _sync_cursor(campaign.id, folder, mailbox)
    if mailbox.uidnext - 1 <= cursor.last_uid:
        return
    uids = mailbox.search_new(cursor.last_uid)
    if not uids:
        return
    uids, result.left_on_server = _within_queue_room(campaign, uids, cursor.history_uid)
    if not uids:
        return
    max_bytes = int(current_app.config["UCMAIL_MAX_MESSAGE_BYTES"])
    sizes = mailbox.sizes(uids)
    batch_size = max(1, int(current_app.config["UCMAIL_FETCH_BATCH"]))
    for chunk in _chunks(uids, batch_size):
        fetched = _fetch(mailbox, chunk, sizes, max_bytes)
        done = _store_batch(campaign, cursor, chunk[-1], fetched, result)
        _after_commit(mailbox, done)
        if not lease.extend():
            result.status = "lost-lock"
            return


def _sync_cursor(campaign_id: int, folder: str, mailbox: ImapSession) -> MailboxCursor:
    """The cursor for this folder, created at first connection or reset on a new UIDVALIDITY."""
    session = get_state().session
    cursor = session.scalar(
        select(MailboxCursor).where(
            MailboxCursor.campaign_id == campaign_id, MailboxCursor.folder == folder
        )
    )
    if cursor is None:
        cursor = MailboxCursor(
            campaign_id=campaign_id,
            folder=folder,
            uidvalidity=mailbox.uidvalidity,
            last_uid=0,
            history_uid=mailbox.uidnext - 1,
        )
        session.add(cursor)
    elif cursor.uidvalidity != mailbox.uidvalidity:
        log.warning(
            "campaign %s folder %s: UIDVALIDITY %s -> %s, rescanning",
            campaign_id,
            folder,
            cursor.uidvalidity,
            mailbox.uidvalidity,
        )
        # History not fully imported yet stays history under the new numbering.
        unfinished = cursor.last_uid < cursor.history_uid
        cursor.uidvalidity = mailbox.uidvalidity
        cursor.history_uid = mailbox.uidnext - 1 if unfinished else 0
        cursor.last_uid = 0
    else:
        return cursor
    session.commit()
    return cursor


def _within_queue_room(
    campaign: Campaign, uids: list[int], history_uid: int
) -> tuple[list[int], int]:
    """The UIDs to take now; new mail past a full queue stays on the server."""
    if campaign.max_in_queue <= 0:
        return uids, 0
    history = [uid for uid in uids if uid <= history_uid]
    live = [uid for uid in uids if uid > history_uid]
    queued = get_state().session.scalar(
        select(func.count(Interaction.id)).where(
            Interaction.campaign_id == campaign.id, Interaction.state == "queued"
        )
    )
    room = max(0, campaign.max_in_queue - int(queued or 0))
    return history + live[:room], max(0, len(live) - room)


def _fetch(
    mailbox: ImapSession, uids: list[int], sizes: dict[int, int], max_bytes: int
) -> list[_Fetched]:
    small = [uid for uid in uids if sizes.get(uid, 0) <= max_bytes]
    large = [uid for uid in uids if sizes.get(uid, 0) > max_bytes]
    items = [_Fetched(uid, raw) for uid, raw in mailbox.fetch_raw(small, batch=len(uids))]
    if large:
        items += [_Fetched(uid, raw, sizes[uid]) for uid, raw in mailbox.fetch_headers(large)]
        items.sort(key=lambda item: item.uid)
    return items


@dataclass
class _NewInteraction:
    """An interaction this batch opens; inserted with the others in one statement."""

    values: dict[str, Any]
    parsed: ParsedMessage
    id: int | None = None

    @property
    def live(self) -> bool:
        return self.values["state"] == "queued"


_Target = Interaction | _NewInteraction


@dataclass
class _Plan:
    """The rows of one batch, and what its own messages thread to."""

    rows: list[tuple[inbound_store.InboundRow, _Target]] = field(default_factory=list)
    opened: list[_NewInteraction] = field(default_factory=list)
    by_message_id: dict[str, _Target] = field(default_factory=dict)
    by_dialer_record: dict[int, _NewInteraction] = field(default_factory=dict)


def _store_batch(
    campaign: Campaign,
    cursor: MailboxCursor,
    last_uid: int,
    fetched: list[_Fetched],
    result: PollResult,
) -> _Batch:
    """Store one batch and move the cursor to ``last_uid``, in one transaction."""
    session = get_state().session
    now = utcnow()
    limits = inbound_store.parse_limits()
    parsed = [(item, _parse(item, limits)) for item in fetched]
    known = _known_identities(campaign.id, cursor, parsed)
    own = _own_message_ids(parsed)
    done = _Batch(uids=[item.uid for item in fetched])
    tally: Counter[str] = Counter()  # reported only once the batch is committed
    plan = _Plan()
    try:
        for item, message in parsed:
            key = inbound_store.dedupe_key(message.message_id, message.sha256)
            if item.uid in known.uids or key in known.keys:
                tally["duplicates"] += 1
                continue
            known.keys.add(key)
            if message.message_id and message.message_id in own:
                tally["own"] += 1
                continue
            if _consumed_as_feedback(campaign.id, item.raw):
                tally["feedback"] += 1
                continue
            history = item.uid <= cursor.history_uid
            slot = MailboxSlot(cursor.folder, cursor.uidvalidity or 0, item.uid)
            row = inbound_store.inbound_row(campaign.id, message, item.raw, slot, now)
            target = _thread(campaign.id, message, plan, history, now)
            plan.rows.append((row, target))
            tally["imported"] += 1
            if message.message_id:
                plan.by_message_id[message.message_id] = target
            if isinstance(target, Interaction):
                if threading.join(target, flagged=row.flagged, history=history, now=now):
                    done.route_campaigns.add(target.campaign_id)
                continue
            target.values["message_count"] += 1
            target.values["flagged"] = target.values["flagged"] or row.flagged
        _write(plan)
        for opened in plan.opened:
            tally["new_interactions"] += 1
            if opened.live:
                done.route_campaigns.add(opened.values["campaign_id"])
            else:
                tally["history"] += 1
        replies = _queue_autoreplies(campaign, plan.opened, now)
        _advance_cursor(cursor, last_uid)
        session.commit()
    except BaseException:
        session.rollback()
        inbound_store.discard_files([row for row, _ in plan.rows])
        raise
    for name, value in tally.items():
        setattr(result, name, getattr(result, name) + value)
    done.autoreply_ids = replies
    return done


def _thread(
    campaign_id: int, parsed: ParsedMessage, plan: _Plan, history: bool, now: datetime
) -> _Target:
    """Where ``parsed`` goes; a message earlier in this batch counts as already stored."""
    for ident in referenced_ids(parsed):
        if ident in plan.by_message_id:
            return plan.by_message_id[ident]
    match = threading.find_thread(campaign_id, parsed)
    if match.interaction is not None:
        return match.interaction
    record_id = match.dialer_record_id
    if record_id is not None and record_id in plan.by_dialer_record:
        return plan.by_dialer_record[record_id]
    opened = _NewInteraction(
        threading.new_interaction(match, parsed, history=history, now=now), parsed
    )
    plan.opened.append(opened)
    if record_id is not None:
        plan.by_dialer_record[record_id] = opened
    return opened


def _write(plan: _Plan) -> None:
    """One INSERT per table for the whole batch; joined interactions flush as updates."""
    session = get_state().session
    if plan.opened:
        ids = session.scalars(
            insert(Interaction).returning(Interaction.id, sort_by_parameter_order=True),
            [opened.values for opened in plan.opened],
        )
        for opened, new_id in zip(plan.opened, ids, strict=True):
            opened.id = new_id
    rows = [row for row, _ in plan.rows]
    inbound_store.insert_rows(rows, [int(target.id) for _, target in plan.rows])


def _parse(item: _Fetched, limits: ParseLimits) -> ParsedMessage:
    parsed = parse_message(item.raw, limits)
    if not item.oversize:
        return parsed
    megabytes = item.oversize / (1024 * 1024)
    note = (
        f"This message is {megabytes:.1f} MB, over the size limit for import: only its "
        "header was read. The whole message is still on the mail server."
    )
    return dataclasses.replace(
        parsed,
        text=note,
        html="",
        attachments=[],
        size=item.oversize,
        defects=[*parsed.defects, f"message of {item.oversize} bytes left on the server"],
        unparseable=True,
    )


@dataclass
class _Known:
    uids: set[int]
    keys: set[str]


def _known_identities(
    campaign_id: int, cursor: MailboxCursor, parsed: list[tuple[_Fetched, ParsedMessage]]
) -> _Known:
    """Messages of this batch already stored: by server slot, or by the fallback key.

    Two queries rather than one with OR: each matches one unique index exactly, so
    the plan stays an index lookup however the table's statistics look.
    """
    if not parsed:
        return _Known(set(), set())
    session = get_state().session
    uids = [item.uid for item, _ in parsed]
    keys = [inbound_store.dedupe_key(p.message_id, p.sha256) for _, p in parsed]
    stored_uids = session.scalars(
        select(Message.uid).where(
            Message.campaign_id == campaign_id,
            Message.folder == cursor.folder,
            Message.uidvalidity == cursor.uidvalidity,
            Message.uid.in_(uids),
        )
    )
    stored_keys = session.scalars(
        select(Message.dedupe_key).where(
            Message.campaign_id == campaign_id, Message.dedupe_key.in_(keys)
        )
    )
    return _Known({uid for uid in stored_uids if uid is not None}, {k for k in stored_keys if k})


def _own_message_ids(parsed: list[tuple[_Fetched, ParsedMessage]]) -> set[str]:
    """Message-IDs of this batch that we generated or sent: not customer mail."""
    ids = sorted({p.message_id for _, p in parsed if p.message_id})
    if not ids:
        return set()
    domain = links.message_id_domain()
    own = {i for i in ids if is_our_message_id(i, domain)}
    session = get_state().session
    sent = session.scalars(
        select(Message.message_id).where(Message.direction == "out", Message.message_id.in_(ids))
    )
    dialed = session.scalars(
        select(DialerRecord.message_id).where(DialerRecord.message_id.in_(ids))
    )
    own.update(i for i in [*sent, *dialed] if i)
    return own


def _consumed_as_feedback(campaign_id: int, raw: bytes) -> bool:
    """A bounce or spam report about a dialer email updates that record instead."""
    feedback = classify(raw)
    if feedback is None:
        return False
    # Imported here: the dialer's service sits beside this one, not below it.
    from ucmail_ext.services.dialer.feedback import apply_feedback

    return bool(apply_feedback(campaign_id, feedback))


def _queue_autoreplies(
    campaign: Campaign, opened: list[_NewInteraction], now: datetime
) -> list[int]:
    """The ids of the auto-replies stored for this batch's new live interactions."""
    live = {item.id: item.parsed for item in opened if item.live}
    if not live or not campaign.autoreply_enabled:
        return []
    session = get_state().session
    interactions = session.scalars(select(Interaction).where(Interaction.id.in_(list(live))))
    replies = []
    for interaction in sorted(interactions, key=lambda i: i.id):
        reply = autoreply.queue_autoreply(campaign, interaction, live[interaction.id], now)
        if reply is not None:
            replies.append(reply)
    session.flush()
    return [reply.id for reply in replies]


def _advance_cursor(cursor: MailboxCursor, last_uid: int) -> None:
    """Conditional, so a poller that fell behind never moves the cursor back."""
    get_state().session.execute(
        update(MailboxCursor)
        .where(
            MailboxCursor.id == cursor.id,
            MailboxCursor.uidvalidity == cursor.uidvalidity,
            MailboxCursor.last_uid < last_uid,
        )
        .values(last_uid=last_uid, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    get_state().session.expire(cursor, ["last_uid", "updated_at"])


def _after_commit(mailbox: ImapSession, done: _Batch) -> None:
    if current_app.config["UCMAIL_MARK_SEEN"] and done.uids:
        try:
            mailbox.add_flags(done.uids, [b"\\Seen"])
        except ImapError as exc:
            # The mail is stored; a missing \Seen is cosmetic and the next batch may work.
            log.warning("could not set \\Seen: %s", exc)
    for campaign_id in sorted(done.route_campaigns):
        enqueue("ucmail.routing.route", campaign_id)
    for message_id in done.autoreply_ids:
        enqueue("ucmail.outbound.send", message_id)


def _database_error(exc: SQLAlchemyError) -> str:
    """The driver's first line only: the full text carries the SQL and its parameters,
    which hold the mail being stored."""
    origin = getattr(exc, "orig", None)
    words = (
        str(origin).strip().splitlines()[0] if origin is not None and str(origin).strip() else ""
    )
    return f"Database error while storing mail: {words or type(exc).__name__}"[:500]


def _record_success(campaign_id: int) -> None:
    session = get_state().session
    locks.relax_durability(session.connection())  # a status line, rewritten every poll
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(
            last_poll_at=utcnow(),
            poll_failures=0,
            last_poll_error="",
            next_poll_at=None,
            # Polling is not an edit: listeners watch updated_at for changed settings.
            updated_at=Campaign.updated_at,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()


def _record_failure(campaign_id: int, error: str) -> None:
    session = get_state().session
    failures = 1 + int(
        session.scalar(select(Campaign.poll_failures).where(Campaign.id == campaign_id)) or 0
    )
    interval = max(1, int(current_app.config["UCMAIL_POLL_INTERVAL"]))
    delay = min(interval * 2 ** min(failures - 1, 20), MAX_BACKOFF_SECONDS)
    now = utcnow()
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(
            last_poll_at=now,
            poll_failures=failures,
            last_poll_error=error[:2000],
            next_poll_at=now + timedelta(seconds=delay),
            updated_at=Campaign.updated_at,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    log.warning("campaign %s: mailbox poll failed (%s), retry in %s s", campaign_id, error, delay)


def _chunks(items: Iterable[int], size: int) -> Iterator[list[int]]:
    ordered = list(items)
    for index in range(0, len(ordered), size):
        yield ordered[index : index + size]
