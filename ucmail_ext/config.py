"""Every ``UCMAIL_*`` setting, its default and what it means, in one place.

Flask-Security's pattern: defaults are data, applied with ``setdefault`` so the host's
values win, and a key that is not listed here is reported (it is almost always a typo).
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from typing import Any

from flask import Flask

ALL_BLUEPRINTS = (
    "campaigns",
    "templates",
    "members",
    "agent",
    "supervision",
    "recordings",
    "dialer",
    "tracking",
    "api",
    "ops",
)


@dataclass(frozen=True)
class Setting:
    default: Any
    meaning: str


SETTINGS: dict[str, Setting] = {
    # Mounting
    "BLUEPRINTS": Setting(list(ALL_BLUEPRINTS), "Blueprints init_app registers, by short name."),
    "URL_PREFIX": Setting("/ucmail", "URL prefix of every ucmail page."),
    "API_PREFIX": Setting("/ucmail/api", "URL prefix of the JSON API blueprint."),
    "BASE_TEMPLATE": Setting(
        "ucmail/layout.html",
        "Template every ucmail page extends; must define blocks title, head and content.",
    ),
    "CLI_GROUP": Setting("ucmail", "Name of the `flask <group>` CLI group; falsy = no CLI."),
    # Host hooks (import strings "pkg.mod:fn"; decorators on UCMail do the same)
    "AGENT_LOADER": Setting(None, "Returns the current host user (default: flask_login)."),
    "ROLE_CHECKER": Setting(None, "fn(user, role) -> bool (default: user.has_role(role))."),
    "USER_LOOKUP": Setting(None, "fn(user_id: str) -> user or None, for names in lists."),
    "AGENT_LISTER": Setting(None, "fn() -> iterable of host users who have the agent role."),
    "LOCALE_SELECTOR": Setting(
        None, "fn() -> locale code for ucmail pages (default: Accept-Language, else 'en')."
    ),
    "TIMEZONE_SELECTOR": Setting(
        None, "fn() -> the user's time zone name (default: the campaign's, else UTC)."
    ),
    "SUPERVISOR_SCOPE": Setting(
        "all", "'all': supervisors see every campaign; 'members': only those they belong to."
    ),
    # Security
    "ENCRYPTION_KEYS": Setting(
        None,
        "Fernet keys (list or comma-separated), newest first; default derived from SECRET_KEY.",
    ),
    "PUBLIC_URL": Setting(
        None, "Base URL put in emails (pixel, rating, unsubscribe); default: the request's."
    ),
    "MESSAGE_ID_DOMAIN": Setting(None, "Domain of generated Message-IDs; default: SERVER_NAME."),
    "TLS_VERIFY": Setting(True, "Verify IMAP/SMTP server certificates."),
    "SECURITY_HEADERS": Setting(
        True, "Send CSP, nosniff and Referrer-Policy on ucmail responses (off: the host does)."
    ),
    "REQUEST_MAX_BYTES": Setting(
        1024 * 1024, "Largest request body a ucmail endpoint reads, uploads aside (413 above)."
    ),
    "REPLY_MAX_BYTES": Setting(
        25 * 1024 * 1024, "Largest agent reply or new message post, its attachments included."
    ),
    # Work dispatch
    "DISPATCH": Setting(
        "celery", "'celery': enqueue tasks; 'inline': run them at once (tests, no broker)."
    ),
    "LOCK_URL": Setting(
        None, "Redis URL for cross-worker locks; default: the Celery broker if Redis, else DB."
    ),
    "LOCK_TTL": Setting(300, "Seconds a lock outlives a worker that stopped renewing it (crash)."),
    "LOCK_PREFIX": Setting("ucmail:lock:", "Redis key prefix of ucmail's locks."),
    # Operations
    "OPS_TOKEN": Setting(
        None, "Bearer token the metrics and readiness URLs want; None: open (fence by network)."
    ),
    "HEALTH_TIMEOUT": Setting(5, "Seconds each health check (broker, lock store) may take."),
    "HEALTH_POLL_STALE": Setting(
        600, "Health fails when no mailbox was polled for this many seconds; 0: never."
    ),
    "HEALTH_IDLE_STALE": Setting(
        120, "Health fails when the newest IDLE listener lease expired this long ago."
    ),
    # Inbound
    "POLL_INTERVAL": Setting(30, "Seconds between mailbox polls (beat)."),
    "FETCH_BATCH": Setting(100, "Messages fetched per IMAP FETCH."),
    "IMAP_TIMEOUT": Setting(30, "Socket timeout for IMAP, seconds."),
    "IDLE_TIMEOUT": Setting(300, "Seconds an IMAP IDLE waits before re-issuing it."),
    "IDLE_TAKEOVER": Setting(
        30, "Seconds before another `flask ucmail idle` takes the mailboxes of one that died."
    ),
    "IDLE_WORKERS": Setting(8, "Threads per IDLE process that connect and poll mailboxes."),
    "MARK_SEEN": Setting(False, "Set \\Seen on the server after import (after the commit)."),
    "MAX_MESSAGE_BYTES": Setting(25 * 1024 * 1024, "Largest message imported whole."),
    "MAX_ATTACHMENT_BYTES": Setting(20 * 1024 * 1024, "Largest attachment stored."),
    "MAX_PARTS": Setting(500, "MIME parts parsed per message."),
    "MAX_DEPTH": Setting(20, "MIME nesting depth parsed."),
    "MAX_HEADER_BYTES": Setting(256 * 1024, "Header bytes parsed per message."),
    "ATTACHMENT_DIR": Setting(None, "Folder for attachments; default <instance>/ucmail-files."),
    "FILE_LINK_MAX_AGE": Setting(3600, "Seconds an inline image link in a viewed message works."),
    "AUTOREPLY_PERIOD": Setting(86400, "At most one auto-reply per sender per this many seconds."),
    # Outbound
    "SMTP_TIMEOUT": Setting(30, "Socket timeout for SMTP, seconds."),
    "CHECK_TIMEOUT": Setting(10, "Timeout of the connection check on campaign save, seconds."),
    "SEND_RETRIES": Setting(5, "Attempts for a temporary SMTP failure before giving up."),
    "SEND_BACKOFF": Setting(30, "First retry delay, seconds; doubles each attempt."),
    "MAIL_MAX_EMAILS": Setting(500, "Messages sent over one SMTP connection before recycling."),
    # Agents and routing
    "HEARTBEAT_TIMEOUT": Setting(60, "An agent with no heartbeat for this long is offline."),
    "ROUTING_INTERVAL": Setting(10, "Seconds between routing sweeps (beat)."),
    "LIVE_POLL_MS": Setting(2000, "How often live screens refresh, milliseconds."),
    "PAGE_SIZE": Setting(50, "Rows per page in lists and searches."),
    "MONITOR_SCREEN": Setting(
        True, "Supervisors may mirror an agent's portal (spec: an option to enable)."
    ),
    # Dialer
    "DIALER_TICK": Setting(5, "Seconds between dialer ticks (beat)."),
    "DIALER_BATCH": Setting(1000, "Most records a dialer worker claims (and commits) at once."),
    "DIALER_MAX_ERRORS": Setting(10, "Errors in a row that pause a dialer."),
    "DIALER_COMMIT_SECONDS": Setting(
        0.5, "A dialer commits record states about this often (claims size to match)."
    ),
    "DIALER_LEASE": Setting(
        300, "Seconds after which records a silent dialer worker holds are recovered."
    ),
    "DIALER_RUN_SECONDS": Setting(
        300, "A dialer task sends this long, then hands the list to a fresh task."
    ),
    "DIALER_RUNNERS_PER_LIST": Setting(
        2, "Runners (worker tasks) that send one list at once on PostgreSQL; SQLite: 1."
    ),
    "DIALER_UNSUBSCRIBE_MAILTO": Setting(
        None, "Address added as a mailto: to List-Unsubscribe (the https link is always there)."
    ),
    "UPLOAD_MAX_BYTES": Setting(200 * 1024 * 1024, "Largest CSV list or dialer attachment."),
    # OAuth2 mailbox login
    "OAUTH_PROVIDERS": Setting(
        {}, "OAuth2 providers by name: microsoft, google, generic (README: Connecting ...)."
    ),
    "OAUTH_REDIRECT_URI": Setting(
        None, "Redirect URI registered at the provider; default: the callback URL of the request."
    ),
    "OAUTH_TIMEOUT": Setting(10, "Seconds one request to a token endpoint may take."),
    "OAUTH_RETRIES": Setting(3, "Attempts per token refresh before it counts as a failure."),
    "OAUTH_BACKOFF": Setting(30, "Seconds before retrying a failed refresh; doubles, max 1 h."),
    "OAUTH_REFRESH_MARGIN": Setting(300, "Refresh an access token this many seconds early."),
    "OAUTH_WAIT": Setting(30, "Seconds a worker waits for another one's refresh to finish."),
    # Deliverability (DKIM, SPF, DMARC)
    "DNS_RESOLVER": Setting(
        None, "DNS server 'host:port' (or 'host') for the deliverability check; default: system."
    ),
    "DNS_TIMEOUT": Setting(5.0, "Seconds the deliverability check waits for each DNS lookup."),
}

PREFIX = "UCMAIL_"


class UnknownSettingWarning(UserWarning):
    """A ``UCMAIL_*`` key that ucmail does not know: nearly always a typo."""


def apply_defaults(app: Flask) -> None:
    for key, setting in SETTINGS.items():
        default = setting.default
        app.config.setdefault(PREFIX + key, list(default) if isinstance(default, list) else default)
    report_unknown_keys(app)


def report_unknown_keys(app: Flask) -> list[str]:
    known = {PREFIX + key for key in SETTINGS}
    unknown = sorted(k for k in app.config if k.startswith(PREFIX) and k not in known)
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.warn(f"Unknown ucmail setting {key}{hint}", UnknownSettingWarning, stacklevel=3)
    return unknown
