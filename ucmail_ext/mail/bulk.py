"""Bulk mail from a skeleton built once per list: per recipient, only joins.

Building an ``EmailMessage`` per recipient costs more than sending it over a
local connection (the dialer's benchmark goal is 80 % of raw ``smtplib``), so
everything that is the same for every recipient of a list is encoded once by the
stdlib here: the From header (RFC 2047 for a non-ASCII name), the fixed headers,
the boundaries, and each attachment's base64 part. A recipient's message is then
the join of its own few headers, its quoted-printable bodies and those
pre-encoded pieces.

The boundaries are fixed per skeleton. That is safe because every body part is
quoted-printable or base64: neither encoding can produce ``=_`` (quoted-printable
writes ``=`` as ``=3D``; base64 has no ``_``), and every boundary contains it.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from .headers import check_header_value

__all__ = ["BulkSkeleton", "EncodedPart", "encode_attachment", "encode_calendar"]

CRLF = b"\r\n"
_SUBJECT_RAW_MAX = 66  # "Subject: " + 66 stays inside RFC 5322's 78-character line


@dataclass(frozen=True, slots=True)
class EncodedPart:
    """A MIME part (headers, blank line, base64 body), ready to place after a boundary."""

    data: bytes


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", CRLF)


def _base64_lines(data: bytes) -> bytes:
    return _crlf(base64.encodebytes(data))


def _quoted_printable(text: str) -> bytes:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Only LF line ends go in, so only LF come out: one replace makes them CRLF.
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", CRLF)


def _filename_param(filename: str) -> str:
    """A Content-Disposition line with the name encoded by the stdlib (RFC 2231)."""
    part = EmailMessage(policy=SMTP)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part.as_string().split("\r\n\r\n", 1)[0] + "\r\n"


def encode_attachment(filename: str, content_type: str, data: bytes) -> EncodedPart:
    """Encode a file once; the part is reused for every recipient who gets it."""
    check_header_value(filename, "attachment file name")
    check_header_value(content_type, "attachment content type")
    maintype, _, subtype = content_type.partition("/")
    if not maintype or not subtype or any(c in content_type for c in ' ;"'):
        content_type = "application/octet-stream"
    head = (
        f"Content-Type: {content_type}\r\n"
        f"{_filename_param(filename)}"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return EncodedPart(head.encode("ascii") + _base64_lines(data))


def encode_calendar(ics: bytes) -> tuple[EncodedPart, EncodedPart]:
    """The invite twice, as Google Calendar sends it: an alternative and a file.

    The ``text/calendar; method=REQUEST`` alternative is what makes Outlook and
    Gmail offer "add to calendar"; the ``invite.ics`` attachment is for clients
    that only look at attachments.
    """
    body = _base64_lines(ics)
    inline = (
        b'Content-Type: text/calendar; method=REQUEST; charset="UTF-8"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body
    )
    attached = (
        b'Content-Type: application/ics; name="invite.ics"\r\n'
        b'Content-Disposition: attachment; filename="invite.ics"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body
    )
    return EncodedPart(inline), EncodedPart(attached)


class _DateCache:
    """``Date:`` has one-second resolution: format it once per second, not per message."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._value = formatdate(second, usegmt=True).encode("ascii")
        return self._value


def _subject_line(subject: str) -> bytes:
    check_header_value(subject, "subject")
    if subject.isascii() and len(subject) <= _SUBJECT_RAW_MAX and subject == subject.strip():
        return b"Subject: " + subject.encode("ascii") + CRLF
    encoded = Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")
    return b"Subject: " + encoded.encode("ascii") + CRLF


def _ascii_header(name: str, value: str) -> bytes:
    check_header_value(value, name)
    return f"{name}: {value}\r\n".encode()


class BulkSkeleton:
    """The constant part of one list's messages, encoded once.

    ``from_name``/``from_address`` become the From header through the stdlib;
    ``fixed_headers`` (name, value) pairs go on every message (List-Id,
    List-Unsubscribe-Post, ...).
    """

    def __init__(
        self,
        *,
        from_name: str,
        from_address: str,
        fixed_headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        head = EmailMessage(policy=SMTP)
        local, _, domain = from_address.rpartition("@")
        head["From"] = Address(display_name=from_name, username=local, domain=domain)
        for name, value in fixed_headers:
            check_header_value(value, name)
            head[name] = value
        head["MIME-Version"] = "1.0"
        self._fixed = head.as_bytes().split(b"\r\n\r\n", 1)[0] + CRLF
        token = secrets.token_hex(12)
        self._mixed = f"=_ucm_{token}_m".encode("ascii")
        self._alt = f"=_ucm_{token}_a".encode("ascii")
        self._date = _DateCache()

    def build(
        self,
        *,
        to: str,
        subject: str,
        message_id: str,
        text: str,
        html: str,
        per_recipient_headers: Sequence[tuple[str, str]] = (),
        calendar: tuple[EncodedPart, EncodedPart] | None = None,
        attachments: Sequence[EncodedPart] = (),
    ) -> bytes:
        """One recipient's message, CRLF line endings, ready for ``send_raw``.

        Raises ``HeaderInjectionError`` (a ValueError) for a control character
        in a header value.
        """
        out = [
            self._fixed,
            _ascii_header("To", to),
            _subject_line(subject),
            b"Date: ",
            self._date.now(),
            CRLF,
            _ascii_header("Message-ID", message_id),
        ]
        for name, value in per_recipient_headers:
            out.append(_ascii_header(name, value))
        alt = self._alt
        alternative = [
            b'Content-Type: multipart/alternative; boundary="',
            alt,
            b'"\r\n\r\n--',
            alt,
            b'\r\nContent-Type: text/plain; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
            _quoted_printable(text),
            b"\r\n--",
            alt,
            b'\r\nContent-Type: text/html; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
            _quoted_printable(html),
        ]
        if calendar is not None:
            alternative += [b"\r\n--", alt, CRLF, calendar[0].data]
        alternative += [b"\r\n--", alt, b"--\r\n"]
        files = list(attachments)
        if calendar is not None:
            files.append(calendar[1])
        if not files:
            out += alternative
            return b"".join(out)
        mixed = self._mixed
        out += [b'Content-Type: multipart/mixed; boundary="', mixed, b'"\r\n\r\n--', mixed, CRLF]
        out += alternative
        for part in files:
            out += [b"\r\n--", mixed, CRLF, part.data]
        out += [b"\r\n--", mixed, b"--\r\n"]
        return b"".join(out)
