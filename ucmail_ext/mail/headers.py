"""Header values built from user or CSV data: refuse injection, check addresses.

A value that reaches a header (a subject rendered from a CSV variable, a display
name typed in a form) must not be able to end the header and start another one.
The email package folds and re-splits header text with ``str.splitlines()``, so
the Unicode line boundaries it knows (NEL, LINE/PARAGRAPH SEPARATOR) are refused
along with CR, LF, NUL and the other C0 controls.
"""

from __future__ import annotations

import re
from email.headerregistry import Address

__all__ = [
    "HeaderInjectionError",
    "check_header_value",
    "format_address",
    "is_valid_address",
    "normalize_address",
]

# C0 controls except TAB, DEL, and what str.splitlines() treats as a line break.
_FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")

_SHOWN = 40

# RFC 5322 atext, plus any non-ASCII character (RFC 6531 §3.3 extends atext with
# UTF8-non-ascii). Quoted local parts ("john doe"@x) are valid RFC 5322 but are
# refused: no mailbox a contact list should target needs one.
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
_LOCAL_ATOM = re.compile(rf"(?:[{_ATEXT}]|[^\x00-\x7f])+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ASCII_LABEL = re.compile(_LABEL)
# The all-ASCII case in one regex (a dialer checks 100,000s of addresses); the
# same rules, spelled out in is_valid_address, decide the rest.
_ASCII_ADDRESS = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@(?:{_LABEL}\.)+(?![0-9]+\Z){_LABEL}")

_MAX_ADDRESS = 254  # RFC 5321 §4.5.3.1.3 path limit minus the angle brackets
_MAX_LOCAL_OCTETS = 64  # RFC 5321 §4.5.3.1.1


class HeaderInjectionError(ValueError):
    """A value meant for a header carries a line break or another control character."""


def _shown(value: str) -> str:
    return repr(value[:_SHOWN]) + ("..." if len(value) > _SHOWN else "")


def check_header_value(value: str, field: str) -> str:
    """Return ``value`` unchanged, or raise if it could break out of its header.

    The message names the field and shows at most 40 characters of the value, so
    a hostile value cannot flood a log or an error page.
    """
    match = _FORBIDDEN.search(value)
    if match is not None:
        raise HeaderInjectionError(
            f"{field}: control character U+{ord(match.group()):04X} is not allowed "
            f"in a header value ({_shown(value)})"
        )
    return value


def _visible(ch: str) -> bool:
    return ch.isascii() or (ch.isprintable() and not ch.isspace())


def _valid_label(label: str) -> bool:
    if label.isascii():
        return _ASCII_LABEL.fullmatch(label) is not None
    # IDN label: letters and digits of any script, hyphens inside, and an
    # A-label ("xn--" + punycode) that still fits the 63-octet DNS limit.
    if label.startswith("-") or label.endswith("-"):
        return False
    if not all(ch.isalnum() or ch == "-" for ch in label):
        return False
    return len(label.encode("punycode")) + 4 <= 63


def is_valid_address(addr: str) -> bool:
    """Syntax check of a bare addr-spec (``local@domain``); no DNS lookup.

    Refused: display names, angle brackets, spaces, quoted local parts, domain
    literals, consecutive or edge dots, a domain without a dot, more than 254
    characters. Accepted: UTF-8 local parts and IDN domains (RFC 6531).
    """
    if not isinstance(addr, str) or not addr or len(addr) > _MAX_ADDRESS:
        return False
    if addr.isascii():
        return _ASCII_ADDRESS.fullmatch(addr) is not None and addr.index("@") <= _MAX_LOCAL_OCTETS
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain:
        return False
    if len(local.encode("utf-8")) > _MAX_LOCAL_OCTETS:
        return False
    if not all(_LOCAL_ATOM.fullmatch(atom) for atom in local.split(".")):
        return False
    if not local.isascii() and not all(_visible(ch) for ch in local):
        return False
    labels = domain.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        return False
    return all(_valid_label(label) for label in labels)


def normalize_address(addr: str) -> str:
    """The address with its domain lower-cased (the local part is case-sensitive)."""
    local, _, domain = addr.rpartition("@")
    return f"{local}@{domain.lower()}"


def format_address(name: str, addr: str) -> str:
    """``Name <addr>`` for a From/To header, quoting the name when it needs it.

    Raises ``HeaderInjectionError`` for a control character in either part and
    ``ValueError`` for an address that is not a valid addr-spec.
    """
    check_header_value(name, "display name")
    check_header_value(addr, "address")
    if not is_valid_address(addr):
        raise ValueError(f"address: not a valid email address ({_shown(addr)})")
    local, _, domain = addr.rpartition("@")
    # username/domain rather than addr_spec: addr_spec re-parses and refuses the
    # UTF-8 local parts RFC 6531 allows.
    return str(Address(display_name=name, username=local, domain=domain))
