"""``${var}`` templates for dialer mail: one compile, many cheap renders.

The syntax is ``string.Template``'s braced form only: ``${name}`` is a
placeholder, ``$$`` is a literal ``$``, and any other ``$`` (``$5``, ``$name``,
``${ bad }``) stays as written, so prices and shell snippets in a template
survive. A variable that is not supplied stays as ``${name}`` in the text and is
listed in ``Rendered.missing``: the caller refuses to send a half-filled mail.

Rendering is a single pass: a value that itself contains ``${other}`` is not
expanded again, so CSV data cannot pull in other variables.

In HTML, a placeholder that starts a link attribute (``href="${link}"``,
``src="${image}"``) is a URL chosen by whoever wrote the CSV row: its value is
kept only when it is an http(s) or mailto URL, else it becomes ``#``; a
``javascript:`` link must never reach a customer's mail client under our name.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = [
    "CompiledTemplate",
    "Rendered",
    "compile_template",
    "is_safe_url",
    "render",
    "render_html",
    "variables_in",
]


class _BracedTemplate(string.Template):
    # ``named`` and ``invalid`` can never match: a bare ``$`` is plain text.
    flags = 0
    pattern = r"""
    \$(?:
      (?P<escaped>\$)
    | \{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}
    | (?P<named>(?!))
    | (?P<invalid>(?!))
    )
    """


_PATTERN = _BracedTemplate.pattern
# Literal text that ends where a URL attribute's value starts: the next slot is a URL.
_URL_ATTRIBUTE_START = re.compile(
    r"""(?:^|[\s"'/])(?:href|src|action|formaction|xlink:href|poster|background|cite)"""
    r"""\s*=\s*["']?[\x00-\x20]*\Z""",
    re.IGNORECASE,
)
SAFE_URL_SCHEMES = ("http://", "https://", "mailto:")
# Browsers drop these anywhere in a URL ("java\tscript:" is javascript:); so do we, to judge it.
_URL_IGNORED = re.compile(r"[\x00-\x20\x7f]+")


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """A template split once into literal text and placeholder slots.

    ``parts`` holds the literal pieces with each placeholder's original
    ``${name}`` text at its slot, so rendering copies the list, fills the slots
    whose variable is supplied and joins.
    """

    parts: tuple[str, ...]
    slots: tuple[tuple[int, str], ...]
    names: tuple[str, ...]
    # Indexes into ``parts`` of the slots that start a URL attribute's value.
    url_slots: frozenset[int] = frozenset()

    def render(self, variables: Mapping[str, str]) -> Rendered:
        return self._fill(variables, str)

    def render_html(self, variables: Mapping[str, str]) -> Rendered:
        """Values are HTML-escaped (they come from a CSV); the template is not.

        A value that starts a link or source URL must be http(s) or mailto, else "#".
        """
        return self._fill(variables, _escape_html, self.url_slots)

    def _fill(
        self,
        variables: Mapping[str, str],
        convert: Callable[[str], str],
        url_slots: frozenset[int] = frozenset(),
    ) -> Rendered:
        if not self.slots:
            return Rendered("".join(self.parts))
        out = list(self.parts)
        absent: set[str] = set()
        for index, name in self.slots:
            value = variables.get(name)
            if value is None:
                absent.add(name)
                continue
            value = value if isinstance(value, str) else str(value)
            if index in url_slots and not is_safe_url(value):
                value = "#"
            out[index] = convert(value)
        missing = [name for name in self.names if name in absent] if absent else []
        return Rendered("".join(out), missing)


def is_safe_url(value: str) -> bool:
    """An http(s) or mailto URL, judged the way a browser reads the attribute."""
    return _URL_IGNORED.sub("", value).lower().startswith(SAFE_URL_SCHEMES)


def _escape_html(value: str) -> str:
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


@lru_cache(maxsize=512)
def compile_template(template: str) -> CompiledTemplate:
    """Split ``template`` into parts once; cached, so repeated renders skip it."""
    parts: list[str] = []
    slots: list[tuple[int, str]] = []
    url_slots: set[int] = set()
    names: dict[str, None] = {}
    literal: list[str] = []
    last = 0
    for match in _PATTERN.finditer(template):
        literal.append(template[last : match.start()])
        last = match.end()
        name = match.group("braced")
        if name is None:
            literal.append("$")
            continue
        before = ""
        if literal:
            before = "".join(literal)
            parts.append(before)
            literal = []
        if before and _URL_ATTRIBUTE_START.search(before[-300:]):
            url_slots.add(len(parts))
        slots.append((len(parts), name))
        parts.append(match.group())
        names.setdefault(name)
    literal.append(template[last:])
    parts.append("".join(literal))
    return CompiledTemplate(tuple(parts), tuple(slots), tuple(names), frozenset(url_slots))


def render(template: str, variables: Mapping[str, str]) -> Rendered:
    return compile_template(template).render(variables)


def render_html(template: str, variables: Mapping[str, str]) -> Rendered:
    return compile_template(template).render_html(variables)


def variables_in(template: str) -> list[str]:
    """Placeholder names in order of first appearance (for the template preview)."""
    return list(compile_template(template).names)
