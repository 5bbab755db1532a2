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
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from flask import current_app
from sqlalchemy import delete, func, insert, or_, select, update

from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext as _
from ucmail_ext.mail.csvlist import COLUMNS, ListRow, RowError, read_rows
from ucmail_ext.mail.headers import HeaderInjectionError, check_header_value
from ucmail_ext.mail.parse import safe_filename
from ucmail_ext.models import Campaign, Dialer, DialerList, DialerRecord, Interaction, Upload
from ucmail_ext.services import audit, storage
from ucmail_ext.services.dialer.compose import EventDates, event_dates
from ucmail_ext.services.pagination import Page, paginate

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


def _uploads_of(campaign_id: int) -> Any:
    """The uploads a campaign's lists may name: its own, and, while supervisors see
    every campaign, those attached before uploads had a campaign."""
    if current_app.config["UCMAIL_SUPERVISOR_SCOPE"] == "all":
        return or_(Upload.campaign_id == campaign_id, Upload.campaign_id.is_(None))
    return Upload.campaign_id == campaign_id


class _Checker:
    """What a row needs beyond its syntax: its campaign, its attachment tokens (of
    this campaign) and, when the dialer sends an invite, dates that make an event."""

    def __init__(self, campaign: Campaign, dates: EventDates | None) -> None:
        self.campaign_name = campaign.name
        self.campaign_id = campaign.id
        self.dates = dates
        self._known: dict[str, bool] = {}

    def load_tokens(self, rows: list[ListRow]) -> None:
        wanted = {t for row in rows for t in row.attachments if t not in self._known}
        if not wanted:
            return
        session = get_state().session
        stmt = select(Upload.token).where(Upload.token.in_(wanted), _uploads_of(self.campaign_id))
        found = set(session.scalars(stmt))
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
            return (
                f"unknown attachment token {unknown[0]!r}: attach the file on this "
                f"campaign's dialer page (Attach file) and use its token"
            )
        if self.dates is not None:
            dates = self.dates.resolve({**row.variables, "email": row.email})
            if isinstance(dates, str):
                return f"calendar event: {dates}"
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
        return UploadReport(None, error=_("This dialer no longer exists."))
    campaign = session.get(Campaign, dialer.campaign_id)
    if campaign is None or campaign.deleted_at is not None:
        return UploadReport(None, error=_("The dialer's campaign was deleted."))
    try:
        check_header_value(subject, "subject")
    except HeaderInjectionError:
        return UploadReport(
            None, error=_("The subject must be one line without control characters.")
        )
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
    checker = _Checker(campaign, event_dates(dialer))
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
        return UploadReport(None, error=_("The list is too large: %(problem)s.", problem=exc))
    if not accepted:
        # A list with nothing to send is only clutter: the report says what to fix.
        session.rollback()
        if not refused:
            return UploadReport(None, error=_("The file has no rows: no list was created."))
        return UploadReport(
            None,
            0,
            refused,
            tuple(problems),
            error=_(
                "No row was accepted (%(refused)s refused), so no list was created: "
                "correct the rows below and upload the file again.",
                refused=refused,
            ),
        )
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
            f'{campaign};jane@example.com;;;"name":"Jane","time":"10:30";',
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
    stream: BinaryIO,
    filename: str,
    declared_type: str = "",
    by: str | None = None,
    *,
    campaign_id: int | None = None,
) -> AttachmentResult:
    """Keep a file for one campaign's dialer mail; its token goes in the CSV's
    attachments column of that campaign's lists (another campaign's lists refuse it).

    Without a campaign the file is like one attached before uploads had one: any
    list may name it, but only while supervisors see every campaign.
    """
    limit = int(current_app.config["UCMAIL_UPLOAD_MAX_BYTES"])
    try:
        stored = storage.store_stream(stream, limit)
    except storage.FileTooLarge as exc:
        return AttachmentResult(None, _("The file is too large: %(problem)s.", problem=exc))
    if stored.size == 0:
        storage.delete_stored(stored.storage_key)
        return AttachmentResult(None, _("The file is empty."))
    content_type = _content_type(filename or "", declared_type)
    upload = Upload(
        token=secrets.token_urlsafe(18),
        campaign_id=campaign_id,
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


def recent_uploads(campaign_id: int, limit: int = 20) -> list[Upload]:
    """The files the campaign's lists may name, newest first."""
    session = get_state().session
    stmt = select(Upload).where(_uploads_of(campaign_id)).order_by(Upload.id.desc()).limit(limit)
    return list(session.scalars(stmt))


# --------------------------------------------------------------------------- records

# Every state a record ends in other than sent, in the order the filter offers them:
# what a supervisor opens the list to find out about. "interrupted" is a failure the
# worker could not finish (the pipeline may give it a state of its own).
PROBLEM_STATES = (
    "failed",
    "interrupted",
    "deferred",
    "rejected",
    "spam",
    "unsubscribed",
    "skipped",
)
# What the results table filters by: the states above, what the mail did after it
# was sent (seen, clicked: independent of the state), and everything.
RESULT_FILTERS = ("all", "sent", "seen", "clicked", *PROBLEM_STATES, "pending")
EXPORT_COLUMNS = (
    "line",
    "email",
    "state",
    "status_code",
    "reason",
    "attempts",
    "time",
    "sent_at",
    "seen_at",
    "clicked_at",
)


def _records_stmt(list_id: int, state: str) -> Any:
    """``state``: one of ``RESULT_FILTERS``; anything else means the records not sent."""
    if state == "all":
        which = DialerRecord.id.is_not(None)
    elif state == "seen":
        which = DialerRecord.seen_at.is_not(None)
    elif state == "clicked":
        which = DialerRecord.clicked_at.is_not(None)
    elif state in ("sent", "pending"):
        which = DialerRecord.state == state
    elif state == "interrupted":
        # Recovery marks them failed with a reason that says so (recovery.INTERRUPTED).
        which = or_(
            DialerRecord.state == "interrupted",
            (DialerRecord.state == "failed") & DialerRecord.error.startswith("interrupted:"),
        )
    else:
        which = DialerRecord.state.in_((state,) if state in PROBLEM_STATES else PROBLEM_STATES)
    return (
        select(DialerRecord)
        .where(DialerRecord.list_id == list_id, which)
        .order_by(DialerRecord.line, DialerRecord.id)
    )


def problem_records(
    dialer_list: DialerList, state: str, page: int, per_page: int | None = None
) -> Page[DialerRecord]:
    """The list's records that were not simply sent, by line; ``state`` narrows them
    to one of ``PROBLEM_STATES`` (anything else means all of them)."""
    per_page = per_page or int(current_app.config["UCMAIL_PAGE_SIZE"])
    return paginate(get_state().session, _records_stmt(dialer_list.id, state), page, per_page)


def _safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _record_time(record: DialerRecord) -> datetime | None:
    return record.updated_at or record.sent_at


def _stamp(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def problem_records_csv(dialer_list: DialerList, state: str) -> Iterator[str]:
    """The same records as CSV lines, streamed (a list can have a million), each cell
    defused against formula injection like the example file."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    yield out.getvalue()
    stmt = _records_stmt(dialer_list.id, state).execution_options(yield_per=1000)
    for record in get_state().session.scalars(stmt):
        out.seek(0)
        out.truncate()
        moment = _record_time(record)
        writer.writerow(
            _safe_cell(value)
            for value in (
                record.line,
                record.email,
                record.state,
                record.status_code,
                record.error,
                record.attempts,
                _stamp(moment),
                _stamp(record.sent_at),
                _stamp(record.seen_at),
                _stamp(record.clicked_at),
            )
        )
        yield out.getvalue()


# --------------------------------------------------------------------------- deleting


@dataclass(frozen=True)
class DeleteResult:
    ok: bool
    message: str


def _tokens_of(list_id: int) -> set[str]:
    session = get_state().session
    stmt = select(DialerRecord.attachments).where(
        DialerRecord.list_id == list_id, DialerRecord.attachments != ""
    )
    return {t for value in session.scalars(stmt.distinct()) for t in value.split(",") if t}


def _used_elsewhere(token: str, list_id: int) -> bool:
    session = get_state().session
    stmt = select(DialerRecord.id).where(
        DialerRecord.list_id != list_id,
        DialerRecord.attachments.contains(token, autoescape=True),
    )
    return session.scalar(stmt.limit(1)) is not None


def delete_list(dialer_list: DialerList, actor: str) -> DeleteResult:
    """Delete a list that is not sending, with its records and the attached files
    no other list names (commits, then removes the files)."""
    session = get_state().session
    # Locked, so a Play pressed meanwhile waits and then finds the list gone.
    session.refresh(dialer_list, with_for_update=True)
    name = dialer_list.name
    if dialer_list.state == "active":
        return DeleteResult(
            False, _("The list %(name)s is running: stop it before deleting it.", name=name)
        )
    sending = session.scalar(
        select(func.count(DialerRecord.id)).where(
            DialerRecord.list_id == dialer_list.id, DialerRecord.state == "sending"
        )
    )
    if sending:
        return DeleteResult(
            False,
            _(
                "The list %(name)s still has %(num)s message(s) being sent: "
                "try again in a moment, when the worker has finished them.",
                name=name,
                num=sending,
            ),
        )
    uploads = [
        upload
        for upload in session.scalars(
            select(Upload).where(Upload.token.in_(_tokens_of(dialer_list.id)))
        )
        if not _used_elsewhere(upload.token, dialer_list.id)
    ]
    records = select(DialerRecord.id).where(DialerRecord.list_id == dialer_list.id)
    # SQLite enforces no foreign keys by default: a reply keeps its conversation, not the link.
    session.execute(
        update(Interaction)
        .where(Interaction.dialer_record_id.in_(records.scalar_subquery()))
        .values(dialer_record_id=None)
    )
    count = session.execute(
        delete(DialerRecord).where(DialerRecord.list_id == dialer_list.id)
    ).rowcount
    keys = [upload.storage_key for upload in uploads]
    for upload in uploads:
        session.delete(upload)
    session.delete(dialer_list)
    audit.record(actor, "dialer.list_delete", None, f"list {dialer_list.id} {name}")
    session.commit()
    # After the commit: a crash here leaves an orphan file, never a row without its file.
    for key in keys:
        with suppress(OSError, ValueError):
            storage.delete_stored(key)
    if keys:
        done = _(
            "List %(name)s deleted with its %(records)s record(s) and %(files)s attached "
            "file(s) no other list uses.",
            name=name,
            records=count,
            files=len(keys),
        )
    else:
        done = _("List %(name)s deleted with its %(records)s record(s).", name=name, records=count)
    return DeleteResult(True, done)
