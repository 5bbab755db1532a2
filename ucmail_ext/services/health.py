"""Is this ucmail able to work? What an orchestrator, an operator or a worker checks first.

``readiness()`` runs every check and says ok or not; ``flask ucmail health`` and the
ops blueprint's readiness URL turn that into an exit code and a 200/503. Each check
answers within its own timeout and never raises: a check that cannot run is a failed
check with a message. Messages never carry a URL's password (broker URLs hold them).

- **database**: ``SELECT 1`` through the host's engine.
- **broker**: the Celery broker the host configured (``app.extensions["celery"]`` or
  ``CELERY["broker_url"]``): Redis answers PING, AMQP and the rest a kombu connection;
  ``memory://`` is in-process and has nothing to reach.
- **locks**: the Redis that holds cross-worker locks answers PING, or the database
  holds them (then the database check covers it).
- **polling**: the newest successful poll of any receiving campaign is younger than
  ``UCMAIL_HEALTH_POLL_STALE`` seconds; stale means beat or the inbound workers stopped.
- **idle**: the IMAP IDLE listeners' node leases: alive, dead for too long
  (``UCMAIL_HEALTH_IDLE_STALE``), or "not configured" when no listener runs.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import redis
from flask import current_app
from sqlalchemy import func, select, text

from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign, Interaction, LockLease, utcnow
from ucmail_ext.services import locks

OK = "ok"
FAIL = "fail"
NOT_CONFIGURED = "not configured"


def database_summary() -> dict[str, object]:
    session = get_state().session
    return {
        "app": current_app.name,
        "campaigns": session.scalar(select(func.count(Campaign.id))) or 0,
        "interactions": session.scalar(select(func.count(Interaction.id))) or 0,
    }


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok, fail, not configured
    message: str = ""
    age_seconds: float | None = None

    @property
    def failed(self) -> bool:
        return self.status == FAIL


@dataclass
class Readiness:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(check.failed for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": OK if self.ok else FAIL,
            "checks": {
                check.name: {k: v for k, v in asdict(check).items() if k != "name"}
                for check in self.checks
            },
        }


def readiness() -> Readiness:
    timeout = float(current_app.config["UCMAIL_HEALTH_TIMEOUT"])
    database = check_database()
    checks = [database, check_broker(timeout), check_locks(timeout)]
    if database.failed:
        checks += [Check(name, FAIL, "database unreachable") for name in ("polling", "idle")]
    else:
        checks += [check_polling(), check_idle()]
    return Readiness(checks)


def check_database() -> Check:
    engine = get_state().db.engine
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not reachable" here
        return Check("database", FAIL, _describe(exc, str(engine.url)))
    return Check("database", OK, engine.dialect.name)


def broker_url() -> str | None:
    return locks.celery_broker_url()


def check_broker(timeout: float) -> Check:
    url = broker_url()
    if not url:
        return Check("broker", NOT_CONFIGURED, "no Celery broker_url in the app's config")
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return Check("broker", OK, "memory:// (in-process, nothing to reach)")
    try:
        if url.startswith(locks.REDIS_SCHEMES):
            _ping_redis(url, timeout)
        else:
            _connect_kombu(url, timeout)
    except Exception as exc:  # each client raises its own family of errors
        return Check("broker", FAIL, f"{_redacted(url)}: {_describe(exc, url)}")
    return Check("broker", OK, _redacted(url))


def check_locks(timeout: float) -> Check:
    url = locks.lock_url()
    if not url:
        return Check("locks", OK, "database (covered by the database check)")
    try:
        _ping_redis(url, timeout)
    except Exception as exc:  # redis-py errors and socket errors alike
        return Check("locks", FAIL, f"{_redacted(url)}: {_describe(exc, url)}")
    return Check("locks", OK, _redacted(url))


def check_polling(now: datetime | None = None) -> Check:
    from ucmail_ext.services.inbound.ingest import receiving_clause

    stale_after = float(current_app.config["UCMAIL_HEALTH_POLL_STALE"])
    session = get_state().session
    receiving, newest = session.execute(
        select(func.count(Campaign.id), func.max(Campaign.last_poll_at)).where(receiving_clause())
    ).one()
    session.rollback()
    if not receiving:
        return Check("polling", OK, "no receiving campaigns")
    if newest is None:
        return Check("polling", FAIL if stale_after > 0 else OK, "no mailbox polled yet")
    newest = newest if newest.tzinfo is not None else newest.replace(tzinfo=UTC)
    age = max(0.0, ((now or utcnow()) - newest).total_seconds())
    if stale_after > 0 and age > stale_after:
        message = f"newest poll {age:.0f} s ago (over {stale_after:.0f} s): is beat running?"
        return Check("polling", FAIL, message, round(age, 1))
    return Check("polling", OK, f"newest poll {age:.0f} s ago", round(age, 1))


IDLE_NODE_PREFIX = "idle-node:"  # the lease each ``flask ucmail idle`` process holds


def check_idle(now: datetime | None = None) -> Check:
    """The IDLE listeners' node leases: live ones, or how long the newest has been dead.

    A listener stopped cleanly releases its lease (then there is nothing to check:
    "not configured"); one that died leaves it to expire, and health fails once the
    newest expired more than ``UCMAIL_HEALTH_IDLE_STALE`` seconds ago.
    """
    url = locks.lock_url()
    if url:
        prefix = current_app.config["UCMAIL_LOCK_PREFIX"] + IDLE_NODE_PREFIX
        try:
            live = _count_redis_keys(
                url, prefix, float(current_app.config["UCMAIL_HEALTH_TIMEOUT"])
            )
        except Exception as exc:  # reported by the locks check too
            return Check("idle", FAIL, _describe(exc, url))
        if not live:
            return Check("idle", NOT_CONFIGURED, "no IDLE listener holds a lease")
        return Check("idle", OK, f"{live} IDLE listener process(es) alive")
    session = get_state().session
    rows = session.execute(
        select(func.count(LockLease.name), func.max(LockLease.expires_at)).where(
            LockLease.name.startswith(IDLE_NODE_PREFIX, autoescape=True)
        )
    ).one()
    session.rollback()
    count, newest = rows
    if not count or newest is None:
        return Check("idle", NOT_CONFIGURED, "no IDLE listener holds a lease")
    newest = newest if newest.tzinfo is not None else newest.replace(tzinfo=UTC)
    expired_for = ((now or utcnow()) - newest).total_seconds()
    if expired_for <= 0:
        return Check("idle", OK, "IDLE listeners alive", 0.0)
    stale_after = float(current_app.config["UCMAIL_HEALTH_IDLE_STALE"])
    message = f"newest IDLE listener lease expired {expired_for:.0f} s ago"
    status = FAIL if expired_for > stale_after else OK
    return Check("idle", status, message, round(expired_for, 1))


def _count_redis_keys(url: str, prefix: str, timeout: float) -> int:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        glob = "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"
        return sum(1 for _ in client.scan_iter(match=glob, count=1000))
    finally:
        client.close()


def _ping_redis(url: str, timeout: float) -> None:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def _connect_kombu(url: str, timeout: float) -> None:
    from kombu import Connection

    with Connection(url, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)


def _redacted(url: str) -> str:
    """The URL without its password: ``redis://:***@host:6379/0``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _describe(exc: BaseException, url: str) -> str:
    """The error's own words, with any password of ``url`` masked, on one line."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    password = urlsplit(url).password if "://" in url else None
    if password:
        message = message.replace(password, "***")
    return re.sub(r"(://[^:/@\s]*:)[^@\s]+@", r"\1***@", message)[:300]
