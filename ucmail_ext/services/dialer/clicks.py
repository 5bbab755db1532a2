"""Click tracking for dialer mail (opt-in per dialer).

Each http(s) link of the list's HTML template is stored once per list
(``DialerLink``, as written, ``${var}`` kept) and its ``href`` replaced by
``/c/<link id>/<token>``, the token signed for the purpose "click" and one record.
The destination is never read from the clicked URL: it is the stored link,
rendered with the clicking record's own values, and it must belong to that
record's list. So a tampered token, a link id of another list or a link that no
longer renders as http(s) is refused (400), and nobody can make the helpdesk
redirect to an address of their choosing (no open redirect).

One HMAC per message: the token names the record, the link id is plain, so
tracking twenty links costs the same as tracking one (bench ``D8``).

Links left alone: ``mailto:`` and other schemes, anchors, and any href that is a
``${variable}`` (its value is only known per record; the unsubscribe link is one),
or that points at ucmail's own tracking endpoints.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ucmail_ext.crypto import read_token
from ucmail_ext.extension import get_state
from ucmail_ext.mail.render import compile_template
from ucmail_ext.models import DialerLink, DialerRecord

log = logging.getLogger(__name__)

# An <a ...> tag's href, quoted either way; group 2 is the URL as written in HTML.
_HREF = re.compile(
    r"""(<a\b[^>]*?\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)')""",
    re.IGNORECASE | re.DOTALL,
)
_TRACKABLE = re.compile(r"https?://[^\s/?#]", re.IGNORECASE)
MAX_URL = 4000
# Stands for the record's token in the rewritten template; replaced once per message.
TOKEN_SLOT = "UCMAILCLICKTOKEN"
LINK_SLOT = "987654321"


def _hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def trackable(url: str, own_prefix: str = "") -> bool:
    """Only literal http(s) links to somewhere else are rewritten."""
    url = url.strip()
    return (
        bool(_TRACKABLE.match(url))
        and len(url) <= MAX_URL
        and not (own_prefix and url.startswith(own_prefix))
    )


def links_in(document: str, own_prefix: str = "") -> list[str]:
    """The trackable link URLs of an HTML template, unescaped, in order of appearance."""
    found: dict[str, None] = {}
    for match in _HREF.finditer(document):
        url = html.unescape(match.group(2) if match.group(2) is not None else match.group(3))
        if trackable(url, own_prefix):
            found[url.strip()] = None
    return list(found)


def register(list_id: int, urls: Iterable[str]) -> dict[str, int]:
    """The stored id of each URL for this list, created when new (not committed).

    Two workers starting the same list both register: the unique (list, hash) key
    decides, and the loser reads the winner's row.
    """
    session = get_state().session
    wanted = {_hash(url): url for url in urls}
    if not wanted:
        return {}
    stmt = select(DialerLink).where(
        DialerLink.list_id == list_id, DialerLink.url_hash.in_(list(wanted))
    )
    ids = {link.url: link.id for link in session.scalars(stmt)}
    for digest, url in wanted.items():
        if url in ids:
            continue
        try:
            with session.begin_nested():
                link = DialerLink(list_id=list_id, url=url, url_hash=digest, clicks=0)
                session.add(link)
            ids[url] = link.id
        except IntegrityError:
            ids[url] = session.scalar(
                select(DialerLink.id).where(
                    DialerLink.list_id == list_id, DialerLink.url_hash == digest
                )
            )
    return ids


def rewrite(document: str, ids: dict[str, int], url_parts: tuple[str, str]) -> str:
    """The template with each registered link's href replaced by its tracked URL.

    ``url_parts`` is the click URL split around ``TOKEN_SLOT``, with ``LINK_SLOT``
    where the link id goes.
    """
    prefix, suffix = url_parts

    def replace(match: re.Match[str]) -> str:
        quoted = match.group(2) if match.group(2) is not None else match.group(3)
        link_id = ids.get(html.unescape(quoted).strip())
        if link_id is None:
            return match.group(0)
        tracked = f"{prefix}{TOKEN_SLOT}{suffix}".replace(LINK_SLOT, str(link_id))
        return f'{match.group(1)}"{html.escape(tracked)}"'

    return _HREF.sub(replace, document)


# --------------------------------------------------------------------------- a click


@dataclass(frozen=True)
class Click:
    url: str
    first: bool


def _destination(link: DialerLink, record: DialerRecord) -> str | None:
    try:
        values = json.loads(record.variables or "{}")
    except ValueError:
        return None
    if not isinstance(values, dict):
        return None
    values = {**values, "email": record.email}
    rendered = compile_template(link.url).render(values)
    url = rendered.text.strip()
    if rendered.missing or not _TRACKABLE.match(url) or any(c in url for c in "\r\n\0"):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def follow(link_id: int, token: str) -> Click | None:
    """Count a click and say where it goes; None (refuse, 400) unless everything checks.

    The record is marked clicked (and seen) on its first click only; the link counts
    every click.
    """
    record_id = read_token("click", token or "")
    if not isinstance(record_id, int) or isinstance(record_id, bool) or record_id <= 0:
        return None
    session = get_state().session
    record = session.get(DialerRecord, record_id)
    link = session.get(DialerLink, link_id)
    if record is None or link is None or link.list_id != record.list_id:
        return None
    url = _destination(link, record)
    if url is None:
        return None
    now = datetime.now(UTC)
    try:
        session.execute(
            update(DialerLink)
            .where(DialerLink.id == link.id)
            .values(clicks=DialerLink.clicks + 1, last_clicked_at=now)
        )
        first = session.execute(
            update(DialerRecord)
            .where(DialerRecord.id == record.id, DialerRecord.clicked_at.is_(None))
            .values(clicked_at=now)
        ).rowcount
        session.execute(
            update(DialerRecord)
            .where(DialerRecord.id == record.id, DialerRecord.seen_at.is_(None))
            .values(seen_at=now)
        )
        session.commit()
    except SQLAlchemyError:
        # The customer still gets where the mail said; only the count is lost.
        session.rollback()
        log.exception("could not record a click of dialer record %s", record_id)
        return Click(url, False)
    return Click(url, bool(first))


@dataclass(frozen=True)
class LinkClicks:
    url: str
    clicks: int


def top_links(list_id: int, limit: int = 10) -> list[LinkClicks]:
    """The list's most clicked links, most first (links never clicked left out)."""
    stmt = (
        select(DialerLink.url, DialerLink.clicks)
        .where(DialerLink.list_id == list_id, DialerLink.clicks > 0)
        .order_by(DialerLink.clicks.desc(), DialerLink.id)
        .limit(limit)
    )
    return [LinkClicks(url, clicks) for url, clicks in get_state().session.execute(stmt)]
