"""Named locks shared by every worker: one poller per mailbox, one runner per job.

A lock is a *lease*: it expires ``UCMAIL_LOCK_TTL`` seconds after it was taken or
last extended, so a worker killed while holding one (SIGKILL, a lost machine) stops
blocking the others after at most that long. The holder extends it between units
of work; when an extension fails, the lease was lost and the holder should stop.

Two backends, same contract:

- **Redis** (``UCMAIL_LOCK_URL``, else the Celery broker when it is Redis):
  ``redis.lock.Lock``, i.e. ``SET key token NX PX ttl`` to take, and Lua scripts
  that compare the token before extending or deleting, so a holder whose lease
  expired can never release the next holder's.
- **Database** (no Redis): one row per held lock in ``ucmail_lock``. Taking it is
  an INSERT (the primary key lets exactly one concurrent INSERT win, on SQLite and
  PostgreSQL alike) or, when the row is stale, a conditional
  ``UPDATE ... WHERE name = :name AND expires_at < :now`` (PostgreSQL re-checks the
  WHERE on the row version it waited for; SQLite runs one writer at a time), so two
  workers never both see "taken". Extending and releasing match on the holder's
  token. Each statement commits on its own connection, independent of the
  caller's session, so a lock is visible to others at once and a rolled-back unit
  of work does not undo it.

Why that is enough: correctness never rests on the lock alone. Whatever it
guards must stay correct if two holders overlap (a lease that expired during a
stall, clocks that disagree): inbound mail has unique keys in the database, dialer
records are claimed row by row. The lock only keeps workers from doing the same
work twice.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Protocol

import redis
from flask import current_app
from redis.exceptions import LockError
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from ucmail_ext.extension import get_state
from ucmail_ext.models import LockLease, utcnow

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


class Lease(Protocol):
    name: str

    def extend(self) -> bool:
        """Push the expiry ``ttl`` seconds ahead; False when the lease was lost."""

    def release(self) -> None:
        """Give the lock up; a lease that already expired is left alone."""


def acquire(name: str, ttl: float | None = None) -> Lease | None:
    """Take the lock ``name`` without waiting; None when someone else holds it."""
    seconds = float(ttl if ttl is not None else current_app.config["UCMAIL_LOCK_TTL"])
    url = lock_url()
    lease: _RedisLease | _DbLease
    if url:
        prefix = current_app.config["UCMAIL_LOCK_PREFIX"]
        lease = _RedisLease(_redis(url), prefix, name, seconds)
    else:
        lease = _DbLease(get_state().db.engine, name, seconds)
    return lease if lease.take() else None


def extend_many(leases: list[Lease]) -> set[str]:
    """Extend many leases at once; the names of those still held.

    For a holder of hundreds of leases (an IDLE node): on the database it is one
    UPDATE per 500 leases instead of one transaction each. A row matches only with
    its own token, and tokens are random per lease, so no one else's row is touched.
    """
    held: set[str] = set()
    by_engine: dict[tuple[int, float], list[_DbLease]] = {}
    by_client: dict[int, list[_RedisLease]] = {}
    for lease in leases:
        if isinstance(lease, _DbLease):
            by_engine.setdefault((id(lease._engine), lease.ttl), []).append(lease)
        elif isinstance(lease, _RedisLease):
            by_client.setdefault(id(lease._lock.redis), []).append(lease)
        elif lease.extend():
            held.add(lease.name)
    for group in by_engine.values():
        for start in range(0, len(group), 500):
            held |= _DbLease.extend_group(group[start : start + 500])
    for redis_group in by_client.values():
        held |= _RedisLease.extend_group(redis_group)
    return held


def held_names(prefix: str) -> list[str]:
    """Names of the unexpired locks that start with ``prefix``, sorted.

    For leases that stand for members (``idle-node:<id>``): whoever holds one is
    alive, and a member that died drops out once its lease expires.
    """
    url = lock_url()
    if url:
        key_prefix = current_app.config["UCMAIL_LOCK_PREFIX"]
        keys = _redis(url).scan_iter(match=_redis_glob(key_prefix + prefix) + "*", count=1000)
        names = [key.decode()[len(key_prefix) :] for key in keys]
    else:
        table = LockLease.__table__
        with get_state().db.engine.connect() as conn:
            names = list(
                conn.scalars(
                    select(table.c.name).where(
                        table.c.name.startswith(prefix, autoescape=True),
                        table.c.expires_at >= utcnow(),
                    )
                )
            )
    return sorted(names)


def _redis_glob(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


@contextlib.contextmanager
def hold(name: str, ttl: float | None = None) -> Iterator[Lease | None]:
    """``with hold("mailbox:3") as lease:`` — ``lease`` is None when it is taken."""
    lease = acquire(name, ttl)
    try:
        yield lease
    finally:
        if lease is not None:
            lease.release()


def lock_url() -> str | None:
    """The Redis URL locks use, or None for the database backend."""
    configured = current_app.config["UCMAIL_LOCK_URL"]
    if configured:
        return str(configured)
    broker = celery_broker_url()
    if broker and broker.startswith(REDIS_SCHEMES):
        return broker
    return None


def celery_broker_url() -> str | None:
    """The host's broker: its Celery app once built, else the config it is built from."""
    celery_app = current_app.extensions.get("celery")
    if celery_app is not None:
        return str(celery_app.conf.broker_url or "") or None
    config = current_app.config.get("CELERY")
    if isinstance(config, dict):
        return config.get("broker_url")
    return None


def redis_client(url: str) -> redis.Redis:
    """The process's shared client for ``url``, for other short-lived shared state."""
    return _redis(url)


def _redis(url: str) -> redis.Redis:
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
            _clients[url] = client
        return client


class _RedisLease:
    def __init__(self, client: redis.Redis, prefix: str, name: str, ttl: float) -> None:
        self.name = name
        self.ttl = ttl
        # thread_local=False: the token lives on this object, whichever thread holds it.
        self._lock = client.lock(prefix + name, timeout=ttl, blocking=False, thread_local=False)

    def take(self) -> bool:
        return bool(self._lock.acquire(blocking=False))

    def extend(self) -> bool:
        try:
            return bool(self._lock.extend(self.ttl, replace_ttl=True))
        except LockError:
            return False

    def release(self) -> None:
        with contextlib.suppress(LockError):
            self._lock.release()

    @staticmethod
    def extend_group(leases: list[_RedisLease]) -> set[str]:
        """One round trip for all: redis-py's own extend script, pipelined."""
        pipe = leases[0]._lock.redis.pipeline(transaction=False)
        for lease in leases:
            lock = lease._lock
            lock.lua_extend(
                keys=[lock.name], args=[lock.local.token, int(lease.ttl * 1000), "1"], client=pipe
            )
        answers = pipe.execute(raise_on_error=False)
        return {lease.name for lease, answer in zip(leases, answers, strict=True) if answer == 1}


class _DbLease:
    _table = LockLease.__table__

    def __init__(self, engine: Any, name: str, ttl: float) -> None:
        self.name = name
        self.ttl = ttl
        self._engine = engine
        self._token = secrets.token_hex(16)

    def _expiry(self) -> Any:
        return utcnow() + timedelta(seconds=self.ttl)

    def take(self) -> bool:
        table = self._table
        try:
            try:
                with self._engine.begin() as conn:
                    relax_durability(conn)
                    conn.execute(
                        insert(table).values(
                            name=self.name, token=self._token, expires_at=self._expiry()
                        )
                    )
                return True
            except IntegrityError:
                pass
            with self._engine.begin() as conn:
                relax_durability(conn)
                stale = conn.execute(
                    update(table)
                    .where(table.c.name == self.name, table.c.expires_at < utcnow())
                    .values(token=self._token, expires_at=self._expiry())
                )
                return stale.rowcount == 1
        except OperationalError as exc:
            if _is_busy(exc):
                # SQLite: another writer held the file past the busy timeout; that is "taken".
                return False
            raise

    def extend(self) -> bool:
        table = self._table
        try:
            with self._engine.begin() as conn:
                relax_durability(conn)
                result = conn.execute(
                    update(table)
                    .where(table.c.name == self.name, table.c.token == self._token)
                    .values(expires_at=self._expiry())
                )
                return result.rowcount == 1
        except OperationalError as exc:
            if _is_busy(exc):
                # Still ours until it expires; the next extension will tell.
                return True
            raise

    @classmethod
    def extend_group(cls, leases: list[_DbLease]) -> set[str]:
        table = cls._table
        first = leases[0]
        try:
            with first._engine.begin() as conn:
                relax_durability(conn)
                rows = conn.execute(
                    update(table)
                    .where(
                        table.c.name.in_([lease.name for lease in leases]),
                        table.c.token.in_([lease._token for lease in leases]),
                    )
                    .values(expires_at=first._expiry())
                    .returning(table.c.name)
                )
                return set(rows.scalars())
        except OperationalError as exc:
            if _is_busy(exc):
                # Still ours until they expire; the next extension will tell.
                return {lease.name for lease in leases}
            raise

    def release(self) -> None:
        table = self._table
        try:
            with self._engine.begin() as conn:
                relax_durability(conn)
                conn.execute(
                    delete(table).where(table.c.name == self.name, table.c.token == self._token)
                )
        except OperationalError as exc:
            if not _is_busy(exc):
                raise
            # It expires by itself; nothing is lost by leaving it.


def relax_durability(conn: Any) -> None:
    """PostgreSQL: commit without waiting for the WAL flush, for rows a crash may lose.

    A lease lost in a database crash only lets a second worker in early, which the
    guarded work must survive anyway; waiting for the disk on every take and release
    doubled the cost of an empty mailbox poll.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL synchronous_commit TO OFF"))


def _is_busy(exc: OperationalError) -> bool:
    return "database is locked" in str(exc.orig)
