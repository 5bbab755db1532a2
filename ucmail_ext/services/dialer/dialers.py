"""Dialers: their settings, play / stop per list, and the figures the screens show.

A dialer sends for one campaign (its SMTP account and its name, which the CSV's
campaign column must match), paced by the time between messages, inside its
schedules, with a default template and optionally a calendar invite whose title,
organizer and dates are fixed or ``${variable}`` taken from each row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import contains_eager

from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext as _
from ucmail_ext.mail.headers import is_valid_address
from ucmail_ext.mail.ics import parse_event_datetime
from ucmail_ext.models import (
    BlacklistEntry,
    Campaign,
    Dialer,
    DialerList,
    DialerRecord,
    Schedule,
    Template,
)
from ucmail_ext.services import audit, blacklist
from ucmail_ext.services.admin.campaigns import dialer_gap_for, parse_schedule, schedule_as_dict
from ucmail_ext.services.dialer import pacing, runners
from ucmail_ext.services.pagination import Page, paginate
from ucmail_ext.services.schedules import is_open, is_valid_zone

FORM_FIELDS = (
    "name",
    "campaign_id",
    "template_id",
    "seconds_between",
    "timezone",
    "max_error_streak",
    "event_title",
    "event_organizer_name",
    "event_organizer_email",
    "event_start",
    "event_end",
    "domain_limits",
)
BOOLEAN_FIELDS = ("event_enabled", "click_tracking")
MAX_SECONDS_BETWEEN = 86_400
_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
_ONE_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


@dataclass
class DialerResult:
    dialer: Dialer | None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    message: str


@dataclass(frozen=True)
class ListProgress:
    """One list's figures, as the progress graph and the monitoring screen show them."""

    list_id: int
    name: str
    state: str
    dialer_id: int
    dialer_name: str
    dialer_state: str
    pause_reason: str
    campaign_name: str
    on_schedule: bool
    total: int
    pending: int
    deferred: int
    sending: int
    sent: int
    failed: int
    rejected: int
    spam: int
    unsubscribed: int
    skipped: int
    seen: int
    # Left "sending" by a worker that died mid-send: fate unknown, re-sent only on request.
    interrupted: int = 0
    # Records whose mail had a tracked link clicked (dialers with click tracking).
    clicked: int = 0
    # "throttled by the relay, current rate N/min" while the relay sets the pace.
    pace_note: str = ""

    @property
    def not_processed(self) -> int:
        return self.pending + self.deferred + self.sending

    @property
    def processed(self) -> int:
        return self.total - self.not_processed

    @property
    def percent(self) -> float:
        return round(100.0 * self.processed / self.total, 1) if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            processed=self.processed, not_processed=self.not_processed, percent=self.percent
        )
        return data


def _session() -> Any:
    return get_state().session


# --------------------------------------------------------------------------- reading


def _visible(stmt: Any, visible: set[int] | None) -> Any:
    return stmt if visible is None else stmt.where(Dialer.campaign_id.in_(visible or {-1}))


def list_dialers(visible: set[int] | None) -> list[Dialer]:
    stmt = select(Dialer).where(Dialer.deleted_at.is_(None)).order_by(func.lower(Dialer.name))
    return list(_session().scalars(_visible(stmt, visible)))


def get_dialer(dialer_id: int, visible: set[int] | None) -> Dialer | None:
    dialer = _session().get(Dialer, dialer_id)
    if dialer is None or dialer.deleted_at is not None:
        return None
    if visible is not None and dialer.campaign_id not in visible:
        return None
    return dialer


def get_list(list_id: int, visible: set[int] | None) -> DialerList | None:
    dialer_list = _session().get(DialerList, list_id)
    if dialer_list is None or get_dialer(dialer_list.dialer_id, visible) is None:
        return None
    return dialer_list


def lists_of(dialer_id: int) -> list[DialerList]:
    stmt = (
        select(DialerList).where(DialerList.dialer_id == dialer_id).order_by(DialerList.id.desc())
    )
    return list(_session().scalars(stmt))


def campaign_of(dialer: Dialer) -> Campaign:
    campaign = _session().get(Campaign, dialer.campaign_id)
    assert campaign is not None  # a RESTRICT foreign key
    return campaign


def template_choices(visible: set[int] | None) -> list[Template]:
    stmt = select(Template).order_by(Template.name)
    if visible is not None:
        stmt = stmt.where(or_(Template.campaign_id.is_(None), Template.campaign_id.in_(visible)))
    return list(_session().scalars(stmt))


def schedules_of(dialer: Dialer) -> list[Schedule]:
    stmt = select(Schedule).where(Schedule.dialer_id == dialer.id).order_by(Schedule.id)
    return list(_session().scalars(stmt))


def dialer_values(dialer: Dialer | None) -> dict[str, Any]:
    """What the form shows for a stored dialer (or a new one)."""
    if dialer is None:
        return {
            "name": "",
            "campaign_id": None,
            "template_id": None,
            "seconds_between": "",
            "timezone": "UTC",
            "max_error_streak": str(current_app.config["UCMAIL_DIALER_MAX_ERRORS"]),
            "event_enabled": False,
            "event_title": "",
            "event_organizer_name": "",
            "event_organizer_email": "",
            "event_start": "",
            "event_end": "",
            "click_tracking": False,
            "domain_limits": "",
            "schedules": [],
        }
    values = {key: getattr(dialer, key) for key in FORM_FIELDS if key != "domain_limits"}
    values["click_tracking"] = dialer.click_tracking
    limits = pacing.domain_limits(_session(), dialer.id)
    values["domain_limits"] = pacing.format_domain_limits(limits)
    values["seconds_between"] = f"{dialer.seconds_between:g}"
    values["event_enabled"] = dialer.event_enabled
    values["schedules"] = [schedule_as_dict(s) for s in schedules_of(dialer)]
    return values


# --------------------------------------------------------------------------- validating


def _text(data: Mapping[str, Any], key: str, label: str, limit: int, errors: dict[str, str]) -> str:
    value = data.get(key)
    value = value.strip() if isinstance(value, str) else ""
    if len(value) > limit:
        errors[key] = _("%(label)s is longer than %(limit)s characters.", label=label, limit=limit)
    elif _CONTROL.search(value):
        errors[key] = _("%(label)s cannot contain line breaks or control characters.", label=label)
    return value


def _int_id(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _event_date(value: str, label: str, tz: str, key: str, errors: dict[str, str]) -> Any:
    if not value:
        errors[key] = _("%(label)s is required for a calendar event.", label=label)
        return None
    if _ONE_VARIABLE.fullmatch(value):
        return None
    try:
        return parse_event_datetime(value, tz)
    except ValueError as exc:
        errors[key] = _(
            "%(label)s: %(problem)s; or a ${variable} from the list.", label=label, problem=exc
        )
        return None


@dataclass(frozen=True)
class _Valid:
    columns: dict[str, Any]
    schedules: list[tuple[int, Any, Any]]
    domain_limits: dict[str, int] | None = None


def validate(
    data: Mapping[str, Any], visible: set[int] | None, current: Dialer | None = None
) -> tuple[_Valid | None, dict[str, str]]:
    errors: dict[str, str] = {}
    session = _session()
    campaign_id = _int_id(data.get("campaign_id"))
    campaign = session.get(Campaign, campaign_id) if campaign_id is not None else None
    if campaign is None or campaign.deleted_at is not None:
        errors["campaign_id"] = _("Choose the campaign this dialer sends for.")
        campaign = None
    elif visible is not None and campaign.id not in visible:
        errors["campaign_id"] = _("You cannot use this campaign.")
    elif current is not None and current.campaign_id != campaign.id and lists_of(current.id):
        errors["campaign_id"] = _(
            "This dialer has lists checked against its campaign; create a new dialer instead."
        )
    name = _text(data, "name", _("Name"), 120, errors) or (campaign.name if campaign else "")
    template_id = _int_id(data.get("template_id"))
    if template_id is not None:
        template = session.get(Template, template_id)
        if template is None or (
            template.campaign_id is not None and campaign and template.campaign_id != campaign.id
        ):
            errors["template_id"] = _("Choose a template of this campaign or a shared one.")
    raw_seconds = str(data.get("seconds_between") or "").strip().replace(",", ".")
    try:
        # Left empty on a new dialer: the pace its mail provider allows (the presets'
        # sending limits, e.g. Microsoft 365's 30 messages a minute).
        default = dialer_gap_for(campaign) if campaign and current is None else 0.0
        seconds = float(raw_seconds) if raw_seconds else default
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_SECONDS_BETWEEN or seconds != seconds:
        errors["seconds_between"] = _(
            "Time between messages is a number of seconds from 0 to %(max)s.",
            max=MAX_SECONDS_BETWEEN,
        )
    tz = _text(data, "timezone", _("Time zone"), 64, errors) or "UTC"
    if not is_valid_zone(tz):
        errors["timezone"] = _("Unknown time zone (use a name such as Europe/Madrid).")
    streak = _int_id(data.get("max_error_streak"))
    if streak is None or not 1 <= streak <= 10_000:
        errors["max_error_streak"] = _("Errors in a row before pausing: a number from 1 to 10000.")
        streak = int(current_app.config["UCMAIL_DIALER_MAX_ERRORS"])
    schedules = []
    items = data.get("schedules") or []
    if not isinstance(items, list | tuple) or len(items) > 50:
        errors["schedules"] = _("At most 50 schedules.")
        items = []
    for number, item in enumerate(items, start=1):
        spec, problem = parse_schedule(item)
        if spec is None:
            errors["schedules"] = _(
                "Schedule %(number)s: %(problem)s.", number=number, problem=problem
            )
            break
        schedules.append((spec.days_mask, spec.start_time, spec.end_time))

    enabled = bool(data.get("event_enabled"))
    event = {
        "event_title": _text(data, "event_title", _("Event title"), 255, errors),
        "event_organizer_name": _text(data, "event_organizer_name", _("Organizer"), 200, errors),
        "event_organizer_email": _text(
            data, "event_organizer_email", _("Organizer email"), 320, errors
        ),
        "event_start": _text(data, "event_start", _("Start date"), 64, errors),
        "event_end": _text(data, "event_end", _("End date"), 64, errors),
    }
    if enabled:
        if not event["event_title"]:
            errors["event_title"] = _("An event needs a title (text and ${variables}).")
        organizer = event["event_organizer_email"]
        if organizer and not (_ONE_VARIABLE.fullmatch(organizer) or is_valid_address(organizer)):
            errors["event_organizer_email"] = _(
                "The organizer is an email address or a ${variable} from the list."
            )
        start = _event_date(event["event_start"], _("Start date"), tz, "event_start", errors)
        end = _event_date(event["event_end"], _("End date"), tz, "event_end", errors)
        if start is not None and end is not None and end <= start:
            errors["event_end"] = _("The event must end after it starts.")
    # Left out (a JSON client that does not know them): the stored limits stay.
    limits: dict[str, int] | None = None
    if "domain_limits" in data:
        limits, problem = pacing.parse_domain_limits(str(data.get("domain_limits") or ""))
        if problem:
            errors["domain_limits"] = problem
    if errors:
        return None, errors
    columns = {
        "name": name,
        "campaign_id": campaign.id if campaign else None,
        "template_id": template_id,
        "seconds_between": seconds,
        "timezone": tz,
        "max_error_streak": streak,
        "event_enabled": enabled,
        "click_tracking": bool(
            data["click_tracking"]
            if "click_tracking" in data
            else (current.click_tracking if current else False)
        ),
        **event,
    }
    return _Valid(columns, schedules, limits), {}


def _write_schedules(dialer: Dialer, schedules: Iterable[tuple[int, Any, Any]]) -> None:
    session = _session()
    for old in schedules_of(dialer):
        session.delete(old)
    for days, start, end in schedules:
        session.add(Schedule(dialer_id=dialer.id, days_mask=days, start_time=start, end_time=end))


def save_dialer(
    data: Mapping[str, Any],
    visible: set[int] | None,
    actor: str,
    dialer_id: int | None = None,
) -> DialerResult:
    """Create (no ``dialer_id``) or update a dialer; commits when valid."""
    session = _session()
    current = None
    if dialer_id is not None:
        current = get_dialer(dialer_id, visible)
        if current is None:
            return DialerResult(None, {"dialer": "This dialer no longer exists."})
    valid, errors = validate(data, visible, current)
    if valid is None:
        session.rollback()
        return DialerResult(current, errors)
    dialer = current or Dialer(state="stopped")
    for key, value in valid.columns.items():
        setattr(dialer, key, value)
    if current is None:
        session.add(dialer)
    session.flush()
    _write_schedules(dialer, valid.schedules)
    if valid.domain_limits is not None:
        pacing.set_domain_limits(session, dialer.id, valid.domain_limits)
    audit.record(actor, "dialer.save", None, f"dialer {dialer.id} {dialer.name}")
    session.commit()
    return DialerResult(dialer)


def delete_dialer(dialer_id: int, visible: set[int] | None, actor: str) -> ActionResult:
    dialer = get_dialer(dialer_id, visible)
    if dialer is None:
        return ActionResult(False, _("This dialer no longer exists."))
    session = _session()
    dialer.deleted_at = datetime.now(UTC)
    dialer.state = "stopped"
    session.execute(
        update(DialerList)
        .where(DialerList.dialer_id == dialer.id, DialerList.state == "active")
        .values(state="inactive")
    )
    audit.record(actor, "dialer.delete", None, f"dialer {dialer.id} {dialer.name}")
    session.commit()
    return ActionResult(True, _("Dialer %(name)s deleted.", name=dialer.name))


# --------------------------------------------------------------------------- play / stop


def play_list(list_id: int, visible: set[int] | None, actor: str) -> ActionResult:
    """Start (or resume) sending a list; also lifts an error pause of its dialer."""
    session = _session()
    dialer_list = get_list(list_id, visible)
    if dialer_list is None:
        return ActionResult(False, _("This list no longer exists."))
    dialer = dialer_list.dialer
    campaign = session.get(Campaign, dialer.campaign_id)
    if campaign is None or campaign.deleted_at is not None:
        return ActionResult(False, _("The dialer's campaign was deleted."))
    if not campaign.enabled:
        return ActionResult(False, _("The campaign %(name)s is disabled.", name=campaign.name))
    unfinished = session.scalar(
        select(func.count(DialerRecord.id)).where(
            DialerRecord.list_id == dialer_list.id,
            DialerRecord.state.in_(("pending", "deferred", "sending")),
        )
    )
    if not unfinished:
        return ActionResult(False, _("Nothing left to send in this list."))
    now = datetime.now(UTC)
    dialer_list.state = "active"
    dialer_list.finished_at = None
    dialer_list.started_at = dialer_list.started_at or now
    dialer_list.heartbeat_at = now
    dialer.state = "running"
    dialer.pause_reason = ""
    dialer.error_streak = 0
    audit.record(actor, "dialer.play", None, f"list {dialer_list.id} {dialer_list.name}")
    session.commit()
    runners.start(dialer_list.id, list(range(runners.runners_per_list(session))), force=True)
    return ActionResult(True, _("Sending %(name)s.", name=dialer_list.name))


def stop_list(list_id: int, visible: set[int] | None, actor: str) -> ActionResult:
    """Workers see it at their next check, at most half a second later."""
    session = _session()
    dialer_list = get_list(list_id, visible)
    if dialer_list is None:
        return ActionResult(False, _("This list no longer exists."))
    if dialer_list.state == "active":
        dialer_list.state = "inactive"
    dialer = dialer_list.dialer
    others = session.scalar(
        select(func.count(DialerList.id)).where(
            DialerList.dialer_id == dialer.id,
            DialerList.state == "active",
            DialerList.id != dialer_list.id,
        )
    )
    if not others and dialer.state == "running":
        dialer.state = "stopped"
    audit.record(actor, "dialer.stop", None, f"list {dialer_list.id} {dialer_list.name}")
    session.commit()
    return ActionResult(True, _("Stopped %(name)s.", name=dialer_list.name))


# --------------------------------------------------------------------------- figures


def _counts(list_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {list_id: {} for list_id in list_ids}
    if not list_ids:
        return counts
    rows = _session().execute(
        select(
            DialerRecord.list_id,
            DialerRecord.state,
            func.count(DialerRecord.id),
            func.count(DialerRecord.sent_at),
            func.count(DialerRecord.seen_at),
            func.count(DialerRecord.clicked_at),
        )
        .where(DialerRecord.list_id.in_(list_ids))
        .group_by(DialerRecord.list_id, DialerRecord.state)
    )
    for list_id, state, total, sent, seen, clicked in rows:
        bucket = counts[list_id]
        bucket[state] = bucket.get(state, 0) + total
        bucket["_total"] = bucket.get("_total", 0) + total
        bucket["_delivered"] = bucket.get("_delivered", 0) + sent
        bucket["_seen"] = bucket.get("_seen", 0) + seen
        bucket["_clicked"] = bucket.get("_clicked", 0) + clicked
    return counts


def _progress(
    dialer_list: DialerList,
    counts: dict[str, int],
    campaign: Campaign | None,
    open_now: bool,
    domain_note: str = "",
) -> ListProgress:
    dialer = dialer_list.dialer
    relay_note = pacing.note(
        dialer.state, float(dialer.seconds_between or 0), float(dialer.pace_interval or 0)
    )
    if dialer.state != "running":
        domain_note = ""
    return ListProgress(
        list_id=dialer_list.id,
        name=dialer_list.name,
        state=dialer_list.state,
        dialer_id=dialer.id,
        dialer_name=dialer.name,
        dialer_state=dialer.state,
        pause_reason=dialer.pause_reason,
        campaign_name=campaign.name if campaign else "",
        on_schedule=open_now,
        total=counts.get("_total", 0),
        pending=counts.get("pending", 0),
        deferred=counts.get("deferred", 0),
        sending=counts.get("sending", 0),
        # Delivered by the server, whatever came back later (a bounce, a complaint).
        sent=counts.get("_delivered", 0),
        failed=counts.get("failed", 0),
        rejected=counts.get("rejected", 0),
        spam=counts.get("spam", 0),
        unsubscribed=counts.get("unsubscribed", 0),
        skipped=counts.get("skipped", 0),
        seen=counts.get("_seen", 0),
        interrupted=counts.get("interrupted", 0),
        clicked=counts.get("_clicked", 0),
        pace_note="; ".join(note for note in (relay_note, domain_note) if note),
    )


def dialers_open(dialers: Iterable[Dialer], now: datetime | None = None) -> dict[int, bool]:
    """Whether each dialer is inside its schedules now, with one query for all of them."""
    by_id = {dialer.id: dialer for dialer in dialers}
    windows: dict[int, list[Schedule]] = {dialer_id: [] for dialer_id in by_id}
    if by_id:
        stmt = select(Schedule).where(Schedule.dialer_id.in_(list(by_id)))
        for schedule in _session().scalars(stmt):
            windows[schedule.dialer_id].append(schedule)
    return {
        dialer_id: is_open(windows[dialer_id], dialer.timezone, now)
        for dialer_id, dialer in by_id.items()
    }


def progress_of(lists: list[DialerList]) -> list[ListProgress]:
    """The lists' figures in a fixed number of queries, however many dialers they span."""
    session = _session()
    counts = _counts([item.id for item in lists])
    dialers = {item.dialer_id: item.dialer for item in lists}
    campaign_ids = {dialer.campaign_id for dialer in dialers.values()}
    campaigns = {
        campaign.id: campaign
        for campaign in session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids)))
    }
    open_now = dialers_open(dialers.values())
    domain_notes = pacing.domain_notes(session, list(dialers))
    return [
        _progress(
            item,
            counts[item.id],
            campaigns.get(dialers[item.dialer_id].campaign_id),
            open_now[item.dialer_id],
            domain_notes.get(item.dialer_id, ""),
        )
        for item in lists
    ]


def list_progress(list_id: int, visible: set[int] | None) -> ListProgress | None:
    dialer_list = get_list(list_id, visible)
    return progress_of([dialer_list])[0] if dialer_list is not None else None


def monitor(
    visible: set[int] | None, campaign_id: int | None = None, limit: int = 200
) -> list[ListProgress]:
    """Per campaign and list: the dialer monitoring screen's rows, active lists first."""
    stmt = (
        select(DialerList)
        .join(Dialer, Dialer.id == DialerList.dialer_id)
        .join(Campaign, Campaign.id == Dialer.campaign_id)
        .options(contains_eager(DialerList.dialer))
        .where(Dialer.deleted_at.is_(None), Campaign.deleted_at.is_(None))
        .order_by((DialerList.state == "active").desc(), DialerList.id.desc())
        .limit(limit)
    )
    if campaign_id is not None:
        stmt = stmt.where(Dialer.campaign_id == campaign_id)
    stmt = _visible(stmt, visible)
    return progress_of(list(_session().scalars(stmt)))


# --------------------------------------------------------------------------- blacklist


def blacklist_page(query: str, page: int, per_page: int | None = None) -> Page[BlacklistEntry]:
    per_page = per_page or int(current_app.config["UCMAIL_PAGE_SIZE"])
    stmt = select(BlacklistEntry).order_by(BlacklistEntry.created_at.desc(), BlacklistEntry.id)
    query = (query or "").strip().lower()[:320]
    if query:
        stmt = stmt.where(BlacklistEntry.address.contains(query, autoescape=True))
    return paginate(_session(), stmt, page, per_page)


def blacklist_entry(entry_id: int) -> BlacklistEntry | None:
    return _session().get(BlacklistEntry, entry_id)


def blacklist_add(address: str, reason: str, actor: str) -> ActionResult:
    if _CONTROL.search(reason or ""):
        return ActionResult(False, _("The reason cannot contain line breaks."))
    try:
        entry = blacklist.add(address, "manual", (reason or "").strip()[:500], by=actor)
    except blacklist.BlacklistError as exc:
        return ActionResult(False, str(exc))
    audit.record(actor, "blacklist.add", None, entry.address)
    _session().commit()
    return ActionResult(True, _("%(address)s is on the blacklist.", address=entry.address))


def blacklist_remove(entry_id: int, actor: str) -> ActionResult:
    entry = blacklist_entry(entry_id)
    if entry is None:
        return ActionResult(False, _("This address is no longer on the blacklist."))
    address = entry.address
    _session().delete(entry)
    audit.record(actor, "blacklist.remove", None, address)
    _session().commit()
    return ActionResult(True, _("%(address)s was removed from the blacklist.", address=address))
