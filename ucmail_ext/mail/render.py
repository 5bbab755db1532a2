"""``${var}`` templates for dialer mail: one compile, many cheap renders.

The syntax is ``string.Template``'s braced form only: ``${name}`` is a
placeholder, ``$$`` is a literal ``$``, and any other ``$`` (``$5``, ``$name``,
``${ bad }``) stays as written, so prices and shell snippets in a template
survive. A variable that is not supplied stays as ``${name}`` in the text and is
listed in ``Rendered.missing``: the caller refuses to send a half-filled mail.

Rendering is a single pass: a value that itself contains ``${other}`` is not
expanded again, so CSV data cannot pull in other variables.
"""

from __future__ import annotations

import html
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = [
    "CompiledTemplate",
    "Rendered",
    "compile_template",
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

    def render(self, variables: Mapping[str, str]) -> Rendered:
        return self._fill(variables, str)

    def render_html(self, variables: Mapping[str, str]) -> Rendered:
        """Values are HTML-escaped (they come from a CSV); the template is not."""
        return self._fill(variables, _escape_html)

    def _fill(self, variables: Mapping[str, str], convert: Callable[[str], str]) -> Rendered:
        if not self.slots:
            return Rendered("".join(self.parts))
        out = list(self.parts)
        absent: set[str] = set()
        for index, name in self.slots:
            value = variables.get(name)
            if value is None:
                absent.add(name)
            else:
                out[index] = convert(value if isinstance(value, str) else str(value))
        missing = [name for name in self.names if name in absent] if absent else []
        return Rendered("".join(out), missing)


def _escape_html(value: str) -> str:
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


@lru_cache(maxsize=512)
def compile_template(template: str) -> CompiledTemplate:
    """Split ``template`` into parts once; cached, so repeated renders skip it."""
    parts: list[str] = []
    slots: list[tuple[int, str]] = []
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
        if literal:
            parts.append("".join(literal))
            literal = []
        slots.append((len(parts), name))
        parts.append(match.group())
        names.setdefault(name)
    literal.append(template[last:])
    parts.append("".join(literal))
    return CompiledTemplate(tuple(parts), tuple(slots), tuple(names))


def render(template: str, variables: Mapping[str, str]) -> Rendered:
    return compile_template(template).render(variables)


def render_html(template: str, variables: Mapping[str, str]) -> Rendered:
    return compile_template(template).render_html(variables)


def variables_in(template: str) -> list[str]:
    """Placeholder names in order of first appearance (for the template preview)."""
    return list(compile_template(template).names)
