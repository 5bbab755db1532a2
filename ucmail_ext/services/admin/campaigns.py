"""Campaign administration: one validation for the form and the JSON API.

The HTML form and the API hand in the same plain dict, so they can never disagree
on what a valid campaign is. Saving validates every field first, then tries the
SMTP and IMAP logins for real (spec: a campaign whose password is wrong is not
created), then writes everything in one transaction: nothing is ever saved half.

The mailbox password is write-only: it is encrypted before it touches a model,
never serialized, never logged, and an empty password on edit keeps the stored one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from flask import current_app
from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError

from ucmail_ext.crypto import DecryptionError, decrypt_secret, encrypt_secret
from ucmail_ext.extension import get_state
from ucmail_ext.i18n import LANGUAGE_NAMES, gettext, lazy_gettext
from ucmail_ext.mail import imap as imap_transport
from ucmail_ext.mail import smtp as smtp_transport
from ucmail_ext.mail.headers import is_valid_address
from ucmail_ext.models import Campaign, Dialer, DialerList, Schedule, Template, utcnow
from ucmail_ext.models.campaign import SECURITY_MODES, STRATEGIES
from ucmail_ext.services import audit
from ucmail_ext.services.access import can_see_campaign
from ucmail_ext.services.admin.templates import (
    templates_for_campaign,
    unfillable_variables,
    variables_message,
)
from ucmail_ext.services.desk import dispositions
from ucmail_ext.services.mailboxes import imap_settings, login_name, smtp_settings
from ucmail_ext.services.oauth import campaign as oauth_campaign
from ucmail_ext.services.pagination import Page, paginate
from ucmail_ext.services.schedules import DAY_NAMES, is_valid_zone

log = logging.getLogger(__name__)

BOOLEAN_FIELDS = (
    "enabled",
    "receive_emails",
    "autoreply_enabled",
    "rating_enabled",
    "disposition_required",
)
SECURITY_LABELS = {"starttls": "TLS (STARTTLS)", "ssl": "SSL", "none": lazy_gettext("None")}
# What the admin sets (the form's fields, the API's writable keys), besides
# "password" and "schedules".
FORM_FIELDS = (
    "name",
    "service_level_seconds",
    "strategy",
    "timezone",
    "language",
    "from_name",
    "email_address",
    "username",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_connections",
    "imap_host",
    "imap_port",
    "imap_security",
    "imap_folder",
    "enabled",
    "receive_emails",
    "max_per_agent",
    "max_in_queue",
    "signature_template_id",
    "autoreply_enabled",
    "autoreply_template_id",
    "rating_enabled",
    "rating_motivation",
    "rating_thanks",
    "threshold_warning_seconds",
    "threshold_critical_seconds",
    "dispositions",
    "disposition_required",
    "offline_requeue_minutes",
    "auth_method",
    "oauth_provider",
)
# Keys of campaign_as_dict an API client may send back unchanged; they are ignored.
READ_ONLY_FIELDS = frozenset(
    {
        "id",
        "has_password",
        "oauth_connected",
        "oauth_account",
        "oauth_error",
        "smtp_status",
        "imap_status",
        "checked_at",
        "created_at",
    }
)
STATUS_GREEN, STATUS_RED, STATUS_UNKNOWN = "green", "red", "unknown"
# Where the stored password was typed for. Any other server must get a typed one:
# else whoever can edit a campaign could point it at their own host and collect it.
SERVER_FIELDS = (
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "imap_host",
    "imap_port",
    "imap_security",
)
RETYPE_PASSWORD = lazy_gettext("Type the password again: the server changed since it was saved.")

_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
_HOST = re.compile(r"[A-Za-z0-9\[][A-Za-z0-9._:\[\]-]*")
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)(?::00)?")
_TRUE = {"1", "true", "on", "yes", "y"}
_FALSE = {"0", "false", "off", "no", "n", ""}
_MISSING = object()


@dataclass(frozen=True)
class Preset:
    """Server settings a provider documents, filled in by one click."""

    label: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    imap_host: str
    imap_port: int
    imap_security: str
    auth_method: str = ""
    oauth_kind: str = ""
    sending_limit: str = ""
    # A dialer pace that stays inside the sending limit.
    dialer_gap_seconds: float = 0.0


PRESETS: dict[str, Preset] = {
    "gmail": Preset("Gmail", "smtp.gmail.com", 587, "starttls", "imap.gmail.com", 993, "ssl"),
    "outlook": Preset(
        "Outlook", "smtp.office365.com", 587, "starttls", "outlook.office365.com", 993, "ssl"
    ),
    # learn.microsoft.com "Exchange Online limits": 30 messages a minute, 10,000
    # recipients a day; passwords are refused for IMAP, so OAuth2.
    "microsoft365": Preset(
        "Microsoft 365 (OAuth2)",
        "smtp.office365.com",
        587,
        "starttls",
        "outlook.office365.com",
        993,
        "ssl",
        auth_method="oauth2",
        oauth_kind="microsoft",
        sending_limit=lazy_gettext("30 messages a minute, 10,000 recipients a day"),
        dialer_gap_seconds=2.0,
    ),
    # support.google.com/a/answer/166852: 2,000 messages a day per Workspace user.
    "google": Preset(
        "Google Workspace (OAuth2)",
        "smtp.gmail.com",
        587,
        "starttls",
        "imap.gmail.com",
        993,
        "ssl",
        auth_method="oauth2",
        oauth_kind="google",
        sending_limit=lazy_gettext("2,000 messages a day per user (500 for a free Gmail account)"),
        dialer_gap_seconds=3.0,
    ),
}


def dialer_gap_for(campaign: Campaign) -> float:
    """The default time between dialer messages for a campaign on a preset's servers."""
    for preset in PRESETS.values():
        if preset.dialer_gap_seconds and campaign.smtp_host.lower() == preset.smtp_host:
            return preset.dialer_gap_seconds
    return 0.0


@dataclass(frozen=True)
class ScheduleSpec:
    days_mask: int
    start_time: time
    end_time: time


@dataclass(frozen=True)
class ConnectionStatus:
    """One protocol's check: green or red, with the server's own words."""

    status: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status == STATUS_GREEN


@dataclass(frozen=True)
class CampaignValues:
    """A validated campaign: every column the admin sets, ready to write."""

    columns: dict[str, Any]
    schedules: tuple[ScheduleSpec, ...]
    # None keeps the stored password (an empty field on edit).
    password: str | None = field(default=None, repr=False)


@dataclass
class CampaignResult:
    """What a save, check or delete did; ``errors`` maps field name to message."""

    campaign: Campaign | None
    errors: dict[str, str] = field(default_factory=dict)
    smtp: ConnectionStatus | None = None
    imap: ConnectionStatus | None = None
    # Saved, but worth a second look (another campaign reads the same mailbox).
    warnings: list[str] = field(default_factory=list)
    # The check exercised the saved logins, so its outcome is now the campaign's status.
    status_stored: bool = False
    # Names of the campaign's dialers (a delete refuses, or removed them).
    dialers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class CampaignNotFound(LookupError):
    """No live campaign has this id (never created, or deleted)."""


def _session() -> Any:
    return get_state().session


# --------------------------------------------------------------------------- reading


def get_campaign(campaign_id: int) -> Campaign:
    campaign = _session().get(Campaign, campaign_id)
    if campaign is None or campaign.deleted_at is not None:
        raise CampaignNotFound(f"no campaign {campaign_id}")
    return campaign


def visible_campaign(campaign_id: int) -> Campaign:
    """The live campaign if the current user may see it (services/access); else
    CampaignNotFound, exactly like a missing one, so ids cannot be probed."""
    if not can_see_campaign(campaign_id):
        raise CampaignNotFound(f"no campaign {campaign_id}")
    return get_campaign(campaign_id)


def _live(visible: Collection[int] | None) -> Select[tuple[Campaign]]:
    """Live campaigns, limited to ``visible`` ids (None: all, as services/access says)."""
    stmt = select(Campaign).where(Campaign.deleted_at.is_(None))
    if visible is not None:
        stmt = stmt.where(Campaign.id.in_(list(visible)))
    return stmt.order_by(func.lower(Campaign.name), Campaign.id)


def live_campaigns(visible: Collection[int] | None = None) -> list[Campaign]:
    return list(_session().scalars(_live(visible)))


def list_campaigns(
    page: int = 1, per_page: int | None = None, visible: Collection[int] | None = None
) -> Page[Campaign]:
    per_page = per_page or int(current_app.config["UCMAIL_PAGE_SIZE"])
    return paginate(_session(), _live(visible), page, per_page)


def schedule_as_dict(schedule: Schedule | ScheduleSpec) -> dict[str, Any]:
    return {
        "id": getattr(schedule, "id", None),
        "days": [day for day in range(7) if schedule.days_mask & (1 << day)],
        "start": schedule.start_time.strftime("%H:%M"),
        "end": schedule.end_time.strftime("%H:%M"),
    }


def campaign_as_dict(campaign: Campaign) -> dict[str, Any]:
    """The JSON shape of a campaign: never the password, only whether one is set."""
    return {
        "id": campaign.id,
        "name": campaign.name,
        "service_level_seconds": campaign.service_level_seconds,
        "strategy": campaign.strategy,
        "timezone": campaign.timezone,
        "language": campaign.language,
        "schedules": [schedule_as_dict(s) for s in campaign.schedules],
        "from_name": campaign.from_name,
        "email_address": campaign.email_address,
        "username": campaign.username,
        "has_password": bool(campaign.password_encrypted),
        "smtp_host": campaign.smtp_host,
        "smtp_port": campaign.smtp_port,
        "smtp_security": campaign.smtp_security,
        "smtp_connections": campaign.smtp_connections,
        "imap_host": campaign.imap_host,
        "imap_port": campaign.imap_port,
        "imap_security": campaign.imap_security,
        "imap_folder": campaign.imap_folder,
        "enabled": campaign.enabled,
        "receive_emails": campaign.receive_emails,
        "max_per_agent": campaign.max_per_agent,
        "max_in_queue": campaign.max_in_queue,
        "signature_template_id": campaign.signature_template_id,
        "autoreply_enabled": campaign.autoreply_enabled,
        "autoreply_template_id": campaign.autoreply_template_id,
        "rating_enabled": campaign.rating_enabled,
        "rating_motivation": campaign.rating_motivation,
        "rating_thanks": campaign.rating_thanks,
        "threshold_warning_seconds": campaign.threshold_warning_seconds,
        "threshold_critical_seconds": campaign.threshold_critical_seconds,
        "dispositions": campaign.dispositions,
        "disposition_required": campaign.disposition_required,
        "offline_requeue_minutes": campaign.offline_requeue_minutes,
        "smtp_status": {"status": campaign.smtp_status, "message": campaign.smtp_status_message},
        "imap_status": {"status": campaign.imap_status, "message": campaign.imap_status_message},
        "checked_at": campaign.checked_at.isoformat() if campaign.checked_at else None,
        "created_at": campaign.created_at.isoformat() if campaign.created_at else None,
        **oauth_campaign.as_dict(campaign),
    }


def default_values() -> dict[str, Any]:
    """What a new campaign's form starts with: the model's column defaults."""
    values: dict[str, Any] = {key: "" for key in FORM_FIELDS}
    for column in Campaign.__table__.columns:
        if column.key in values and column.default is not None:
            values[column.key] = column.default.arg
    values.update(
        signature_template_id=None, autoreply_template_id=None, schedules=[], has_password=False
    )
    return values


def status_as_dict(status: ConnectionStatus | None) -> dict[str, str] | None:
    return None if status is None else {"status": status.status, "message": status.message}


# --------------------------------------------------------------------------- validation


class _Reader:
    """Reads one field at a time; a field the data leaves out keeps its current value.

    That gives the JSON API partial updates for free, while the HTML form, which
    always sends every field, replaces them all.
    """

    def __init__(self, data: Mapping[str, Any], current: Campaign | None) -> None:
        self.data = data
        self.current = current
        self.errors: dict[str, str] = {}

    def raw(self, key: str, default: Any) -> Any:
        if key in self.data:
            return self.data[key]
        if self.current is not None:
            return getattr(self.current, key)
        return default

    def text(self, key: str, label: str, max_len: int, default: str = "") -> str:
        value = self.raw(key, default)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.errors[key] = gettext("%(label)s must be text.", label=label)
            return ""
        value = value.strip()
        if len(value) > max_len:
            self.errors[key] = gettext(
                "%(label)s is longer than %(max)s characters.", label=label, max=max_len
            )
        elif _CONTROL.search(value):
            self.errors[key] = gettext(
                "%(label)s cannot contain line breaks or control characters.", label=label
            )
        return value

    def long_text(self, key: str, label: str, max_len: int) -> str:
        value = self.raw(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.errors[key] = gettext("%(label)s must be text.", label=label)
            return ""
        if len(value) > max_len:
            self.errors[key] = gettext(
                "%(label)s is longer than %(max)s characters.", label=label, max=max_len
            )
        if "\x00" in value:
            self.errors[key] = gettext("%(label)s cannot contain NUL characters.", label=label)
        return value.strip()

    def integer(self, key: str, label: str, low: int, high: int, default: int) -> int:
        value = self.raw(key, default)
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            number = int(value.strip())
        else:
            number = None
        if number is None:
            self.errors[key] = gettext("%(label)s must be a whole number.", label=label)
            return default
        if not low <= number <= high:
            self.errors[key] = gettext(
                "%(label)s must be between %(low)s and %(high)s.", label=label, low=low, high=high
            )
        return number

    def boolean(self, key: str, label: str, default: bool) -> bool:
        value = self.raw(key, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        self.errors[key] = gettext("%(label)s must be true or false.", label=label)
        return default

    def choice(self, key: str, label: str, choices: Sequence[str], default: str) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or value.strip().lower() not in choices:
            self.errors[key] = gettext(
                "%(label)s must be one of: %(choices)s.", label=label, choices=", ".join(choices)
            )
            return default
        return value.strip().lower()

    def optional_id(self, key: str, label: str) -> int | None:
        value = self.raw(key, None)
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        self.errors[key] = gettext("%(label)s is not a valid choice.", label=label)
        return None


def _parse_time(value: Any) -> time | None:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if not isinstance(value, str):
        return None
    match = _TIME.fullmatch(value.strip())
    return time(int(match.group(1)), int(match.group(2))) if match else None


def _parse_days(value: Any) -> int | None:
    """A days mask from [0..6], day names ("mon"), or the mask itself."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 < value < 128 else None
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    if not isinstance(value, (list, tuple)):
        return None
    names = [name.lower() for name in DAY_NAMES]
    mask = 0
    for item in value:
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item.strip())
        if isinstance(item, str) and item.strip().lower()[:3] in names:
            item = names.index(item.strip().lower()[:3])
        if not isinstance(item, int) or isinstance(item, bool) or not 0 <= item <= 6:
            return None
        mask |= 1 << item
    return mask or None


def parse_schedule(item: Any) -> tuple[ScheduleSpec | None, str | None]:
    """One schedule row from ``{"days": [...], "start": "HH:MM", "end": "HH:MM"}``."""
    if not isinstance(item, Mapping):
        return None, gettext("must have days, start and end")
    days = _parse_days(item.get("days", item.get("days_mask")))
    start, end = _parse_time(item.get("start")), _parse_time(item.get("end"))
    if days is None:
        return None, gettext("pick at least one day of the week")
    if start is None or end is None:
        return None, gettext("start and end must be times like 09:00")
    if start == end:
        return None, gettext("start and end must differ")
    return ScheduleSpec(days, start, end), None


def _schedules(reader: _Reader) -> tuple[ScheduleSpec, ...]:
    if "schedules" not in reader.data:
        current = reader.current.schedules if reader.current is not None else []
        return tuple(ScheduleSpec(s.days_mask, s.start_time, s.end_time) for s in current)
    items = reader.data["schedules"]
    if items is None:
        items = []
    if not isinstance(items, (list, tuple)) or len(items) > 50:
        reader.errors["schedules"] = gettext("Schedules must be a list of at most 50 time ranges.")
        return ()
    specs = []
    for number, item in enumerate(items, start=1):
        spec, problem = parse_schedule(item)
        if spec is None:
            reader.errors["schedules"] = gettext(
                "Schedule %(number)s: %(problem)s.", number=number, problem=problem
            )
            return ()
        specs.append(spec)
    return tuple(specs)


def _host(reader: _Reader, key: str, label: str, required: bool) -> str:
    value = reader.text(key, label, 255)
    if key in reader.errors:
        return value
    if not value:
        if required:
            reader.errors[key] = gettext("%(label)s is required.", label=label)
    elif not _HOST.fullmatch(value):
        reader.errors[key] = gettext("%(label)s is not a valid host name.", label=label)
    return value


def _password(reader: _Reader) -> str | None:
    value = reader.data.get("password")
    if value is None or value == "":
        if reader.current is None or not reader.current.password_encrypted:
            reader.errors["password"] = gettext("Password is required.")
        return None
    if not isinstance(value, str):
        reader.errors["password"] = gettext("Password must be text.")
        return None
    if len(value) > 1024 or any(ch in value for ch in "\r\n\x00"):
        # Never quote the value: it is the secret itself.
        reader.errors["password"] = gettext(
            "Password cannot contain line breaks or NUL characters."
        )
        return None
    return value


def _server_changed(columns: Mapping[str, Any], current: Campaign) -> bool:
    """True when the proposed servers or login differ from what the password was saved for."""
    for key in SERVER_FIELDS:
        new, old = columns.get(key), getattr(current, key)
        if isinstance(new, str) and isinstance(old, str):
            new, old = new.lower(), old.lower()
        if new != old:
            return True
    return (columns.get("username") or columns.get("email_address")) != login_name(current)


def _name_taken(name: str, current: Campaign | None) -> bool:
    stmt = select(Campaign.id).where(
        Campaign.deleted_at.is_(None), func.lower(Campaign.name) == name.lower()
    )
    if current is not None:
        stmt = stmt.where(Campaign.id != current.id)
    return _session().scalar(stmt.limit(1)) is not None


def _check_template(
    reader: _Reader, key: str, label: str, allowed: Mapping[int, Template], kind: str
) -> int | None:
    """One of this campaign's templates, using only the variables ``kind`` can fill."""
    template_id = reader.optional_id(key, label)
    if template_id is None or key in reader.errors:
        return template_id
    template = allowed.get(template_id)
    if template is None:
        reader.errors[key] = gettext("%(label)s is not a template of this campaign.", label=label)
        return template_id
    bad = unfillable_variables(kind, template.subject, template.body_html, template.body_text)
    if bad:
        reader.errors[key] = variables_message(kind, bad)
    return template_id


def validate_campaign(
    data: Mapping[str, Any], current: Campaign | None = None
) -> tuple[CampaignValues | None, dict[str, str]]:
    """Every rule a campaign must meet, for the form and the API alike."""
    if not isinstance(data, Mapping):
        return None, {"campaign": gettext("Send the campaign's fields as an object.")}
    r = _Reader(data, current)
    known = {*FORM_FIELDS, "password", "schedules", *READ_ONLY_FIELDS}
    for key in data:
        if key not in known:
            r.errors[str(key)[:64]] = gettext("Unknown field.")
    receive = r.boolean("receive_emails", lazy_gettext("Receive emails"), True)
    columns: dict[str, Any] = {
        "name": r.text("name", lazy_gettext("Name"), 120),
        "service_level_seconds": r.integer(
            "service_level_seconds", lazy_gettext("Service level"), 1, 30 * 86400, 3600
        ),
        "strategy": r.choice("strategy", lazy_gettext("Strategy"), STRATEGIES, "rrmemory"),
        "timezone": r.text("timezone", lazy_gettext("Time zone"), 64, "UTC") or "UTC",
        "language": r.choice("language", lazy_gettext("Language"), tuple(LANGUAGE_NAMES), "en"),
        "from_name": r.text("from_name", lazy_gettext("From name"), 200),
        "email_address": r.text("email_address", lazy_gettext("Account"), 254),
        "username": r.text("username", lazy_gettext("Login name"), 320),
        "smtp_host": _host(r, "smtp_host", lazy_gettext("SMTP host"), True),
        "smtp_port": r.integer("smtp_port", lazy_gettext("SMTP port"), 1, 65535, 587),
        "smtp_security": r.choice(
            "smtp_security", lazy_gettext("SMTP security"), SECURITY_MODES, "starttls"
        ),
        "smtp_connections": r.integer(
            "smtp_connections", lazy_gettext("SMTP connections"), 1, 50, 1
        ),
        "imap_host": _host(r, "imap_host", lazy_gettext("IMAP host"), receive),
        "imap_port": r.integer("imap_port", lazy_gettext("IMAP port"), 1, 65535, 993),
        "imap_security": r.choice(
            "imap_security", lazy_gettext("IMAP security"), SECURITY_MODES, "ssl"
        ),
        "imap_folder": r.text("imap_folder", lazy_gettext("IMAP folder"), 255, "INBOX") or "INBOX",
        "enabled": r.boolean("enabled", lazy_gettext("Enabled"), True),
        "receive_emails": receive,
        "max_per_agent": r.integer(
            "max_per_agent", lazy_gettext("Max interactions per agent"), 1, 1000, 3
        ),
        "max_in_queue": r.integer(
            "max_in_queue", lazy_gettext("Max interactions in queue"), 0, 10**7, 0
        ),
        "autoreply_enabled": r.boolean("autoreply_enabled", lazy_gettext("Auto-reply"), False),
        "rating_enabled": r.boolean("rating_enabled", lazy_gettext("Rating"), False),
        "rating_motivation": r.text("rating_motivation", lazy_gettext("Motivation to rate"), 255),
        "rating_thanks": r.long_text("rating_thanks", lazy_gettext("Thanks for rating"), 10_000),
        "threshold_warning_seconds": r.integer(
            "threshold_warning_seconds", lazy_gettext("Warning threshold"), 0, 30 * 86400, 0
        ),
        "threshold_critical_seconds": r.integer(
            "threshold_critical_seconds", lazy_gettext("Critical threshold"), 0, 30 * 86400, 0
        ),
        "dispositions": r.long_text("dispositions", lazy_gettext("Close reasons"), 10_000),
        "disposition_required": r.boolean(
            "disposition_required", lazy_gettext("Close reason required"), False
        ),
        "offline_requeue_minutes": r.integer(
            "offline_requeue_minutes",
            lazy_gettext("Requeue after offline (minutes)"),
            0,
            7 * 24 * 60,
            0,
        ),
    }
    columns["dispositions"], reasons_error = dispositions.check_list(columns["dispositions"])
    if reasons_error:
        r.errors.setdefault("dispositions", reasons_error)
    if columns["disposition_required"] and not dispositions.parse(columns["dispositions"]):
        r.errors.setdefault(
            "disposition_required", gettext("List the close reasons to require one.")
        )
    allowed = {t.id: t for t in templates_for_campaign(current.id if current else None)}
    columns["signature_template_id"] = _check_template(
        r, "signature_template_id", lazy_gettext("Signature template"), allowed, "signature"
    )
    columns["autoreply_template_id"] = _check_template(
        r, "autoreply_template_id", lazy_gettext("Auto-reply template"), allowed, "autoreply"
    )
    schedules = _schedules(r)
    password = _password(r)
    columns.update(oauth_campaign.form_columns(data, current, r.errors))
    if columns["auth_method"] == "oauth2" and password is None:
        r.errors.pop("password", None)  # OAuth2 logs in with the connected account

    errors = r.errors
    if not columns["name"] and "name" not in errors:
        errors["name"] = gettext("Name is required.")
    elif "name" not in errors and _name_taken(columns["name"], current):
        errors["name"] = gettext("Another campaign already has this name.")
    if "timezone" not in errors and not is_valid_zone(columns["timezone"]):
        errors["timezone"] = gettext("Unknown time zone (use a name like Europe/Madrid).")
    if "email_address" not in errors and not is_valid_address(columns["email_address"]):
        errors["email_address"] = gettext(
            "Account must be an email address like support@example.com."
        )
    if (
        password is None
        and columns["auth_method"] == "password"
        and current is not None
        and current.password_encrypted
        and "password" not in errors
        and _server_changed(columns, current)
    ):
        errors["password"] = str(RETYPE_PASSWORD)
    if (
        columns["auth_method"] == "oauth2"
        and current is not None
        and _server_changed(columns, current)
    ):
        # Like the password: a token only goes to the servers it was connected for,
        # else an edit could send it to any host. Connect the account again.
        columns.update(oauth_campaign.TOKEN_COLUMNS)
    if columns["autoreply_enabled"] and columns["autoreply_template_id"] is None:
        errors.setdefault(
            "autoreply_template_id", gettext("Pick the template the auto-reply sends.")
        )
    warning, critical = columns["threshold_warning_seconds"], columns["threshold_critical_seconds"]
    if warning and critical and critical < warning:
        errors.setdefault(
            "threshold_critical_seconds",
            gettext("The critical threshold must not be below the warning."),
        )
    if errors:
        return None, errors
    return CampaignValues(columns, schedules, password), {}


# --------------------------------------------------------------------------- connection check


def _probe(values: CampaignValues, current: Campaign | None) -> Campaign:
    """A transient campaign with the proposed settings, never added to the session."""
    probe = Campaign(**values.columns)
    if current is not None:
        oauth_campaign.copy_consent(probe, current)
    if values.password is not None:
        probe.password_encrypted = encrypt_secret(values.password)
    elif current is not None:
        probe.password_encrypted = current.password_encrypted
    return probe


def run_checks(campaign: Campaign) -> tuple[ConnectionStatus, ConnectionStatus]:
    """Log in to SMTP (and to IMAP when the campaign receives mail), both at once."""
    if oauth_campaign.needs_consent(campaign):
        unknown = ConnectionStatus(STATUS_UNKNOWN, oauth_campaign.NOT_CONNECTED)
        return unknown, unknown
    timeout = float(current_app.config["UCMAIL_CHECK_TIMEOUT"])
    smtp_config = smtp_settings(campaign, timeout=timeout)
    imap_config = imap_settings(campaign, timeout=timeout) if campaign.receive_emails else None
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ucmail-check") as pool:
        smtp_future = pool.submit(smtp_transport.check_login, smtp_config)
        imap_future = pool.submit(imap_transport.check_login, imap_config) if imap_config else None
        smtp_result = smtp_future.result()
        imap_result = imap_future.result() if imap_future else None
    smtp = ConnectionStatus(STATUS_GREEN if smtp_result.ok else STATUS_RED, smtp_result.message)
    if imap_result is None:
        imap = ConnectionStatus(STATUS_UNKNOWN, gettext("Not checked: receive emails is off."))
    else:
        imap = ConnectionStatus(STATUS_GREEN if imap_result.ok else STATUS_RED, imap_result.message)
    return smtp, imap


def _check_errors(smtp: ConnectionStatus, imap: ConnectionStatus) -> dict[str, str]:
    errors = {}
    if smtp.status == STATUS_RED:
        errors["smtp"] = smtp.message
    if imap.status == STATUS_RED:
        errors["imap"] = imap.message
    return errors


def _store_status(campaign: Campaign, smtp: ConnectionStatus, imap: ConnectionStatus) -> None:
    campaign.smtp_status, campaign.smtp_status_message = smtp.status, smtp.message
    campaign.imap_status, campaign.imap_status_message = imap.status, imap.message
    campaign.checked_at = utcnow()


def _check_detail(
    campaign_id: int | None, probe: Campaign, smtp: ConnectionStatus, imap: ConnectionStatus
) -> str:
    """Which campaign, which servers, as whom, and the outcome: never the password."""
    imap_part = (
        f"imap {probe.imap_host}:{probe.imap_port} ({probe.imap_security}) {imap.status}"
        if probe.receive_emails
        else "imap not checked"
    )
    return (
        f"campaign {campaign_id if campaign_id is not None else 'new'}: "
        f"smtp {probe.smtp_host}:{probe.smtp_port} ({probe.smtp_security}) {smtp.status}; "
        f"{imap_part}; login {login_name(probe)}"
    )[:2000]


def _audit_alone(actor_id: str, action: str, detail: str) -> None:
    """An audit line committed on its own: the check it records saved nothing."""
    session = _session()
    try:
        audit.record(actor_id, action, detail=detail)
        session.commit()
    except Exception:
        session.rollback()
        raise


def _checked_saved_settings(values: CampaignValues, current: Campaign | None) -> bool:
    """The check exercised exactly the saved logins, so its outcome is the campaign's."""
    if current is None or _server_changed(values.columns, current):
        return False
    if current.receive_emails != values.columns["receive_emails"]:
        return False
    if values.password is None:
        return True
    try:
        return decrypt_secret(current.password_encrypted) == values.password
    except DecryptionError:
        return False


def check_values(
    data: Mapping[str, Any], campaign_id: int | None = None, *, actor_id: str
) -> CampaignResult:
    """ "Test connection" on what the form holds now.

    Nothing the admin typed is stored; but when the check exercised exactly the
    saved logins, its outcome is the campaign's status, shown in the list.
    """
    current = get_campaign(campaign_id) if campaign_id is not None else None
    values, errors = validate_campaign(data, current)
    if values is None:
        if errors.get("password") == RETYPE_PASSWORD:
            _audit_alone(
                actor_id,
                "campaign.check.refused",
                f"campaign {campaign_id}: servers changed and no password typed",
            )
        return CampaignResult(current, errors)
    probe = _probe(values, current)
    smtp, imap = run_checks(probe)
    detail = _check_detail(campaign_id, probe, smtp, imap)
    stored = current is not None and _checked_saved_settings(values, current)
    _record_check(current if stored else None, smtp, imap, detail, actor_id)
    return CampaignResult(current, _check_errors(smtp, imap), smtp, imap, status_stored=stored)


def _record_check(
    status_on: Campaign | None,
    smtp: ConnectionStatus,
    imap: ConnectionStatus,
    detail: str,
    actor_id: str,
) -> None:
    """Audit a check and, when it tested the saved logins, make it the campaign's status.

    The status and its audit line go in one transaction so the list never shows a
    result nobody can trace.
    """
    session = _session()
    try:
        if status_on is not None:
            _store_status(status_on, smtp, imap)
        audit.record(actor_id, "campaign.check", detail=detail)
        session.commit()
    except Exception:
        session.rollback()
        raise
    log.info("%s checked by %s", detail, actor_id)


def check_campaign(campaign_id: int, *, actor_id: str) -> CampaignResult:
    """Check a saved campaign's logins and store the outcome on it."""
    campaign = get_campaign(campaign_id)
    smtp, imap = run_checks(campaign)
    detail = _check_detail(campaign.id, campaign, smtp, imap)
    _record_check(campaign, smtp, imap, detail, actor_id)
    return CampaignResult(campaign, _check_errors(smtp, imap), smtp, imap, status_stored=True)


# --------------------------------------------------------------------------- writing


def _replace_schedules(campaign: Campaign, specs: Sequence[ScheduleSpec]) -> None:
    current = [(s.days_mask, s.start_time, s.end_time) for s in campaign.schedules]
    wanted = [(s.days_mask, s.start_time, s.end_time) for s in specs]
    if current == wanted:
        return
    campaign.schedules.clear()
    for spec in specs:
        campaign.schedules.append(
            Schedule(days_mask=spec.days_mask, start_time=spec.start_time, end_time=spec.end_time)
        )


def save_campaign(
    data: Mapping[str, Any], campaign_id: int | None = None, *, actor_id: str
) -> CampaignResult:
    """Create (``campaign_id`` None) or update a campaign, after a live login check.

    A failed check saves nothing: the result carries the red status and the
    server's answer so the admin can fix the field and try again.
    """
    current = get_campaign(campaign_id) if campaign_id is not None else None
    values, errors = validate_campaign(data, current)
    if values is None:
        return CampaignResult(current, errors)
    probe = _probe(values, current)
    smtp, imap = run_checks(probe)
    detail = _check_detail(campaign_id, probe, smtp, imap)
    errors = _check_errors(smtp, imap)
    if errors:
        _audit_alone(actor_id, "campaign.check", detail)
        return CampaignResult(current, errors, smtp, imap)

    session = _session()
    campaign = current if current is not None else Campaign()
    try:
        for key, value in values.columns.items():
            setattr(campaign, key, value)
        if values.password is not None:
            campaign.password_encrypted = encrypt_secret(values.password)
        _replace_schedules(campaign, values.schedules)
        _store_status(campaign, smtp, imap)
        if current is None:
            session.add(campaign)
            session.flush()
        action = "campaign.create" if current is None else "campaign.update"
        audit.record(actor_id, "campaign.check", detail=detail)
        audit.record(actor_id, action, detail=f"{campaign.id}: {campaign.name}")
        session.commit()
    except IntegrityError:
        # Another admin saved the same live name between our check and our write.
        session.rollback()
        return CampaignResult(
            current, {"name": gettext("Another campaign already has this name.")}, smtp, imap
        )
    except Exception:
        session.rollback()
        raise
    log.info(
        "campaign %s %s by %s", campaign.id, "created" if current is None else "updated", actor_id
    )
    return CampaignResult(
        campaign, {}, smtp, imap, warnings=_shared_mailbox_warnings(campaign), status_stored=True
    )


def campaigns_on_same_mailbox(campaign: Campaign) -> list[Campaign]:
    """Other live campaigns that read the same IMAP mailbox (host and login name)."""
    if not campaign.receive_emails or not campaign.imap_host:
        return []
    login = login_name(campaign).lower()
    stmt = select(Campaign).where(
        Campaign.deleted_at.is_(None),
        Campaign.id != campaign.id,
        Campaign.receive_emails.is_(True),
        func.lower(Campaign.imap_host) == campaign.imap_host.lower(),
    )
    return [
        other
        for other in _session().scalars(stmt.order_by(Campaign.id))
        if login_name(other).lower() == login
    ]


def _shared_mailbox_warnings(campaign: Campaign) -> list[str]:
    """Two campaigns polling one mailbox each import every message: say so, do not refuse.

    Sharing can be deliberate (a second folder, a move between campaigns), so the
    admin is told after the save rather than stopped.
    """
    others = campaigns_on_same_mailbox(campaign)
    if not others:
        return []
    names = ", ".join(repr(other.name) for other in others)
    return [
        gettext(
            "Saved, but this mailbox (%(login)s on %(host)s) is also read by %(names)s: "
            "each campaign imports every message, so customers may get two answers.",
            login=login_name(campaign),
            host=campaign.imap_host,
            names=names,
        )
    ]


def set_enabled(campaign_id: int, enabled: bool, *, actor_id: str) -> Campaign:
    """Disabling keeps everything; polling, routing and sending skip the campaign."""
    campaign = get_campaign(campaign_id)
    if campaign.enabled == enabled:
        return campaign
    session = _session()
    try:
        campaign.enabled = enabled
        action = "campaign.enable" if enabled else "campaign.disable"
        audit.record(actor_id, action, detail=f"{campaign.id}: {campaign.name}")
        session.commit()
    except Exception:
        session.rollback()
        raise
    log.info("campaign %s %s by %s", campaign.id, "enabled" if enabled else "disabled", actor_id)
    return campaign


def dialers_of(campaign_id: int) -> list[Dialer]:
    """The campaign's live dialers, by name: what a delete would leave without a campaign."""
    stmt = (
        select(Dialer)
        .where(Dialer.campaign_id == campaign_id, Dialer.deleted_at.is_(None))
        .order_by(func.lower(Dialer.name), Dialer.id)
    )
    return list(_session().scalars(stmt))


def dialer_names(campaign_id: int) -> list[str]:
    return [dialer.name for dialer in dialers_of(campaign_id)]


def _retire_dialers(dialers: Sequence[Dialer], now: datetime) -> None:
    """Stop the dialers and their lists and remove them, as deleting each one would."""
    for dialer in dialers:
        dialer.deleted_at = now
        dialer.state = "stopped"
    _session().execute(
        update(DialerList)
        .where(DialerList.dialer_id.in_([d.id for d in dialers]), DialerList.state == "active")
        .values(state="inactive")
    )


def delete_campaign(
    campaign_id: int, *, actor_id: str, confirmed: bool, disable_dialers: bool = False
) -> CampaignResult:
    """Soft delete: the row stays so interactions and recordings keep its name.

    Its name becomes free for a new campaign; the deleted one never polls or
    sends again and no longer appears in lists. A campaign with dialers is only
    deleted when the admin also chooses to stop and remove them: a dialer left
    without its campaign could neither send nor be fixed.
    """
    campaign = get_campaign(campaign_id)
    dialers = dialers_of(campaign.id)
    names = [dialer.name for dialer in dialers]
    if not confirmed:
        return CampaignResult(
            campaign,
            {
                "confirm": gettext(
                    "Confirm that campaign “%(name)s” should be deleted.", name=campaign.name
                )
            },
            dialers=names,
        )
    if dialers and not disable_dialers:
        listed = ", ".join(names)
        return CampaignResult(
            campaign,
            {
                "dialers": gettext(
                    "Campaign “%(name)s” still has dialers: %(dialers)s. Delete them first, "
                    "or choose to stop and remove them with the campaign.",
                    name=campaign.name,
                    dialers=listed,
                )
            },
            dialers=names,
        )
    session = _session()
    try:
        now = utcnow()
        campaign.deleted_at = now
        campaign.enabled = False
        if dialers:
            _retire_dialers(dialers, now)
            audit.record(
                actor_id, "dialer.delete", detail=f"with campaign {campaign.id}: {', '.join(names)}"
            )
        audit.record(actor_id, "campaign.delete", detail=f"{campaign.id}: {campaign.name}")
        session.commit()
    except Exception:
        session.rollback()
        raise
    log.info("campaign %s deleted by %s (%d dialers removed)", campaign.id, actor_id, len(names))
    return CampaignResult(campaign, dialers=names)


def add_schedule(campaign_id: int, data: Any, *, actor_id: str) -> CampaignResult:
    """The "+" button: one more weekly window."""
    campaign = get_campaign(campaign_id)
    spec, problem = parse_schedule(data)
    if spec is None:
        return CampaignResult(
            campaign, {"schedules": gettext("Schedule: %(problem)s.", problem=problem)}
        )
    if len(campaign.schedules) >= 50:
        return CampaignResult(
            campaign, {"schedules": gettext("A campaign has at most 50 schedules.")}
        )
    session = _session()
    try:
        campaign.schedules.append(
            Schedule(days_mask=spec.days_mask, start_time=spec.start_time, end_time=spec.end_time)
        )
        audit.record(actor_id, "campaign.schedule", detail=f"{campaign.id}: added")
        session.commit()
    except Exception:
        session.rollback()
        raise
    return CampaignResult(campaign)


def remove_schedule(campaign_id: int, schedule_id: int, *, actor_id: str) -> bool:
    """The "-" button; False when the campaign has no such schedule."""
    campaign = get_campaign(campaign_id)
    schedule = next((s for s in campaign.schedules if s.id == schedule_id), None)
    if schedule is None:
        return False
    session = _session()
    try:
        campaign.schedules.remove(schedule)
        audit.record(actor_id, "campaign.schedule", detail=f"{campaign.id}: removed")
        session.commit()
    except Exception:
        session.rollback()
        raise
    return True
