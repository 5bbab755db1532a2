"""Bounces and spam complaints read back from a campaign mailbox.

``classify`` recognises

* delivery status notifications (RFC 3464 ``multipart/report;
  report-type=delivery-status``, and RFC 6533's ``message/global-delivery-status``);
* the plain-text bounces some MTAs still send (qmail, Exim, Gmail, old
  sendmail), when the sender or the headers say it is a bounce and a failed
  recipient can be found in the notice;
* feedback reports (ARF, RFC 5965 ``report-type=feedback-report``).

Everything else (read receipts, auto-replies, ordinary mail, a customer
forwarding a bounce as an attachment) gives None. The message is parsed with
the stdlib's ``compat32`` policy because it never raises on a malformed header,
and nothing below ``message/rfc822`` is looked at: a returned or forwarded
message is data, not a report.
"""

from __future__ import annotations

import base64
import binascii
import email
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Literal

from .headers import is_valid_address, normalize_address

__all__ = ["Feedback", "classify"]

# A report and the notice before it are small; what follows is the returned
# message. The parser tolerates the final boundary being cut off.
MAX_INPUT = 2 * 1024 * 1024
_MAX_PARTS = 200
_MAX_DEPTH = 8
_MAX_BLOCKS = 500
_MAX_TEXT = 200_000
_MAX_DIAGNOSTIC = 1000

_STATUS_PARTS = ("message/delivery-status", "message/global-delivery-status")
_ORIGINAL_PARTS = (
    "message/rfc822",
    "message/global",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global-headers",
)

# RFC 3463 enhanced status code; the look-arounds keep IP addresses out.
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_BASIC = re.compile(r"(?<![\d.])([45])[0-5]\d(?=[ \-]|$)", re.MULTILINE)
_DAEMON = re.compile(
    r"mailer[-_]?daemon|mail[-_]daemon|postmaster|mail delivery (?:sub)?system|mdaemon", re.I
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|not delivered|delivery status notification|returned mail|delivery fail"
    r"|failure notice|mail delivery failed|non[- ]?delivery|could not be delivered"
    r"|delivery has failed|returned to sender|delayed mail|delivery delayed|still being retried",
    re.I,
)
_ORIGINAL_MARKER = re.compile(
    r"^[\s>*=-]*(?:original message|below this line is a copy|this is a copy of the message"
    r"|unsent message follows|the header of the original message|message headers follow"
    r"|returned message|undelivered message follows)",
    re.I | re.MULTILINE,
)
_TRANSIENT = re.compile(
    r"warning only|will be retried|will retry|still trying|delayed|deferred|temporar", re.I
)
_PERMANENT = re.compile(
    r"permanent|fatal|given up|giving up|does not exist|unknown user|user unknown"
    r"|no such user|not found|fail",
    re.I,
)
_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")
_MESSAGE_ID_LINE = re.compile(r"^message-id:[ \t]*(.+)$", re.I | re.MULTILINE)
_ANGLE_ID = re.compile(r"<([^<>\s]+)>")
_BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n")


@dataclass(frozen=True, slots=True)
class Feedback:
    """What a report says about one of our messages.

    ``recipient`` is the failed (or complaining) address, domain lower-cased;
    ``recipients`` lists every failed address of a multi-recipient bounce.
    ``original_message_id`` is ``<id>`` as in a Message-ID header. ``hard`` is
    true for 5.x.x; ``action`` is the DSN's ("failed", "delayed") and tells a
    4.x.x the reporting MTA gave up on ("failed") from one it still retries.
    """

    kind: Literal["bounce", "complaint"]
    recipient: str | None
    status: str = ""
    hard: bool = False
    diagnostic: str = ""
    original_message_id: str | None = None
    feedback_type: str = ""
    action: str = ""
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Recipient:
    address: str | None
    action: str
    status: str
    diagnostic: str


def classify(raw: bytes) -> Feedback | None:
    """A bounce or complaint read from raw RFC 822 bytes; None for anything else.

    Never raises: the input is whatever arrived in the mailbox.
    """
    try:
        if not isinstance(raw, bytes | bytearray | memoryview):
            return None
        data = bytes(raw[:MAX_INPUT])
        # A UTF-8 BOM (a report saved by a Windows tool) would hide every header.
        data = data.removeprefix(b"\xef\xbb\xbf")
        message = email.message_from_bytes(data, policy=compat32)
        return _classify(message)
    except Exception:  # hostile input must not stop a mailbox poll
        return None


def _classify(message: Message) -> Feedback | None:
    parts = list(_parts(message))
    report_type = ""
    if message.get_content_type() == "multipart/report":
        report_type = str(message.get_param("report-type", "") or "").strip().lower()
    by_type: dict[str, list[Message]] = {}
    for part in parts:
        by_type.setdefault(part.get_content_type(), []).append(part)

    if "message/feedback-report" in by_type:
        return _complaint(message, parts, by_type["message/feedback-report"][0])
    if report_type == "disposition-notification" or "message/disposition-notification" in by_type:
        return None

    status_parts = [part for kind in _STATUS_PARTS for part in by_type.get(kind, [])]
    recipients = [r for part in status_parts for r in _recipients(part)]
    if recipients:
        return _dsn_bounce(message, parts, recipients)
    if status_parts or report_type == "delivery-status" or _looks_like_bounce(message):
        return _text_bounce(message, parts)
    return None


# --- structure -------------------------------------------------------------------


def _parts(message: Message) -> Iterator[Message]:
    """The message and its multipart descendants, never inside a message/* part."""
    stack = [(message, 0)]
    seen = 0
    while stack and seen < _MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        yield part
        if part.get_content_maintype() == "multipart" and depth < _MAX_DEPTH:
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend((child, depth + 1) for child in reversed(children))


def _clean(value: str) -> str:
    # compat32 keeps undecodable bytes as surrogates; folded headers keep newlines.
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def _field(block: Message, name: str) -> str:
    wanted = name.lower()
    for key, value in block.raw_items():
        if key.lower() == wanted:
            return _clean(str(value))
    return ""


def _all_fields(block: Message, name: str) -> list[str]:
    wanted = name.lower()
    return [_clean(str(value)) for key, value in block.raw_items() if key.lower() == wanted]


def _blocks_from_text(text: str) -> list[Message]:
    parser = HeaderParser(policy=compat32)
    blocks = []
    for chunk in _BLANK_LINE.split(text.strip())[:_MAX_BLOCKS]:
        block = parser.parsestr(chunk + "\n")
        if block.keys():
            blocks.append(block)
    return blocks


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a report part (per-message, then per-recipient).

    The stdlib already splits message/delivery-status into blocks. Two
    irregular forms seen in the wild are handled too: a base64 body (the part's
    own Content-Transfer-Encoding, or one announced inside the first block, as
    a rewriting gateway left it in mimekit's bounce.txt), and report types the
    stdlib parses as one message whose body holds the remaining blocks.
    """
    payload = part.get_payload()
    if isinstance(payload, str):
        return _blocks_from_text(_text(part))
    encoded = _field(part, "Content-Transfer-Encoding").lower() == "base64"
    blocks: list[Message] = []
    pending: list[bytes] = []
    for block in payload[:_MAX_BLOCKS]:
        if not isinstance(block, Message):
            continue
        if block.keys():
            blocks.append(block)
        own_base64 = _field(block, "Content-Transfer-Encoding").lower() == "base64"
        # decode=True: raw bytes (get_payload() would turn UTF-8 into U+FFFD).
        body = block.get_payload(decode=True)
        if isinstance(body, bytes) and body.strip():
            if encoded and not own_base64:
                pending.append(body)
            else:
                blocks.extend(_blocks_from_text(body.decode("utf-8", "replace")))
        encoded = encoded or own_base64
    if pending:
        try:
            decoded = base64.b64decode(b"".join(pending))
        except (binascii.Error, ValueError):
            decoded = b""
        blocks.extend(_blocks_from_text(decoded.decode("utf-8", "replace")))
    return blocks


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    payload = payload[:_MAX_TEXT]
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except (LookupError, ValueError):
        return payload.decode("latin-1")


def _first_text(parts: list[Message]) -> str:
    for part in parts:
        if part.get_content_type() == "text/plain" and not part.is_multipart():
            return _text(part)
    return ""


# --- values ----------------------------------------------------------------------


def _address(value: str) -> str | None:
    """An address from ``rfc822; <a@b>``, ``<a@b>``, ``Name <a@b>`` or ``a@b.``."""
    if ";" in value and "@" not in value.split(";", 1)[0]:
        value = value.split(";", 1)[1]
    value = value.strip()
    candidates = [addr for _, addr in getaddresses([value]) if addr] or [value]
    for candidate in candidates:
        candidate = candidate.strip().strip("<>").rstrip(".")
        if is_valid_address(candidate):
            return normalize_address(candidate)
    return None


def _message_id(value: str) -> str | None:
    match = _ANGLE_ID.search(value)
    if match is not None:
        return f"<{match.group(1)}>"
    token = value.strip()
    if token and "@" in token and not any(ch.isspace() for ch in token) and "<" not in token:
        return f"<{token}>"
    return None


def _diagnostic(value: str) -> str:
    kind, semicolon, rest = value.partition(";")
    if semicolon and kind.strip() and " " not in kind.strip():
        value = rest
    return value.strip()[:_MAX_DIAGNOSTIC]


def _status_match(text: str) -> tuple[str, re.Match[str] | None]:
    enhanced = _ENHANCED.search(text)
    if enhanced is not None:
        return ".".join(enhanced.groups()), enhanced
    basic = _BASIC.search(text)
    if basic is not None:
        return f"{basic.group(1)}.0.0", basic
    return "", None


def _status_from(text: str) -> str:
    return _status_match(text)[0]


# --- delivery status notifications ------------------------------------------------


def _recipients(part: Message) -> list[_Recipient]:
    found = []
    for block in _blocks(part):
        original = _field(block, "Original-Recipient")
        final = _field(block, "Final-Recipient")
        if not (original or final):
            continue
        diagnostic = _diagnostic(_field(block, "Diagnostic-Code"))
        status_field = _field(block, "Status")
        status = _status_from(status_field) if status_field else ""
        action = _field(block, "Action").lower().split(" ")[0]
        if not action:
            action = {"5": "failed", "4": "delayed", "2": "delivered"}.get(status[:1], "")
        if not action and diagnostic:
            action = "failed"
        if action in ("failed", "delayed") and status[:1] not in ("4", "5"):
            status = _status_from(diagnostic) or ("5.0.0" if action == "failed" else "4.0.0")
        address = _address(original) if original else None
        if address is None and final:
            address = _address(final)
        found.append(_Recipient(address, action, status, diagnostic))
    return found


def _dsn_bounce(
    message: Message, parts: list[Message], recipients: list[_Recipient]
) -> Feedback | None:
    failed = [r for r in recipients if r.action == "failed"]
    failed += [r for r in recipients if r.action == "delayed"]
    if not failed:
        if any(r.action for r in recipients):
            return None  # a success notification: delivered, relayed, expanded
        return _text_bounce(message, parts)
    chosen = failed[0]
    recipient = chosen.address or _failed_recipient(message, _notice(parts))
    addresses = tuple(dict.fromkeys(r.address for r in failed if r.address))
    return Feedback(
        kind="bounce",
        recipient=recipient,
        status=chosen.status,
        hard=chosen.status.startswith("5"),
        diagnostic=chosen.diagnostic,
        original_message_id=_original_message_id(message, parts),
        action=chosen.action,
        recipients=addresses or ((recipient,) if recipient else ()),
    )


def _original_message_id(message: Message, parts: list[Message]) -> str | None:
    for part in parts:
        kind = part.get_content_type()
        if kind not in _ORIGINAL_PARTS:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            headers = payload[0] if payload and isinstance(payload[0], Message) else None
        else:
            headers = HeaderParser(policy=compat32).parsestr(_text(part), headersonly=True)
        if headers is not None:
            found = _message_id(_field(headers, "Message-ID"))
            if found:
                return found
    # Plain-text bounces quote the returned headers in the notice itself.
    for part in parts:
        if part.get_content_maintype() == "text":
            match = _MESSAGE_ID_LINE.search(_text(part))
            if match is not None and (found := _message_id(match.group(1))):
                return found
    # Exchange threads its reports to the message they are about.
    return _message_id(_field(message, "In-Reply-To"))


# --- plain-text bounces ----------------------------------------------------------


def _looks_like_bounce(message: Message) -> bool:
    if _field(message, "X-Failed-Recipients"):
        return True
    from_daemon = _DAEMON.search(_field(message, "From")) is not None
    null_sender = _field(message, "Return-Path").replace(" ", "") == "<>"
    bounce_subject = _BOUNCE_SUBJECT.search(_field(message, "Subject")) is not None
    return (from_daemon or null_sender) and bounce_subject


def _notice(parts: list[Message]) -> str:
    """The bounce notice, cut before any copy of the returned message."""
    text = _first_text(parts)
    marker = _ORIGINAL_MARKER.search(text)
    return text[: marker.start()] if marker is not None else text


def _failed_recipient(message: Message, notice: str) -> str | None:
    for value in _all_fields(message, "X-Failed-Recipients"):
        for item in value.split(","):
            if address := _address(item):
                return address
    ours = {_address(_field(message, name)) for name in ("From", "To", "Sender", "Reply-To")}
    for match in _ADDRESS.finditer(notice):
        address = _address(match.group())
        if address is None or address in ours:
            continue
        if _DAEMON.search(address.split("@", 1)[0]):
            continue
        return address
    return None


def _text_bounce(message: Message, parts: list[Message]) -> Feedback | None:
    notice = _notice(parts)
    recipient = _failed_recipient(message, notice)
    if recipient is None:
        return None
    status, match = _status_match(notice)
    if match is None:
        # No code in the notice: its wording is all there is.
        if _TRANSIENT.search(notice) or _TRANSIENT.search(_field(message, "Subject")):
            status = "4.0.0"
        elif _PERMANENT.search(notice):
            status = "5.0.0"
        else:
            return None
        diagnostic = next((line for line in notice.splitlines() if line.strip()), "")
    else:
        start = notice.rfind("\n", 0, match.start()) + 1
        end = notice.find("\n", match.end())
        diagnostic = notice[start : end if end >= 0 else len(notice)]
    return Feedback(
        kind="bounce",
        recipient=recipient,
        status=status,
        hard=status.startswith("5"),
        diagnostic=" ".join(diagnostic.split())[:_MAX_DIAGNOSTIC],
        original_message_id=_original_message_id(message, parts),
        action="failed" if status.startswith("5") else "delayed",
        recipients=(recipient,),
    )


# --- feedback reports (ARF) ------------------------------------------------------


def _complaint(message: Message, parts: list[Message], report: Message) -> Feedback:
    blocks = _blocks(report)
    fields = blocks[0] if blocks else Message()
    feedback_type = _field(fields, "Feedback-Type").lower().split(" ")[0]
    recipient = None
    for name in ("Original-Rcpt-To", "Removal-Recipient"):
        for value in _all_fields(fields, name):
            if recipient is None:
                recipient = _address(value)
    if recipient is None:
        recipient = _original_to(parts)
    return Feedback(
        kind="complaint",
        recipient=recipient,
        feedback_type=feedback_type,
        original_message_id=_original_message_id(message, parts),
        recipients=(recipient,) if recipient else (),
    )


def _original_to(parts: list[Message]) -> str | None:
    for part in parts:
        if part.get_content_type() not in _ORIGINAL_PARTS:
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            headers = payload[0]
        else:
            headers = HeaderParser(policy=compat32).parsestr(_text(part), headersonly=True)
        for _, addr in getaddresses(_all_fields(headers, "To")):
            if addr and (address := _address(addr)):
                return address
    return None
