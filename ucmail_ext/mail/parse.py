"""Inbound mail parsing: raw RFC 822 bytes in, a :class:`ParsedMessage` out.

Every byte here comes from a stranger, so :func:`parse_message` never raises: a
broken part becomes a defect string, a cap that is hit stops the parser where it
is and says so, and a message that cannot be read at all still comes back
(``unparseable=True``) so it reaches an agent instead of blocking the mailbox.

Message-IDs are kept WITHOUT angle brackets (``abc@example.com``) in
``message_id``, ``in_reply_to`` and ``references``; :func:`normalize_message_id`
turns any header form into that one, so stored ids compare with plain equality.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import mimetypes
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.errors import MessageDefect
from email.feedparser import BytesFeedParser
from email.generator import BytesGenerator
from email.header import Header, decode_header
from email.header import ecre as ENCODED_WORD
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from html import escape
from html.parser import HTMLParser
from typing import TypeVar

__all__ = [
    "UNREADABLE_SUBJECT",
    "ParseLimits",
    "ParsedAttachment",
    "ParsedMessage",
    "html_to_text",
    "normalize_message_id",
    "parse_message",
    "safe_filename",
]

KiB = 1024
MiB = 1024 * KiB

UNREADABLE_SUBJECT = "(unreadable message)"

_POLICY = email_policy.default
# Serialising an enclosed message: compat32 writes the headers as received
# (policy.default re-parses and refolds them, which can fail on broken input).
_EML_POLICY = email_policy.compat32.clone(linesep="\r\n", max_line_length=0)
_EML_FALLBACK_POLICY = email_policy.default.clone(linesep="\r\n")

_T = TypeVar("_T")


@dataclass(frozen=True)
class ParseLimits:
    """How much hostile input the parser accepts: the "policy object" of this module.

    A cap that is hit never raises; what lies within it is parsed and a defect
    records what was cut.
    """

    max_bytes: int = 50 * MiB
    max_parts: int = 500
    max_depth: int = 20
    max_header_bytes: int = 256 * KiB
    # policy.default parses a header value in more than linear time (a 135 KB
    # address list takes 0.3 s), so one field is capped well below the block.
    max_header_value_bytes: int = 64 * KiB


@dataclass(frozen=True)
class ParsedAttachment:
    """One attachment or inline resource; ``filename`` is safe to show and download."""

    filename: str
    original_filename: str
    content_type: str
    size: int
    content_id: str
    inline: bool
    payload: bytes = field(repr=False)


@dataclass(frozen=True)
class ParsedMessage:
    """Everything ucmail reads from one inbound message; strings are free of CR, LF and NUL
    wherever they came from a header."""

    subject: str
    from_addr: str
    from_name: str
    to: list[str]
    cc: list[str]
    reply_to: list[str]
    date: datetime | None
    message_id: str
    in_reply_to: str
    references: list[str]
    text: str
    html: str
    attachments: list[ParsedAttachment]
    is_auto_submitted: bool
    auto_submitted_reason: str
    defects: list[str]
    sha256: str
    size: int
    unparseable: bool = False


def parse_message(raw: bytes, limits: ParseLimits | None = None) -> ParsedMessage:
    """Parse one message; never raises, whatever ``raw`` holds."""
    limits = limits or ParseLimits()
    data = _as_bytes(raw)
    digest = hashlib.sha256(data).hexdigest()
    try:
        return _parse(data, limits, digest)
    except Exception as exc:  # the last line of defence: unforeseen input must not block a mailbox
        return _unparseable(
            data, digest, [f"the message could not be parsed ({type(exc).__name__})"]
        )


def normalize_message_id(value: str | None) -> str:
    """The stored form of a Message-ID: no angle brackets, no whitespace, no control chars."""
    if not value:
        return ""
    ids = _message_ids(_clean_header(value))
    return ids[0] if ids else ""


def safe_filename(name: str, index: int, content_type: str) -> str:
    """A file name that is safe to show and offer for download.

    The sender's name is reduced to its last path component, stripped of control
    and bidi-format characters and of leading dots (``.htaccess``), and capped in
    length; when nothing is left, ``attachment-<index><ext>`` is generated.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    # Category C: control, format (U+202E reverses "gpj.exe"), surrogate, private, unassigned.
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = "".join("_" if ch in _WINDOWS_FORBIDDEN else ch for ch in name)
    name = " ".join(name.split()).strip(" .")
    if name.split(".", 1)[0].upper() in _WINDOWS_RESERVED:
        name = "_" + name
    name = _cap_filename(name)
    return name or f"attachment-{index}{_extension(content_type)}"


def html_to_text(html: str) -> str:
    """A plain-text rendering of HTML for a message that has no text part."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # html.parser is lenient, but this input is hostile
        pass
    return extractor.text()


# --------------------------------------------------------------------------- parsing


def _parse(data: bytes, limits: ParseLimits, digest: str) -> ParsedMessage:
    defects = _Defects()
    if len(data) > limits.max_bytes:
        defects.add(f"message larger than {limits.max_bytes} bytes: only the start was parsed")
        body = data[: limits.max_bytes]
    else:
        body = data
    # A UTF-8 byte order mark or a blank first line would end the header block at once.
    body = body.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    root = _feed(body, limits, defects)
    if root is None or not root.keys():
        return _unparseable(data, digest, [*defects, "no header found: not an e-mail message"])

    headers = _Headers(root, defects)
    walker = _BodyWalker(defects)
    walker.walk(root)
    segments = walker.segments
    for part in _iter_parts(root):
        for defect in part.defects:
            defects.add(_describe(defect))

    from_name, from_addr = headers.sender()
    root_type = _content_type(root)
    auto_reason = _auto_submitted_reason(headers, from_addr, root_type)
    return ParsedMessage(
        subject=headers.text("Subject"),
        from_addr=from_addr,
        from_name=from_name,
        to=headers.address_list("To"),
        cc=headers.address_list("Cc"),
        reply_to=headers.address_list("Reply-To"),
        date=headers.date(),
        message_id=headers.message_id(),
        in_reply_to=headers.first_id("In-Reply-To"),
        references=headers.id_list("References"),
        text=_join_text(segments),
        html=_join_html(segments),
        attachments=walker.attachments,
        is_auto_submitted=bool(auto_reason),
        auto_submitted_reason=auto_reason,
        defects=defects.items(),
        sha256=digest,
        size=len(data),
    )


def _unparseable(data: bytes, digest: str, defects: list[str]) -> ParsedMessage:
    text = data[: 1 * MiB].decode("utf-8", errors="replace")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    return ParsedMessage(
        subject=UNREADABLE_SUBJECT,
        from_addr="",
        from_name="",
        to=[],
        cc=[],
        reply_to=[],
        date=None,
        message_id="",
        in_reply_to="",
        references=[],
        text=text,
        html="",
        attachments=[],
        is_auto_submitted=False,
        auto_submitted_reason="",
        defects=defects,
        sha256=digest,
        size=len(data),
        unparseable=True,
    )


def _as_bytes(raw: object) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    if isinstance(raw, str):
        return raw.encode("utf-8", errors="surrogateescape")
    return b""


class _CapReached(Exception):
    """Stops the feed parser: what was parsed before stays in the tree."""


class _Budget:
    """Per-parse counters that the message factory consults while the parser runs.

    The stdlib feed parser has no part, depth or header limits and recurses once
    per nesting level (about 1,000 levels raise RecursionError), so the limits are
    enforced from inside the tree it builds.
    """

    def __init__(self, limits: ParseLimits, defects: _Defects) -> None:
        self.limits = limits
        self.defects = defects
        self.parts = 0
        self.root: _CappedMessage | None = None
        self.armed = False

    def new_message(self, policy: email_policy.Policy) -> _CappedMessage:
        msg = _CappedMessage(self, policy=policy)
        if self.armed and self.root is None:
            self.root = msg
            self.parts = 1
        return msg

    def admit_part(self, depth: int) -> None:
        if depth > self.limits.max_depth:
            self.defects.add(
                f"MIME nesting deeper than {self.limits.max_depth} levels: the rest was not parsed"
            )
            raise _CapReached
        self.parts += 1
        if self.parts > self.limits.max_parts:
            self.defects.add(
                f"more than {self.limits.max_parts} MIME parts: the rest was not parsed"
            )
            raise _CapReached

    def admit_header(self, msg: _CappedMessage, name: str, value: str) -> str | None:
        cap = self.limits.max_header_value_bytes
        if name.lower().startswith("content-"):
            # The feed parser re-reads these on every part; a long one costs per read.
            cap = min(cap, _MIME_HEADER_CAP)
        if len(value) > cap:
            self.defects.add(
                f"{_clean_header(name)[:60]} header longer than {cap} bytes: truncated"
            )
            cut = value.rfind("\n", 0, cap)
            value = value[: cut if cut > 0 else cap].rstrip("\r\n")
        msg.header_bytes += len(name) + len(value)
        if msg.header_bytes > self.limits.max_header_bytes:
            self.defects.add(
                f"header block larger than {self.limits.max_header_bytes} bytes: "
                "later header fields were dropped"
            )
            return None
        return value


_MIME_HEADER_CAP = 8 * KiB
_MISSING = object()


class _CappedMessage(EmailMessage):
    """An EmailMessage that reports each attached part and header to the budget.

    It also remembers its parsed MIME headers: the feed parser and the accessors ask
    for Content-Type about ten times per part, and policy.default parses it anew
    each time (a 3,000-part message spent 1.5 s doing only that).
    """

    def __init__(self, budget: _Budget | None = None, policy: email_policy.Policy = _POLICY):
        super().__init__(policy=policy)
        self.budget = budget
        self.depth = 0
        self.header_bytes = 0
        self.parsed_headers: dict[str, object] = {}

    def get(self, name: str, failobj: object = None) -> object:
        key = name.lower()
        if not key.startswith("content-"):
            return super().get(name, failobj)
        if key not in self.parsed_headers:
            self.parsed_headers[key] = super().get(name, _MISSING)
        value = self.parsed_headers[key]
        return failobj if value is _MISSING else value

    def __setitem__(self, name: str, value: object) -> None:
        self.parsed_headers.clear()
        super().__setitem__(name, value)

    def __delitem__(self, name: str) -> None:
        self.parsed_headers.clear()
        super().__delitem__(name)

    def attach(self, payload: Message) -> None:
        if self.budget is not None and isinstance(payload, _CappedMessage):
            self.budget.admit_part(self.depth + 1)
            payload.depth = self.depth + 1
        super().attach(payload)

    def set_raw(self, name: str, value: str) -> None:
        if self.budget is not None:
            capped = self.budget.admit_header(self, name, value)
            if capped is None:
                return
            # Raw 8-bit bytes arrive as surrogate escapes, which policy.default turns
            # into U+FFFD; decoding them here keeps RFC 6532 and legacy names readable.
            value = _unescape_surrogates(capped)
        self.parsed_headers.clear()
        super().set_raw(name, value)


def _feed(data: bytes, limits: ParseLimits, defects: _Defects) -> Message | None:
    budget = _Budget(limits, defects)
    parser = BytesFeedParser(_factory=budget.new_message, policy=_POLICY)
    budget.armed = True
    try:
        parser.feed(data)
        return parser.close()
    except _CapReached:
        return budget.root


def _iter_parts(root: Message) -> list[Message]:
    """All parts, iteratively: the tree is bounded by the caps, but stay off the C stack."""
    parts: list[Message] = []
    stack = [root]
    while stack:
        part = stack.pop()
        parts.append(part)
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
    return parts


# --------------------------------------------------------------------------- headers


class _Headers:
    """Header access that survives any value: policy.default first, plain decoding second."""

    def __init__(self, msg: Message, defects: _Defects) -> None:
        self.defects = defects
        self.raw: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            self.raw.setdefault(name.lower(), []).append(str(value))

    def all(self, name: str) -> list[str]:
        return self.raw.get(name.lower(), [])

    def first(self, name: str) -> str | None:
        values = self.all(name)
        if len(values) > 1 and name.lower() in _SINGLE_HEADERS:
            self.defects.add(f"several {name} headers: the first one is used")
        return values[0] if values else None

    def present(self, name: str) -> bool:
        return name.lower() in self.raw

    def plain(self, name: str) -> str:
        """An ASCII-ish header (Date, Precedence): no decoding, just cleaning."""
        value = self.first(name)
        return _clean_header(_unescape_surrogates(value)) if value is not None else ""

    def text(self, name: str) -> str:
        value = self.first(name)
        return "" if value is None else self._decode_unstructured(name, value)

    def _decode_unstructured(self, name: str, value: str) -> str:
        try:
            header = _POLICY.header_fetch_parse(name, value)
            decoded = str(header)
            for defect in getattr(header, "defects", ()):
                self.defects.add(f"{name}: {_describe(defect)}")
        except Exception:
            self.defects.add(f"{name} header could not be decoded strictly")
            decoded = _decode_words(value)
        return _clean_header(_unescape_surrogates(decoded))

    def addresses(self, name: str) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for value in self.all(name):
            try:
                header = _POLICY.header_fetch_parse(name, _neutralize_encoded_words(value))
                found = [(a.display_name, a.addr_spec) for a in header.addresses]
                for defect in header.defects:
                    self.defects.add(f"{name}: {_describe(defect)}")
            except Exception:
                # policy.default still refuses some hostile values. Split the raw value
                # before decoding names, so a decoded name cannot add addresses.
                self.defects.add(f"{name} header could not be parsed strictly")
                found = [(_decode_words(n), a) for n, a in getaddresses([value]) if "=?" not in a]
            for display, addr in found:
                clean_addr = _clean_header(_unescape_surrogates(addr)).replace(" ", "").lower()
                if clean_addr and clean_addr != "<>":
                    pairs.append((_clean_header(_unescape_surrogates(display)), clean_addr))
        return pairs

    def address_list(self, name: str) -> list[str]:
        return list(dict.fromkeys(addr for _, addr in self.addresses(name)))

    def sender(self) -> tuple[str, str]:
        pairs = self.addresses("From") or self.addresses("Sender")
        if not pairs:
            self.defects.add("no From address")
            return "", ""
        if len(pairs) > 1:
            self.defects.add("several From addresses: the first one is used")
        return pairs[0]

    def date(self) -> datetime | None:
        value = self.plain("Date")
        if not value:
            self.defects.add("missing Date header")
            return None
        try:
            when = parsedate_to_datetime(value)
            if when.tzinfo is None:  # RFC 5322 §3.3: -0000 means "zone unknown"; read it as UTC
                when = when.replace(tzinfo=UTC)
            return when.astimezone(UTC)
        except Exception:
            self.defects.add(f"unreadable Date header: {value[:80]}")
            return None

    def message_id(self) -> str:
        value = self.first("Message-ID")
        if value is None:
            self.defects.add("missing Message-ID header")
            return ""
        ids = _message_ids(_clean_header(_unescape_surrogates(value)))
        if not ids:
            self.defects.add("empty Message-ID header")
        return ids[0] if ids else ""

    def first_id(self, name: str) -> str:
        ids = self.id_list(name)
        return ids[0] if ids else ""

    def id_list(self, name: str) -> list[str]:
        value = self.first(name)
        if value is None:
            return []
        return list(dict.fromkeys(_message_ids(_clean_header(_unescape_surrogates(value)))))


_SINGLE_HEADERS = {
    "subject",
    "from",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "sender",
}

_MAX_ID_LENGTH = 998  # RFC 5322 §2.1.1 line length


def _message_ids(value: str) -> list[str]:
    bracketed = re.findall(r"<([^<>]*)>", value)
    candidates = bracketed if bracketed else re.split(r"[\s,]+", value)
    ids = []
    for candidate in candidates:
        ident = "".join(candidate.split()).strip("<>")
        if ident and len(ident) <= _MAX_ID_LENGTH:
            ids.append(ident)
    return ids


def _decode_words(value: str) -> str:
    """RFC 2047 decoding that tolerates unknown charsets and broken words."""
    try:
        chunks = decode_header(value)
    except Exception:
        return value
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(_decode_bytes(chunk, charset))
        else:
            out.append(chunk)
    return "".join(out)


def _neutralize_encoded_words(value: str) -> str:
    """Re-encode each RFC 2047 word without its control characters.

    policy.default rightly refuses an address whose decoded display name holds
    CR or LF; cleaning inside each word keeps the address readable and the
    header's structure (quoting, commas, angle brackets) exactly as sent.
    """

    def reencode(match: re.Match[str]) -> str:
        text = _clean_header(_decode_words(match.group(0)))
        return Header(text, "utf-8").encode(maxlinelen=0, linesep=" ") if text else ""

    try:
        return ENCODED_WORD.sub(reencode, value)
    except Exception:
        return value


_SURROGATE = re.compile(r"[\udc80-\udcff]")


def _unescape_surrogates(value: str) -> str:
    """Raw 8-bit header bytes arrive as surrogate escapes; read them as UTF-8 (RFC 6532)."""
    if value.isascii() or not _SURROGATE.search(value):
        return value
    return _decode_guess(value.encode("utf-8", errors="surrogateescape"))


def _decode_guess(data: bytes) -> str:
    """Bytes of unknown charset: UTF-8, even with a stray bad byte, else Windows-1252."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    non_ascii = sum(1 for byte in data if byte > 0x7F)
    if text.count("\ufffd") * 4 <= non_ascii:
        return text
    # cp1252 rather than latin-1: it is what "8-bit, no charset" mail really is.
    return data.decode("cp1252", errors="replace")


_CONTROL = dict.fromkeys([*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029], " ")


def _clean_header(value: str) -> str:
    """One line of text: control characters (even decoded from an encoded-word) become spaces."""
    value = value.translate(_CONTROL)
    value = value.encode("utf-8", errors="replace").decode("utf-8")
    return " ".join(value.split())


# --------------------------------------------------------------------------- auto-submitted

_BULK_PRECEDENCE = {"bulk", "list", "junk"}
_ROBOT_LOCAL_PARTS = {
    "mailer-daemon",
    "postmaster",
    "no-reply",
    "noreply",
    "do-not-reply",
    "donotreply",
    "do_not_reply",
}


def _auto_submitted_reason(headers: _Headers, from_addr: str, root_type: str) -> str:
    """Why no auto-reply may be sent to this message ('' when one may).

    RFC 3834 §2 and §5: never answer automatic mail, lists, bulk mail or bounces.
    """
    auto = headers.plain("Auto-Submitted").lower().split(";", 1)[0].strip()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = headers.plain("Precedence").lower()
    if precedence in _BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    for name in ("List-Id", "List-Unsubscribe", "X-Autoreply", "X-Autorespond"):
        if headers.present(name):
            return f"{name} present"
    suppress = headers.plain("X-Auto-Response-Suppress").lower()
    if any(word in suppress for word in ("all", "oof", "autoreply")):
        return f"X-Auto-Response-Suppress: {suppress}"
    local_part = from_addr.rsplit("@", 1)[0]
    if local_part in _ROBOT_LOCAL_PARTS:
        return f"sender {from_addr}"
    if headers.present("Return-Path") and "".join(headers.plain("Return-Path").split()) == "<>":
        return "empty Return-Path"
    if root_type == "multipart/report":
        return "multipart/report"
    return ""


# --------------------------------------------------------------------------- bodies


@dataclass
class _Segment:
    """One readable piece of the message: a text, an HTML, or both alternatives of it."""

    text: str = ""
    html: str = ""


_RFC822_TYPES = {"message/rfc822", "message/global"}
_BODY_TYPES = {"text/plain", "text/html"}


class _BodyWalker:
    """Sorts the parts of a message into readable segments and attachments."""

    def __init__(self, defects: _Defects, attachments: list[ParsedAttachment] | None = None):
        self.defects = defects
        self.segments: list[_Segment] = []
        self.attachments = attachments if attachments is not None else []

    def walk(self, part: Message, is_root: bool = True) -> None:
        ctype = _content_type(part)
        try:
            self._walk(part, ctype, is_root)
        except Exception as exc:  # one unreadable part must not cost the others
            self.defects.add(f"a {ctype} part could not be read ({type(exc).__name__})")

    def _walk(self, part: Message, ctype: str, is_root: bool) -> None:
        maintype = ctype.split("/", 1)[0]
        # get_payload() on a leaf decodes with the declared charset and can raise.
        payload = part.get_payload() if part.is_multipart() else None
        if ctype in _RFC822_TYPES:
            self._enclosed(part, payload)
        elif maintype == "multipart" and isinstance(payload, list):
            children = [p for p in payload if isinstance(p, Message)]
            if ctype == "multipart/alternative":
                self._alternative(children)
            elif ctype == "multipart/related":
                self._related(part, children)
            else:
                for child in children:
                    self.walk(child, is_root=False)
        elif maintype == "multipart":
            # A multipart without a usable boundary: its body is all we have.
            self.segments.append(_Segment(text=_decode_text(part)))
        elif ctype in _BODY_TYPES and _is_body(part, is_root):
            decoded = _decode_text(part)
            if ctype == "text/html":
                self.segments.append(_Segment(html=decoded))
            else:
                self.segments.append(_Segment(text=decoded))
        else:
            self._attach(part, ctype)

    def _alternative(self, children: list[Message]) -> None:
        text = html = ""
        for child in children:  # RFC 2046 §5.1.4: the last alternative is the preferred one
            sub = _BodyWalker(self.defects, self.attachments)
            sub.walk(child, is_root=False)
            if any(s.text for s in sub.segments):
                text = _join_text(sub.segments)
            if any(s.html for s in sub.segments):
                html = _join_html(sub.segments)
        if text or html:
            self.segments.append(_Segment(text=text, html=html))

    def _related(self, part: Message, children: list[Message]) -> None:
        if not children:
            return
        # RFC 2387 §3.2: the root is named by "start", else it is the first part; some
        # writers only give its "type", so that is the next best guess.
        start = normalize_message_id(_safe(lambda: str(part.get_param("start") or ""), ""))
        root_type = _safe(lambda: str(part.get_param("type") or "").lower(), "")
        root = next((c for c in children if start and _content_id(c) == start), None)
        if root is None and root_type and _content_type(children[0]) != root_type:
            root = next((c for c in children if _content_type(c) == root_type), None)
        root = root or children[0]
        self.walk(root, is_root=False)
        for child in children:
            if child is root:
                continue
            if child.is_multipart():
                self.walk(child, is_root=False)
            else:
                self._attach(child, _content_type(child))

    def _enclosed(self, part: Message, payload: object) -> None:
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, Message):
            self._attach(part, "message/rfc822")
            return
        headers = _Headers(inner, _Defects())
        subject = headers.text("Subject")
        name = _safe(part.get_filename, None) or (f"{subject}.eml" if subject else "")
        if name and not name.lower().endswith(".eml"):
            name += ".eml"
        self._add_attachment(
            original=name,
            content_type="message/rfc822",
            payload=_serialize(inner),
            content_id=_content_id(part),
            inline=False,
        )
        sub = _BodyWalker(self.defects, self.attachments)
        sub.walk(inner, is_root=True)
        self.segments.append(_forwarded_segment(headers, sub.segments))

    def _attach(self, part: Message, ctype: str) -> None:
        payload = _leaf_bytes(part)
        disposition = _safe(part.get_content_disposition, None)
        content_id = _content_id(part)
        original = _safe(part.get_filename, None) or ""
        if not original and ctype == "text/calendar":
            original = "invite.ics"
        self._add_attachment(
            original=original,
            content_type=ctype,
            payload=payload,
            content_id=content_id,
            inline=disposition == "inline" or (disposition is None and bool(content_id)),
        )

    def _add_attachment(
        self, original: str, content_type: str, payload: bytes, content_id: str, inline: bool
    ) -> None:
        original = _clean_header(_unescape_surrogates(str(original)))
        index = len(self.attachments) + 1
        self.attachments.append(
            ParsedAttachment(
                filename=safe_filename(original, index, content_type),
                original_filename=original,
                content_type=content_type,
                size=len(payload),
                content_id=content_id,
                inline=inline,
                payload=payload,
            )
        )


def _forwarded_segment(headers: _Headers, segments: list[_Segment]) -> _Segment:
    """An enclosed message stays readable in the body, below a header summary."""
    lines = ["---------- Forwarded message ----------"]
    for name in ("From", "Date", "Subject", "To"):
        value = headers.text(name)
        if value:
            lines.append(f"{name}: {value}")
    summary = "\n".join(lines)
    text = _join_text(segments)
    segment = _Segment(text=f"{summary}\n\n{text}".strip())
    if any(s.html for s in segments):
        summary_html = "<br>".join(escape(line) for line in lines)
        segment.html = f"<div><hr><p>{summary_html}</p>{_join_html(segments)}</div>"
    return segment


def _join_text(segments: list[_Segment]) -> str:
    pieces = [s.text or html_to_text(s.html) for s in segments]
    return "\n\n".join(p.strip("\n") for p in pieces if p.strip())


def _join_html(segments: list[_Segment]) -> str:
    if not any(s.html for s in segments):
        return ""
    pieces = [s.html or _text_to_html(s.text) for s in segments if s.html or s.text.strip()]
    return "\n".join(pieces)


def _text_to_html(text: str) -> str:
    return f'<pre style="white-space: pre-wrap">{escape(text)}</pre>'


def _is_body(part: Message, is_root: bool) -> bool:
    if _safe(part.get_content_disposition, None) == "attachment":
        return False
    return is_root or not _safe(part.get_filename, None)


def _content_type(part: Message) -> str:
    ctype = _safe(part.get_content_type, "application/octet-stream")
    ctype = _clean_header(str(ctype)).lower()
    if re.fullmatch(r"[a-z0-9!#$%&'*+.^_`{|}~-]+/[a-z0-9!#$%&'*+.^_`{|}~-]+", ctype):
        return ctype
    return "application/octet-stream"


def _content_id(part: Message) -> str:
    for name, value in part.raw_items():
        if name.lower() == "content-id":
            return normalize_message_id(_unescape_surrogates(str(value)))
    return ""


def _leaf_bytes(part: Message) -> bytes:
    if part.is_multipart():
        return _serialize_body(part)
    data = _safe(lambda: part.get_payload(decode=True), None)
    return data if isinstance(data, bytes) else b""


def _decode_text(part: Message) -> str:
    charset = _safe(part.get_content_charset, None)
    text = _decode_bytes(_leaf_bytes(part), charset)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Declared charset, then UTF-8, then the declared one lossily, or a guess.

    A wrong or unknown charset never raises: mail declared "us-ascii" often holds
    UTF-8 or Latin-1, and one bad byte in UTF-8 text must not turn it all to mojibake.
    """
    codec = _codec_name(charset)
    if codec:
        try:
            return data.decode(codec)
        except Exception:  # UnicodeError, and codecs such as idna raise their own way
            pass
    if codec and codec not in ("ascii", "utf-8"):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        try:
            return data.decode(codec, errors="replace")
        except Exception:
            pass
    return _decode_guess(data)


def _codec_name(charset: str | None) -> str | None:
    """The Python text codec for a declared charset, or None for unknown or non-text ones."""
    if not charset:
        return None
    try:
        info = codecs.lookup(charset.strip().strip('"'))
    except Exception:  # LookupError, or ValueError/TypeError for names with odd characters
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def _serialize(msg: Message) -> bytes:
    """The enclosed message as an .eml file; an unwritable one still yields its text."""
    for policy in (_EML_POLICY, _EML_FALLBACK_POLICY):
        try:
            buffer = io.BytesIO()
            BytesGenerator(buffer, mangle_from_=False, policy=policy).flatten(msg)
            return buffer.getvalue()
        except Exception:
            continue
    return b""


def _serialize_body(part: Message) -> bytes:
    """The body of a parsed message/* part (delivery-status, feedback-report...)."""
    data = _serialize(part)
    _, separator, body = data.partition(b"\r\n\r\n")
    return body if separator else data


def _safe(call: Callable[[], _T], default: _T) -> _T:
    """Call an accessor of the email package, which can raise on hostile parameters."""
    try:
        return call()
    except Exception:
        return default


# --------------------------------------------------------------------------- html to text


class _TextExtractor(HTMLParser):
    _SKIP = {"script", "style", "title", "template"}
    _BLOCK = {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol",
        "p", "pre", "section", "table", "tr", "ul",
    }  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self._chunks.append("\n")
            if tag == "li":
                self._chunks.append("- ")
        elif tag in ("td", "th"):
            self._chunks.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self._chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            # Source line breaks are not text line breaks; tags decide those.
            self._chunks.append(" ".join(data.splitlines()))

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self._chunks).splitlines())
        out: list[str] = []
        for line in lines:
            if line or (out and out[-1]):
                out.append(line)
        return "\n".join(out).strip().replace("\x00", "")


# --------------------------------------------------------------------------- helpers


class _Defects:
    """An ordered, de-duplicated, capped list of readable defect strings."""

    _MAX = 50

    def __init__(self) -> None:
        self._items: dict[str, None] = {}
        self._dropped = 0

    def add(self, text: str) -> None:
        text = _clean_header(text)[:300]
        if text in self._items:
            return
        if len(self._items) >= self._MAX:
            self._dropped += 1
            return
        self._items[text] = None

    def __iter__(self) -> Iterator[str]:
        return iter(self.items())

    def items(self) -> list[str]:
        items = list(self._items)
        if self._dropped:
            items.append(f"{self._dropped} more defects not listed")
        return items


def _describe(defect: MessageDefect | Exception) -> str:
    doc = (type(defect).__doc__ or type(defect).__name__).strip().splitlines()[0].rstrip(".")
    detail = _clean_header(_unescape_surrogates(str(defect)))[:100]
    if not detail or detail == doc:
        return doc
    return detail if "message gives details" in doc else f"{doc}: {detail}"


_WINDOWS_FORBIDDEN = set('<>:"|?*')
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10))} | {
    f"LPT{i}" for i in range(10)
}
_MAX_FILENAME_BYTES = 200
_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "text/calendar": ".ics",
    "application/ms-tnef": ".dat",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "message/feedback-report": ".txt",
    "text/rfc822-headers": ".txt",
    "text/plain": ".txt",
    "text/html": ".html",
}


def _extension(content_type: str) -> str:
    ext = _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type, strict=False)
    return ext or ".bin"


def _cap_filename(name: str) -> str:
    if len(name.encode("utf-8")) <= _MAX_FILENAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not 0 < len(ext) <= 16:
        stem, ext = name, ""
    budget = _MAX_FILENAME_BYTES - len(ext.encode("utf-8")) - (1 if ext else 0)
    stem = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").rstrip(" .")
    return f"{stem}.{ext}" if ext and stem else stem
