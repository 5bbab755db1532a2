"""Threading helpers: which conversation a message belongs to, and how ours are named.

Inbound mail is threaded first by In-Reply-To/References against the Message-IDs
we sent, then by the ``[#123]`` subject token (the caller checks the sender too,
since anyone can type a token). Message-IDs are compared in the bracket-less form
of :func:`ucmail_ext.mail.parse.normalize_message_id`.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import format_datetime, make_msgid

from ucmail_ext.mail.parse import ParsedMessage, normalize_message_id

__all__ = [
    "find_subject_token",
    "is_our_message_id",
    "make_message_id",
    "new_message_id",
    "quote_history",
    "referenced_ids",
    "strip_reply_prefixes",
    "subject_token",
]

_TOKEN = re.compile(r"\[#(\d{1,18})\]")
# Reply and forward prefixes of the mail clients our customers use (English, German,
# Scandinavian, Dutch, French, Spanish, Portuguese, Italian), optionally counted
# ("Re[2]:", "Re^2:") and with an ASCII or full-width colon.
_PREFIX = re.compile(
    r"^\s*(?:re|fwd?|aw|wg|sv|vs|antw|doorst|tr|rv|res|enc|rif|i|r)"
    r"\s*(?:\[\d+\]|\^\d+)?\s*[:\uff1a]\s*",
    re.IGNORECASE,
)
_ATOM = re.compile(r"[A-Za-z0-9-]+")
_DOMAIN = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_RANDOM_LOCAL = re.compile(r"\d+\.\d+\.\d+\.ucmail")

ID_PREFIX = "ucmail"


def subject_token(interaction_id: int) -> str:
    """The token that ties a subject to an interaction, e.g. ``[#123]``."""
    return f"[#{int(interaction_id)}]"


def find_subject_token(subject: str) -> int | None:
    """The interaction id in the first ``[#n]`` token of ``subject``, if any."""
    match = _TOKEN.search(subject or "")
    if match is None:
        return None
    value = int(match.group(1))
    return value if value > 0 else None


def strip_reply_prefixes(subject: str) -> str:
    """The subject without Re:/Fwd:/AW:... prefixes (however many) and ``[#n]`` tokens."""
    text = " ".join(_TOKEN.sub(" ", subject or "").split())
    while True:
        stripped = _PREFIX.sub("", text, count=1)
        stripped = " ".join(_TOKEN.sub(" ", stripped).split())
        if stripped == text:
            return text
        text = stripped


def referenced_ids(parsed: ParsedMessage) -> list[str]:
    """The Message-IDs a message answers, most specific first.

    In-Reply-To names the direct parent; References lists the thread oldest first,
    so it is read backwards (RFC 5322 §3.6.4).
    """
    ids = [parsed.in_reply_to, *reversed(parsed.references)]
    return list(dict.fromkeys(i for i in (normalize_message_id(x) for x in ids) if i))


def make_message_id(kind: str, ident: str, domain: str) -> str:
    """A deterministic Message-ID header value, ``<ucmail.{kind}.{ident}@{domain}>``.

    Deterministic so that a retry or a second worker sending the same record uses
    the same id and the duplicate is recognisable. ``ident`` may hold anything:
    characters outside ``[A-Za-z0-9-]`` are written as ``=XX`` so distinct idents
    never collide.
    """
    if not _ATOM.fullmatch(kind or ""):
        raise ValueError(f"Message-ID kind must be letters, digits or '-': {kind!r}")
    if not ident:
        raise ValueError("Message-ID ident must not be empty")
    return f"<{ID_PREFIX}.{kind}.{_escape(str(ident))}@{_check_domain(domain)}>"


def new_message_id(domain: str) -> str:
    """A random Message-ID header value that :func:`is_our_message_id` recognises."""
    return make_msgid(idstring=ID_PREFIX, domain=_check_domain(domain))


def is_our_message_id(message_id: str, domain: str | None = None) -> bool:
    """Whether ucmail made this id (either form), optionally for this domain only."""
    local, at, id_domain = normalize_message_id(message_id).rpartition("@")
    if not at or not local:
        return False
    if domain is not None and id_domain.lower() != domain.strip().lower():
        return False
    return local.startswith(f"{ID_PREFIX}.") or bool(_RANDOM_LOCAL.fullmatch(local))


def quote_history(text: str, sender: str, date: datetime | str | None) -> str:
    """The ">"-quoted previous message placed under a reply with history."""
    who = " ".join((sender or "").split()) or "unknown sender"
    if isinstance(date, datetime):
        when = format_datetime(date)
    else:
        when = " ".join((date or "").split())
    intro = f"On {when}, {who} wrote:" if when else f"{who} wrote:"
    body = (text or "").replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")
    lines = [(">" + line if line.startswith(">") else f"> {line}") if line else ">"
             for line in body.split("\n")]  # fmt: skip
    return "\n".join([intro, *lines])


def _escape(value: str) -> str:
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch == "-") else _hex(ch) for ch in value)


def _hex(ch: str) -> str:
    return "".join(f"={byte:02X}" for byte in ch.encode("utf-8", errors="surrogatepass"))


def _check_domain(domain: str) -> str:
    domain = (domain or "").strip().lower()
    if not _DOMAIN.fullmatch(domain) or ".." in domain:
        raise ValueError(f"not a usable Message-ID domain: {domain!r}")
    return domain
