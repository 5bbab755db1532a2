"""Inbound HTML made safe to show: an nh3 (ammonia) allowlist, plus image controls.

This is the first of three layers (then a sandboxed iframe without
``allow-scripts``, then a CSP with ``img-src 'self' data: cid:``), so it keeps
formatting generously but lets nothing run, and nothing load from our own origin.

Every function here re-sanitizes its input, so each output is safe on its own.
For the viewer the order is ``sanitize_html`` → ``block_remote_images`` →
``rewrite_cid``: the first two drop relative URLs, which is what ``rewrite_cid``
produces for attachment links.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from copy import deepcopy
from html import escape
from typing import Any
from urllib.parse import unquote, urlsplit

import nh3

from ucmail_ext.mail.parse import html_to_text

__all__ = [
    "REMOTE_IMAGE_PLACEHOLDER",
    "REMOTE_SRC_ATTRIBUTE",
    "block_remote_images",
    "rewrite_cid",
    "sanitize_html",
]

# A transparent 1x1 GIF: allowed by the CSP, sized by the img's own width/height.
REMOTE_IMAGE_PLACEHOLDER = (
    "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
)
REMOTE_SRC_ATTRIBUTE = "data-remote-src"

_TAGS = set(nh3.ALLOWED_TAGS) | {"font", "tfoot", "big", "address", "section", "main"}

_ATTRIBUTES: dict[str, set[str]] = deepcopy(nh3.ALLOWED_ATTRIBUTES)
for _tag, _names in {
    "*": {"style", "title", "dir", "lang", "align", "valign", "width", "height", "bgcolor"},
    "a": {"href", "hreflang", "title"},
    "img": {"src", "alt", "width", "height", "align", "border", "hspace", "vspace"},
    "table": {"border", "cellpadding", "cellspacing", "width", "bgcolor"},
    "td": {"nowrap", "colspan", "rowspan"},
    "th": {"nowrap", "colspan", "rowspan"},
    "font": {"color", "face", "size"},
    "ol": {"start", "type"},
    "ul": {"type"},
    "li": {"value"},
    "blockquote": {"type", "cite"},
}.items():
    _ATTRIBUTES.setdefault(_tag, set()).update(_names)

_STYLE_PROPERTIES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style",
    "font-weight", "font-variant", "text-align", "text-decoration", "text-indent",
    "text-transform", "line-height", "letter-spacing", "word-spacing", "white-space",
    "vertical-align", "direction", "display", "list-style-type", "table-layout",
    "word-break", "word-wrap", "overflow-wrap", "border-collapse", "border-spacing",
    "width", "height", "min-width", "max-width", "min-height", "max-height",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "border", "border-top", "border-right", "border-bottom", "border-left",
    "border-color", "border-style", "border-width", "border-radius",
}  # fmt: skip

# nh3 checks the scheme before the attribute filter; the filter narrows data: further.
_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid", "data"}
_URL_ATTRIBUTES = {"href", "src", "cite"}
_DATA_IMAGE_TYPES = {"image/png", "image/gif", "image/jpeg", "image/jpg", "image/webp", "image/bmp"}

_OPTIONS: dict[str, Any] = {
    "tags": _TAGS,
    "clean_content_tags": {"script", "style", "title", "template", "noscript"},
    "attributes": _ATTRIBUTES,
    "url_schemes": _URL_SCHEMES,
    "filter_style_properties": _STYLE_PROPERTIES,
    "link_rel": "noopener noreferrer",
    "set_tag_attribute_values": {"a": {"target": "_blank"}},
    "strip_comments": True,
}

AttributeFilter = Callable[[str, str, str], str | None]


def sanitize_html(html: str) -> str:
    """Allowlisted HTML: no scripts, handlers, forms, frames, or javascript:/data: links.

    HTML nested deeper than the tree builder handles in reasonable time (its cost
    grows with the square of the depth: 100,000 nested divs take 13 s) is shown
    as plain text instead.
    """
    if not html or not isinstance(html, str):
        return ""
    if _too_deep(html):
        return f'<pre style="white-space: pre-wrap">{escape(html_to_text(html))}</pre>'
    return _CLEANER.clean(html)


def block_remote_images(html: str) -> tuple[str, bool]:
    """Replace every remote ``img src`` by a placeholder; the URL moves to ``data-remote-src``.

    Returns the sanitized HTML and whether any image was blocked, so the viewer can
    offer "show images" (remote images are trackers as often as they are content).
    """
    safe = sanitize_html(html)
    if not safe:
        return "", False
    # nh3 can only rewrite attributes, not add one, so a second pass appends an empty
    # data-remote-src to every img (the first pass dropped any the sender wrote) and
    # the filter fills it in. Attributes reach the filter in document order, so each
    # img's src is seen before the data-remote-src appended after it.
    pending: list[str] = []
    blocked = 0

    def move_remote_src(tag: str, attr: str, value: str) -> str | None:
        nonlocal blocked
        if tag != "img":
            return value
        if attr == "src" and _is_remote(value):
            pending.append(value)
            blocked += 1
            return REMOTE_IMAGE_PLACEHOLDER
        if attr == REMOTE_SRC_ATTRIBUTE:
            return pending.pop() if pending else None
        return value

    options = dict(_OPTIONS, set_tag_attribute_values={
        "a": {"target": "_blank"},
        "img": {REMOTE_SRC_ATTRIBUTE: ""},
    })  # fmt: skip
    result = nh3.clean(safe, attribute_filter=_chain(move_remote_src), **options)
    return result, blocked > 0


def rewrite_cid(html: str, mapping: Mapping[str, str]) -> str:
    """Point ``<img src="cid:...">`` at the attachment URLs in ``mapping`` (Content-ID → URL).

    Keys may carry angle brackets or not; a cid without a mapping is left as it is
    (the CSP allows cid:, the browser simply shows nothing). Only http(s) URLs and
    root-relative paths are accepted as targets.
    """
    targets = {
        _cid_key(cid): url
        for cid, url in mapping.items()
        if isinstance(cid, str) and isinstance(url, str) and _is_safe_target(url)
    }

    def point_at_attachment(tag: str, attr: str, value: str) -> str | None:
        if tag != "img":
            return value
        if attr == "src" and value[:4].lower() == "cid:":
            return targets.get(_cid_key(unquote(value[4:])), value)
        if attr == REMOTE_SRC_ATTRIBUTE:  # left by block_remote_images for "show images"
            return value if _is_remote(value) else None
        return value

    if not html or not isinstance(html, str):
        return ""
    if _too_deep(html):
        return sanitize_html(html)
    attributes = deepcopy(_ATTRIBUTES)
    attributes["img"].add(REMOTE_SRC_ATTRIBUTE)
    options = dict(_OPTIONS, attributes=attributes)
    return nh3.clean(html, attribute_filter=_chain(point_at_attachment), **options)


def _filter(tag: str, attr: str, value: str) -> str | None:
    """The allowlist's second half: what nh3's options cannot express.

    Styles need nothing here: no allowed property takes a url() or an image, so a
    url() that slips into one is an invalid declaration the browser never loads.
    """
    if attr in _URL_ATTRIBUTES:
        return _safe_url(tag, attr, value)
    return value


def _chain(extra: AttributeFilter) -> AttributeFilter:
    """The base filter, then ``extra``.

    An exception drops the attribute: nh3 would otherwise report it through
    ``sys.unraisablehook`` and drop it anyway.
    """

    def run(tag: str, attr: str, value: str) -> str | None:
        try:
            checked = _filter(tag, attr, value)
            return None if checked is None else extra(tag, attr, checked)
        except Exception:
            return None

    return run


def _unchanged(tag: str, attr: str, value: str) -> str | None:
    return value


def _safe_url(tag: str, attr: str, value: str) -> str | None:
    url = value.strip()
    if url.startswith("//"):  # protocol-relative: remote, and https is the only sane reading
        url = "https:" + url
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    if not scheme:
        # Relative URLs would resolve against our own origin: only in-page anchors stay.
        return url if attr == "href" and url.startswith("#") else None
    if scheme == "data":
        media_type = url[5:].split(",", 1)[0].split(";", 1)[0].strip().lower()
        allowed = tag == "img" and attr == "src" and media_type in _DATA_IMAGE_TYPES
        return url if allowed else None
    return url


def _is_remote(url: str) -> bool:
    return url[:7].lower() == "http://" or url[:8].lower() == "https://"


def _is_safe_target(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme:
        return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)
    return url.startswith("/") and not url.startswith("//") and "\\" not in url


def _cid_key(cid: str) -> str:
    return "".join(cid.split()).strip("<>").lower()


_MAX_DEPTH = 5000
# Elements a sibling closes implicitly: counting them would flag old-style <p> mail.
_SELF_CLOSING_SIBLINGS = {
    "p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option",
    "optgroup", "colgroup", "caption", "rb", "rt", "rtc", "rp",
}  # fmt: skip
_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
    "source", "track", "wbr",
}  # fmt: skip


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)")


def _too_deep(html: str) -> bool:
    """A cost guard, not a parser: tag names counted in and out, as the tree builder would.

    It may over-count (a tag inside a comment or a script); the price of that is
    plain text instead of HTML, never unsafe output.
    """
    if html.count("<") <= _MAX_DEPTH:
        return False
    depth = 0
    for match in _TAG.finditer(html):
        name = match.group(2).lower()
        if name in _VOID or name in _SELF_CLOSING_SIBLINGS:
            continue
        if match.group(1):
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > _MAX_DEPTH:
                return True
    return False


_CLEANER = nh3.Cleaner(attribute_filter=_chain(_unchanged), **_OPTIONS)
