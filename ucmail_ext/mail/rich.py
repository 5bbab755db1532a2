"""An agent's formatted reply made ready to send: safe HTML, inline images, a text part.

What the browser's editor posts is user input like any other: it goes through the
same allowlist as inbound mail (``sanitize.sanitize_html``), so a reply can carry
bold, lists and links but nothing that runs. Images pasted into the editor arrive
as ``data:`` URLs; many mail clients refuse those, so each becomes a MIME part
referenced by ``cid:`` (RFC 2392). The text part is generated from the same HTML,
always, for clients and filters that read only text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser

from ucmail_ext.mail.sanitize import sanitize_html

__all__ = ["InlineImage", "RichBody", "RichBodyError", "html_reply_text", "rich_body"]

MAX_INLINE_IMAGES = 20
# After sanitizing, nh3 writes every attribute double-quoted, and only img keeps data: URLs.
_DATA_SRC = re.compile(r'src="data:(image/[a-z0-9.+-]+);base64,([^"]*)"', re.IGNORECASE)
_EXTENSIONS = {"image/png": "png", "image/gif": "gif", "image/jpeg": "jpg", "image/webp": "webp"}


class RichBodyError(ValueError):
    """Something the agent put in the editor cannot be sent (the message says what).

    ``reason`` ("unreadable", "too_large", "too_many") lets a caller word it in the
    agent's language; the message itself is English.
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class InlineImage:
    content_id: str  # without angle brackets
    content_type: str
    filename: str
    data: bytes


@dataclass(frozen=True)
class RichBody:
    html: str
    text: str
    images: list[InlineImage] = field(default_factory=list)


def rich_body(html: str, cid_domain: str, max_image_bytes: int) -> RichBody:
    """Sanitized HTML with pasted images moved to ``cid:`` parts, and its text part."""
    safe = sanitize_html(html or "")
    images: list[InlineImage] = []

    def to_cid(match: re.Match[str]) -> str:
        content_type = match.group(1).lower()
        if content_type not in _EXTENSIONS:
            return 'src=""'
        try:
            data = base64.b64decode(re.sub(r"\s+", "", unescape(match.group(2))), validate=True)
        except (binascii.Error, ValueError):
            raise RichBodyError(
                "a pasted image could not be read; paste it again", "unreadable"
            ) from None
        if len(data) > max_image_bytes:
            raise RichBodyError(
                f"a pasted image is larger than {max_image_bytes // 1024} KB; attach it as a file",
                "too_large",
            )
        if len(images) >= MAX_INLINE_IMAGES:
            raise RichBodyError(
                f"at most {MAX_INLINE_IMAGES} pasted images per message", "too_many"
            )
        digest = hashlib.sha256(data).hexdigest()[:12]
        cid = f"img{len(images) + 1}.{digest}.{secrets.token_hex(4)}@{cid_domain}"
        filename = f"image{len(images) + 1}.{_EXTENSIONS[content_type]}"
        images.append(InlineImage(cid, content_type, filename, data))
        return f'src="cid:{cid}"'

    with_cids = _DATA_SRC.sub(to_cid, safe)
    return RichBody(html=with_cids, text=html_reply_text(with_cids), images=images)


def html_reply_text(html: str) -> str:
    """The text part: paragraphs and line breaks kept, lists marked, link targets shown."""
    extractor = _ReplyText()
    try:
        extractor.feed(html)
        extractor.close()
    except Exception:  # html.parser is lenient; keep what was read
        pass
    return extractor.text()


class _ReplyText(HTMLParser):
    # Paragraph-like blocks are set apart by a blank line; the editor's lines (div)
    # and list items by a single line break, as they looked in the editor.
    _PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "hr"}
    _LINE = {"address", "article", "aside", "dd", "div", "dl", "dt", "header", "footer"}
    _LINE |= {"section", "tr", "li"}
    _SKIP = {"script", "style", "title", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._chunks: list[str] = []
        self._skip = 0
        self._lists: list[list[int] | None] = []  # a counter per open <ol>, None for <ul>
        self._links: list[tuple[str, int]] = []

    def _break(self, blank: bool = False) -> None:
        if not self._chunks:
            return
        tail = "".join(self._chunks[-4:]).rstrip(" ")
        have = len(tail) - len(tail.rstrip("\n"))
        need = 2 if blank else 1
        if have < need:
            self._chunks.append("\n" * (need - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "br":
            self._chunks.append("\n")
        elif tag in ("ol", "ul"):
            self._break(blank=not self._lists)
            self._lists.append([0] if tag == "ol" else None)
        elif tag == "li":
            self._break()
            counter = self._lists[-1] if self._lists else None
            indent = "  " * max(0, len(self._lists) - 1)
            if counter is not None:
                counter[0] += 1
                self._chunks.append(f"{indent}{counter[0]}. ")
            else:
                self._chunks.append(f"{indent}- ")
        elif tag == "a":
            self._links.append((values.get("href") or "", len(self._chunks)))
        elif tag == "img":
            alt = (values.get("alt") or "").strip()
            self._chunks.append(f"[{alt or 'image'}]")
        elif tag in self._PARAGRAPH:
            self._break(blank=True)
        elif tag in self._LINE:
            self._break()
        elif tag in ("td", "th"):
            self._chunks.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in ("ol", "ul"):
            if self._lists:
                self._lists.pop()
            self._break(blank=not self._lists)
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            label = "".join(self._chunks[start:]).strip()
            target = href.removeprefix("mailto:")
            if href and not href.startswith("#") and target != label:
                self._chunks.append(f" <{target}>")
        elif tag in self._PARAGRAPH:
            self._break(blank=True)
        elif tag in self._LINE:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._chunks.append(" ".join(data.splitlines()))

    def text(self) -> str:
        out: list[str] = []
        for raw in "".join(self._chunks).split("\n"):
            indent = len(raw) - len(raw.lstrip(" "))
            line = " " * indent + " ".join(raw.split())
            # RFC 3676 §4.3: the signature separator keeps its trailing space.
            line = "-- " if line.strip() == "--" else line.rstrip()
            if line.strip() or (out and out[-1].strip()):
                out.append(line if line.strip() else "")
        return "\n".join(out).strip("\n").replace("\x00", "")
