"""Addresses never mailed again: spam complaints, unsubscribes, hard bounces, manual."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext as _
from ucmail_ext.mail.headers import is_valid_address
from ucmail_ext.models import BlacklistEntry

SOURCES = ("manual", "spam", "unsubscribe", "bounce")


class BlacklistError(ValueError):
    pass


def normalize(address: str) -> str:
    return address.strip().lower()


def is_blacklisted(address: str) -> bool:
    session = get_state().session
    return (
        session.scalar(
            select(func.count(BlacklistEntry.id)).where(
                BlacklistEntry.address == normalize(address)
            )
        )
        > 0
    )


def add(
    address: str, source: str = "manual", reason: str = "", by: str | None = None
) -> BlacklistEntry:
    """Idempotent: adding a listed address keeps the first entry (and its reason)."""
    address = normalize(address)
    if source not in SOURCES:
        raise BlacklistError(f"unknown blacklist source {source!r}")
    if not is_valid_address(address):
        raise BlacklistError(
            _("%(address)s is not a valid email address", address=repr(address[:80]))
        )
    session = get_state().session
    entry = session.scalar(select(BlacklistEntry).where(BlacklistEntry.address == address))
    if entry is not None:
        return entry
    try:
        with session.begin_nested():
            entry = BlacklistEntry(address=address, source=source, reason=reason, created_by=by)
            session.add(entry)
    except IntegrityError:
        # Another worker listed it between our read and our insert: theirs stands.
        entry = session.scalar(select(BlacklistEntry).where(BlacklistEntry.address == address))
    return entry
