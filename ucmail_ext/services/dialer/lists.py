"""Dialer lists: a CSV streamed in, checked row by row, stored in chunks.

A list can hold hundreds of thousands of rows, so nothing here holds the file:
``csvlist.read_rows`` parses one row at a time (syntax only), this module checks
what needs the database (the campaign column must name the dialer's campaign; an
attachment token must be an uploaded file) for one chunk of rows at a time, and
inserts each chunk with one executemany. The answer is a report: how many rows
were accepted, and which were refused, by line, with the reason (the stored
report keeps the first ``REPORT_CAP``; the counts are exact).
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from flask import current_app
from sqlalchemy import insert, select

from ucmail_ext.extension import get_state
from ucmail_ext.mail.csvlist import COLUMNS, ListRow, RowError, read_rows
from ucmail_ext.mail.headers import HeaderInjectionError, check_header_value
from ucmail_ext.mail.parse import safe_filename
from ucmail_ext.models import Campaign, Dialer, DialerList, DialerRecord, Upload
from ucmail_ext.services import storage

REPORT_CAP = 1000
CHUNK_ROWS = 1000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*")


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    reason: str


@dataclass(frozen=True)
class UploadReport:
    list_id: int | None
    accepted: int = 0
    refused: int = 0
    problems: tuple[RowProblem, ...] = ()
    error: str = ""

    @property
    def total(self) -> int:
        return self.accepted + self.refused


@dataclass(frozen=True)
class AttachmentResult:
    upload: Upload | None
    error: str = ""


class _CappedReader(io.RawIOBase):
    """Reads through to the upload, refusing to go past ``limit`` bytes."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self._stream = stream
        self._left = limit
        self.limit = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        if not data:
            return 0
        self._left -= len(data)
        if self._left < 0:
            raise storage.FileTooLarge(self.limit)
        buffer[: len(data)] = data
        return len(data)


def _clean_name(value: str, fallback: str) -> str:
    name = " ".join((value or "").split())[:200]
    return name or fallback


def _campaign_matches(value: str, name: str) -> bool:
    wanted = name.strip().casefold()
    got = value.strip().casefold()
    # A name that starts like a formula is written with a leading ' in our example file.
    return got == wanted or (wanted.startswith(_FORMULA_START) and got == "'" + wanted)


class _Checker:
    """What a row needs from the database: its campaign and its attachment tokens."""

    def __init__(self, campaign_name: str) -> None:
        self.campaign_name = campaign_name
        self._known: dict[str, bool] = {}

    def load_tokens(self, rows: list[ListRow]) -> None:
        wanted = {t for row in rows for t in row.attachments if t not in self._known}
        if not wanted:
            return
        session = get_state().session
        found = set(session.scalars(select(Upload.token).where(Upload.token.in_(wanted))))
        for token in wanted:
            self._known[token] = token in found

    def problem(self, row: ListRow) -> str | None:
        if not _campaign_matches(row.campaign, self.campaign_name):
            return (
                f"unknown campaign {row.campaign[:60]!r}: this dialer sends for "
                f"{self.campaign_name!r}"
            )
        unknown = [t for t in row.attachments if not self._known.get(t)]
        if unknown:
            return f"unknown attachment token {unknown[0]!r} (upload the file with Attach file)"
        return None


def _record_values(list_id: int, row: ListRow) -> dict[str, object]:
    return {
        "list_id": list_id,
        "line": row.line,
        "email": row.email,
        "message": row.message,
        "attachments": ",".join(row.attachments),
        "variables": json.dumps(row.variables, ensure_ascii=False, separators=(",", ":")),
        "priority": row.priority,
        "state": "pending",
        "attempts": 0,
        "status_code": "",
        "error": "",
    }


def upload_list(
    dialer_id: int,
    *,
    stream: BinaryIO,
    filename: str,
    name: str = "",
    subject: str = "",
    by: str | None = None,
) -> UploadReport:
    """Create a list from an uploaded CSV and report on every row (commits)."""
    session = get_state().session
    dialer = session.get(Dialer, dialer_id)
    if dialer is None or dialer.deleted_at is not None:
        return UploadReport(None, error="This dialer no longer exists.")
    campaign = session.get(Campaign, dialer.campaign_id)
    if campaign is None or campaign.deleted_at is not None:
        return UploadReport(None, error="The dialer's campaign was deleted.")
    try:
        check_header_value(subject, "subject")
    except HeaderInjectionError:
        return UploadReport(None, error="The subject must be one line without control characters.")
    shown_name = safe_filename(filename or "", 1, "text/csv")
    dialer_list = DialerList(
        dialer_id=dialer.id,
        name=_clean_name(name, shown_name or "list"),
        subject=subject.strip(),
        filename=shown_name[:255],
        uploaded_by=by,
    )
    session.add(dialer_list)
    session.flush()
    limit = int(current_app.config["UCMAIL_UPLOAD_MAX_BYTES"])
    checker = _Checker(campaign.name)
    accepted = refused = 0
    problems: list[RowProblem] = []
    chunk: list[ListRow | RowError] = []

    def flush_chunk() -> None:
        nonlocal accepted, refused
        good = [row for row in chunk if isinstance(row, ListRow)]
        checker.load_tokens(good)
        values = []
        for row in chunk:
            reason = row.reason if isinstance(row, RowError) else checker.problem(row)
            if reason is None:
                assert isinstance(row, ListRow)
                values.append(_record_values(dialer_list.id, row))
                continue
            refused += 1
            if len(problems) < REPORT_CAP:
                problems.append(RowProblem(row.line, reason))
        if values:
            session.execute(insert(DialerRecord.__table__), values)
            accepted += len(values)
        chunk.clear()

    reader = io.BufferedReader(_CappedReader(stream, limit))
    try:
        for row in read_rows(reader):
            chunk.append(row)
            if len(chunk) >= CHUNK_ROWS:
                flush_chunk()
        flush_chunk()
    except storage.FileTooLarge as exc:
        session.rollback()
        return UploadReport(None, error=f"The list is too large: {exc}.")
    dialer_list.total_rows = accepted + refused
    dialer_list.accepted_rows = accepted
    dialer_list.refused_rows = refused
    dialer_list.report = json.dumps([{"line": p.line, "reason": p.reason} for p in problems])
    session.commit()
    return UploadReport(dialer_list.id, accepted, refused, tuple(problems))


def stored_report(dialer_list: DialerList) -> list[RowProblem]:
    try:
        items = json.loads(dialer_list.report or "[]")
    except ValueError:
        return []
    return [
        RowProblem(int(item.get("line", 0)), str(item.get("reason", "")))
        for item in items
        if isinstance(item, dict)
    ]


def _csv_cell(value: str) -> str:
    if value.startswith(_FORMULA_START):
        value = "'" + value
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="").writerow([value])
    return out.getvalue()


def example_csv(campaign_name: str) -> str:
    """The downloadable example: the header and two rows, in the spec's own forms."""
    campaign = _csv_cell(campaign_name)
    return "\r\n".join(
        [
            ";".join(COLUMNS),
            f"{campaign};john@example.com;Hello ${{name}}, your code is ${{code}}.;;"
            f'"name":"John","code":"A-100";1',
            f"{campaign};jane@example.com;;;name=Jane:code=B-200;",
            "",
        ]
    )


def _content_type(filename: str, declared: str) -> str:
    guessed, _ = mimetypes.guess_type(filename)
    for candidate in (guessed, (declared or "").split(";")[0].strip()):
        if candidate and _CONTENT_TYPE.fullmatch(candidate):
            return candidate
    return "application/octet-stream"


def store_attachment(
    stream: BinaryIO, filename: str, declared_type: str = "", by: str | None = None
) -> AttachmentResult:
    """Keep a file for dialer mail; its token goes in the CSV's attachments column."""
    limit = int(current_app.config["UCMAIL_UPLOAD_MAX_BYTES"])
    try:
        stored = storage.store_stream(stream, limit)
    except storage.FileTooLarge as exc:
        return AttachmentResult(None, f"The file is too large: {exc}.")
    if stored.size == 0:
        storage.delete_stored(stored.storage_key)
        return AttachmentResult(None, "The file is empty.")
    content_type = _content_type(filename or "", declared_type)
    upload = Upload(
        token=secrets.token_urlsafe(18),
        filename=safe_filename(filename or "", 1, content_type),
        content_type=content_type,
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.storage_key,
        uploaded_by=by,
        created_at=datetime.now(UTC),
    )
    session = get_state().session
    session.add(upload)
    session.commit()
    return AttachmentResult(upload)


def recent_uploads(limit: int = 20) -> list[Upload]:
    session = get_state().session
    return list(session.scalars(select(Upload).order_by(Upload.id.desc()).limit(limit)))
