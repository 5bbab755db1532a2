"""Dialer contact lists: ``campaign;email;message;attachments;variables;priority``.

Rows are read one at a time from a binary stream (a list can be hundreds of
thousands of rows) and each becomes a ``ListRow`` or a ``RowError`` carrying the
physical line the row starts on. Only syntax is checked here; whether the
campaign or an attachment token exists is the dialer service's question.

Parsing is the ``csv`` module's (strict mode), with one rule added for the
spec's own example::

    SupportIntegra;john@example.com;This is a test message.;;"Var1":"value","Var2":"value";9999

Its variables column opens with a quote but is not a quoted CSV field (the
closing quote is followed by ``:``). Strict ``csv`` rejects such a row and the
row is re-read by ``_split_record``: a field whose closing quote is not followed
by ``;`` or the end of the line is taken as written, up to the next ``;``. From
that row on the tokenizer reads the rest of the list (it reads well-formed rows
exactly as ``csv`` does, and a list in the spec's form would fail every row).

So a variable value in that raw form cannot contain ``;`` or a line break; when
it must, quote the whole column CSV-style, doubling the quotes inside it. A
field that opens with a quote that is never closed is an error for that row
only: reading resumes on the next line, so one stray quote cannot swallow the
rest of a list.

Variable values may span lines (a quoted CSV field); they are meant for bodies.
A value that ends up in a header (a subject) is checked when it is rendered
there, by ``headers.check_header_value``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import deque
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from .headers import is_valid_address, normalize_address

__all__ = [
    "COLUMNS",
    "DEFAULT_PRIORITY",
    "ListRow",
    "RowError",
    "parse_variables",
    "read_rows",
]

COLUMNS = ("campaign", "email", "message", "attachments", "variables", "priority")
DEFAULT_PRIORITY = 9999

MAX_CAMPAIGN = 255
MAX_EMAIL = 320  # 64 local + "@" + 255 domain (RFC 5321 §4.5.3.1)
MAX_MESSAGE = 1_000_000
MAX_VARIABLES = 65_536
MAX_ATTACHMENTS = 20
MAX_PRIORITY = 2_147_483_647  # fits the database's INTEGER column
# One row, all its physical lines together; lengths are in characters.
MAX_ROW = MAX_MESSAGE + MAX_VARIABLES + 16_384

ATTACHMENT_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_PRIORITY = re.compile(r"[0-9]{1,10}")
# Bytes that were not UTF-8 arrive as lone surrogates (errors="surrogateescape").
_UNDECODABLE_OR_NUL = re.compile("[\udc80-\udcff\x00]")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
# One field within one line: a quoted field closed on this line and followed by
# ";" or the line end, or else raw text up to ";" or the line end.
_FIELD = re.compile(r'"(?P<quoted>(?:[^"]|"")*+)"(?=[;\r\n]|\Z)|(?P<raw>[^;\r\n]*)')
_CLOSED = re.compile(r'"(?:[^"]|"")*+"')

# "name":"value" pairs; the first key may arrive unquoted, and values may be
# bare words. Inside a quoted value only \" and \\ are escapes: a Windows path
# or a stray backslash stays as written.
_PAIR = re.compile(
    r"""\s*+(?:"(?P<qkey>[^"]*)"|(?P<key>[^\s:",]+))\s*+:\s*+
        (?:"(?P<qval>(?:[^"\\]|\\.)*+)"\s*+|(?P<val>[^,"]*))(?:,|\Z)""",
    re.VERBOSE | re.DOTALL,
)
_JSON_PAIRS = json.JSONDecoder(object_pairs_hook=list, strict=False)
_ESCAPE = re.compile(r"\\([\"\\])")
_BARE_PAIR_START = re.compile(r"\s*+[^\s:=\",]+\s*+:")


@dataclass(frozen=True, slots=True)
class ListRow:
    line: int
    campaign: str
    email: str
    message: str
    attachments: list[str]
    variables: dict[str, str]
    priority: int


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    reason: str


class _RowTooLong(Exception):
    pass


class _Unterminated(Exception):
    pass


class _Lines:
    """Physical lines with their numbers, any of which can be pushed back.

    ``taken`` holds the (number, text) pairs handed out since ``start_record``,
    so a row that strict ``csv`` rejects can be replayed to ``_split_record``,
    and a row abandoned at its first line can resume on its second.
    """

    def __init__(self, text: TextIO, limit: int) -> None:
        self._text = text
        self._limit = limit
        self._pending: deque[tuple[int, str]] = deque()
        self._next_number = 1
        self._size = 0
        self.taken: list[tuple[int, str]] = []
        self.overlong: list[int] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.pull()
        if line is None:
            raise StopIteration
        return line

    def start_record(self) -> None:
        self.taken = []
        self._size = 0

    def push_back(self, items: list[tuple[int, str]]) -> None:
        self._pending.extendleft(reversed(items))

    def pull(self) -> str | None:
        if self._pending:
            number, line = self._pending.popleft()
        else:
            # A size limit keeps one enormous line (a binary file, say) from
            # being read into memory whole.
            line = self._text.readline(self._limit + 1)
            if not line:
                return None
            number = self._next_number
            self._next_number += 1
            if len(line) > self._limit and line[-1] not in "\r\n":
                self._skip_rest_of_line()
                self.overlong.append(number)
                raise _RowTooLong
        self.taken.append((number, line))
        self._size += len(line)
        if self._size > self._limit:
            raise _RowTooLong
        return line

    def _skip_rest_of_line(self) -> None:
        while True:
            chunk = self._text.readline(self._limit)
            if not chunk or chunk[-1] in "\r\n":
                return


def _quoted_field(lines: _Lines, index: int, col: int) -> tuple[str, int, int] | None:
    """The quoted field opening at ``col`` of taken line ``index``, or None when
    its closing quote is followed by something other than ``;`` or a line end."""
    pieces: list[str] = []
    start = col + 1
    while True:
        line = lines.taken[index][1]
        close = line.find('"', start)
        if close == -1:
            pieces.append(line[start:])
            if lines.pull() is None:
                raise _Unterminated
            index += 1
            start = 0
            continue
        if line.startswith('"', close + 1):
            pieces.append(line[start : close + 1])
            start = close + 2
            continue
        if line[close + 1 : close + 2] in ("", ";", "\r", "\n"):
            pieces.append(line[start:close])
            return "".join(pieces), index, close + 1
        return None


def _split_record(lines: _Lines) -> list[str] | None:
    """One record by CSV rules, except that a malformed quoted field is raw text;
    None at the end of the list.

    Lines read ahead while looking for a closing quote that turned out not to
    close a field are pushed back for the next record.
    """
    if lines.pull() is None:
        return None
    fields: list[str] = []
    index, col = 0, 0
    line = lines.taken[0][1]
    while True:
        match = _FIELD.match(line, col)
        value = match["quoted"]
        if value is not None:
            value = value.replace('""', '"')
            col = match.end()
        elif line.startswith('"', col) and _CLOSED.match(line, col) is None:
            # The quote is not closed on this line: the field may go on.
            spanned = _quoted_field(lines, index, col)
            if spanned is None:
                value, col = match["raw"], match.end()
            else:
                value, index, col = spanned
                line = lines.taken[index][1]
        else:
            value, col = match["raw"], match.end()
        fields.append(value)
        if line.startswith(";", col):
            col += 1
            continue
        break
    rest = lines.taken[index + 1 :]
    del lines.taken[index + 1 :]
    lines.push_back(rest)
    return fields


def _shown(value: str) -> str:
    return repr(value[:40]) + ("..." if len(value) > 40 else "")


def _shown_long(value: str) -> str:
    """A suggestion to copy: shown as is (not repr'd: its quotes are the point)."""
    return value[:200] + ("..." if len(value) > 200 else "")


def parse_variables(text: str) -> dict[str, str]:
    """The variables column as a dict; raises ``ValueError`` saying what is wrong.

    Two forms: the current spec's ``"name":"value","other":"value"`` and the
    older ``name=value:other=value``, whose values cannot hold ``:`` (it
    separates the pairs; the error shows the column in the quoted form).
    Names are ``[A-Za-z_][A-Za-z0-9_]*`` (the ``${name}`` syntax of
    ``render``), case-sensitive, each given once.
    """
    text = text.strip()
    if not text:
        return {}
    if text.startswith('"') or _BARE_PAIR_START.match(text):
        pairs = _json_pairs(text) or _spec_pairs(text)
    elif "=" in text:
        pairs = _legacy_pairs(text)
    else:
        raise ValueError('expected "name":"value","other":"value"')
    variables: dict[str, str] = {}
    for name, value in pairs:
        if not VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"invalid variable name {_shown(name)}")
        if name in variables:
            raise ValueError(f"variable {name!r} is given twice")
        variables[name] = value
    return variables


def _json_pairs(text: str) -> list[tuple[str, str]] | None:
    """Fast path: without backslashes the spec form is a JSON object's inside."""
    if "\\" in text or not text.startswith('"'):
        return None
    try:
        pairs = _JSON_PAIRS.decode("{" + text + "}")
    except ValueError:
        return None
    if not all(isinstance(value, str) for _, value in pairs):
        return None
    return pairs


def _spec_pairs(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _PAIR.match(text, pos)
        if match is None:
            raise ValueError(
                f'expected "name":"value" at {_shown(text[pos:].lstrip())}'
                if pairs
                else f'expected "name":"value", got {_shown(text)}'
            )
        name = match["qkey"] if match["qkey"] is not None else match["key"]
        if match["qval"] is not None:
            value = match["qval"]
            if "\\" in value:
                value = _ESCAPE.sub(r"\1", value)
        else:
            value = match["val"].strip()
        pairs.append((name, value))
        pos = match.end()
    return pairs


def _quoted_form(text: str) -> str:
    """The legacy column rewritten in the quoted form, for the error message: a piece
    without ``=`` is taken as the rest of the previous value, cut at a ``:``."""
    pairs: list[list[str]] = []
    for item in text.split(":"):
        name, equals, value = item.partition("=")
        if equals or not pairs:
            pairs.append([name.strip(), value.strip()])
        else:
            pairs[-1][1] += ":" + item.strip()
    return ",".join(
        json.dumps(n, ensure_ascii=False) + ":" + json.dumps(v, ensure_ascii=False)
        for n, v in pairs
    )


def _legacy_pairs(text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for item in text.split(":"):
        if not item.strip():
            continue
        name, equals, value = item.partition("=")
        if not equals:
            if pairs:
                # ':' separates the pairs, so "time=10:30" reads as time=10 and "30".
                raise ValueError(
                    f"in the name=value:other=value form a value cannot contain ':' "
                    f"(got {_shown(item.strip())} after {pairs[-1][0]}={pairs[-1][1]}); "
                    f"write the column in the quoted form: {_shown_long(_quoted_form(text))}"
                )
            raise ValueError(f"expected name=value, got {_shown(item.strip())}")
        pairs.append((name.strip(), value.strip()))
    return pairs


def _attachment_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for token in text.split(","):
        token = token.strip()
        if not token:
            continue
        if not ATTACHMENT_TOKEN.fullmatch(token):
            raise ValueError(f"invalid attachment token {_shown(token)}")
        if token not in tokens:
            tokens.append(token)
    if len(tokens) > MAX_ATTACHMENTS:
        raise ValueError(f"too many attachments ({len(tokens)}; at most {MAX_ATTACHMENTS})")
    return tokens


def _check_row(line: int, fields: list[str]) -> ListRow | RowError:
    if len(fields) > len(COLUMNS):
        return RowError(
            line, f"too many columns ({len(fields)}; at most {len(COLUMNS)}: {';'.join(COLUMNS)})"
        )
    bad = _UNDECODABLE_OR_NUL.search("\n".join(fields))
    if bad is not None:
        if bad.group() == "\x00":
            return RowError(line, "NUL character in the row")
        return RowError(line, "invalid UTF-8 (save the list as UTF-8)")
    campaign, email, message, attachments, variables, priority = fields + [""] * (
        len(COLUMNS) - len(fields)
    )

    campaign = campaign.strip()
    if not campaign:
        return RowError(line, "missing campaign")
    if len(campaign) > MAX_CAMPAIGN or _CONTROL.search(campaign):
        return RowError(line, f"invalid campaign name {_shown(campaign)}")

    email = email.strip()
    if not email:
        return RowError(line, "missing email address")
    if len(email) > MAX_EMAIL:
        return RowError(line, f"invalid email address: longer than {MAX_EMAIL} characters")
    if not is_valid_address(email):
        return RowError(line, f"invalid email address {_shown(email)}")

    if len(message) > MAX_MESSAGE:
        return RowError(line, f"message longer than {MAX_MESSAGE} characters")

    try:
        tokens = _attachment_tokens(attachments) if attachments else []
    except ValueError as exc:
        return RowError(line, str(exc))

    if len(variables) > MAX_VARIABLES:
        return RowError(line, f"variables longer than {MAX_VARIABLES} characters")
    try:
        values = parse_variables(variables)
    except ValueError as exc:
        return RowError(line, f"malformed variables: {exc}")

    priority = priority.strip()
    if not priority:
        rank = DEFAULT_PRIORITY
    elif _PRIORITY.fullmatch(priority) and int(priority) <= MAX_PRIORITY:
        rank = int(priority)
    else:
        return RowError(
            line, f"invalid priority {_shown(priority)} (a whole number from 0 to {MAX_PRIORITY})"
        )

    return ListRow(
        line=line,
        campaign=campaign,
        email=normalize_address(email),
        message=message,
        attachments=tokens,
        variables=values,
        priority=rank,
    )


def _is_header(fields: list[str]) -> bool:
    return [value.strip().lower() for value in fields[:2]] == ["campaign", "email"]


def read_rows(stream: BinaryIO) -> Iterator[ListRow | RowError]:
    """Each non-empty row of a UTF-8 (BOM optional) list, in file order.

    Never raises on the list's content: every problem is a ``RowError`` and the
    rows after it are still read. The caller's stream is left open.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    lines = _Lines(text, MAX_ROW)
    reader = csv.reader(lines, delimiter=";", strict=True)
    lenient = False
    first = True
    try:
        while True:
            lines.start_record()
            try:
                if lenient:
                    fields = _split_record(lines)
                else:
                    try:
                        fields = next(reader)
                    except csv.Error:
                        # Not strict CSV (the spec's variables form, a field
                        # over csv's size limit): read this row again, and the
                        # rest of the list, with the lenient tokenizer.
                        lenient = True
                        taken = lines.taken
                        lines.start_record()
                        lines.push_back(taken)
                        fields = _split_record(lines)
                if fields is None:
                    return
            except StopIteration:
                return
            except _Unterminated:
                first = False
                start = lines.taken[0][0]
                lines.push_back(lines.taken[1:])
                yield RowError(start, 'unterminated quoted field (a "..." that is never closed)')
                continue
            except _RowTooLong:
                first = False
                if lines.taken:
                    lines.push_back(lines.taken[1:])
                    yield RowError(
                        lines.taken[0][0],
                        f"row longer than {MAX_ROW} characters (or a quote never closed)",
                    )
                for number in lines.overlong:
                    yield RowError(number, f"line longer than {MAX_ROW} characters")
                lines.overlong.clear()
                continue
            if not fields or not any(value.strip() for value in fields):
                continue
            if first:
                first = False
                if _is_header(fields):
                    continue
            yield _check_row(lines.taken[0][0], fields)
    finally:
        # The wrapper would close the caller's stream when it is collected.
        with suppress(ValueError):
            text.detach()
