"""ucmail's own translation domain, locale, time zone and locale-aware formatting.

ucmail ships its catalogs in the package (``ucmail_ext/translations/<lang>/LC_MESSAGES/
ucmail.mo`` and ``ucmail_js.mo``) and translates through a Flask-Babel ``Domain`` of its
own, so a host that already runs Flask-Babel keeps its setup and its "messages"
catalogs: ucmail adds a domain, it never replaces the host's Babel.

The locale is not Flask-Babel's request locale, because a host's selector may know
nothing of the languages ucmail speaks: it comes from ``ucmail.locale_selector``, else
the host Babel's own selector, else Accept-Language among ucmail's catalogs, else
English. Customer-facing pages and mails wrap their work in ``force_locale(campaign.
language)`` (a context variable, so it works in Celery tasks without a request).

Jinja: ucmail templates call ``_()``, ``gettext()`` and ``ngettext()`` like any Flask-
Babel template. The globals ucmail installs translate with ucmail's domain when the
template being rendered lives under ``ucmail/`` (macros imported from ucmail templates
included, since they carry their own template name) and with the host's domain
otherwise; a string the ucmail catalog lacks (the host's layout around a ucmail page)
falls back to the host's catalog.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError, dates, numbers
from babel.support import NullTranslations, Translations
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Babel, Domain
from jinja2 import pass_context
from jinja2.runtime import Context

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DOMAIN = "ucmail"
JS_DOMAIN = "ucmail_js"
DEFAULT_LOCALE = "en"
# Languages a campaign may speak to its customers, named in themselves (not translated).
LANGUAGE_NAMES = {"en": "English", "es": "Español", "pt": "Português"}
TEMPLATE_PREFIX = "ucmail/"

_forced_locale: ContextVar[str | None] = ContextVar("ucmail_forced_locale", default=None)
_forced_zone: ContextVar[str | None] = ContextVar("ucmail_forced_zone", default=None)


@functools.cache
def available_locales() -> tuple[str, ...]:
    """English (the source language) and every language with a compiled ucmail catalog."""
    found = {DEFAULT_LOCALE}
    if TRANSLATIONS_DIR.is_dir():
        for folder in TRANSLATIONS_DIR.iterdir():
            if (folder / "LC_MESSAGES" / f"{DOMAIN}.mo").is_file():
                found.add(folder.name)
    return tuple(sorted(found))


def normalize_locale(value: Any) -> str | None:
    """``"es-UY"``, ``"es_UY"`` or a babel ``Locale`` as ``"es_UY"``; None when unknown."""
    if value is None:
        return None
    text = str(value).strip().replace("-", "_")
    if not text:
        return None
    try:
        return str(Locale.parse(text))
    except (ValueError, UnknownLocaleError):
        return None


@functools.cache
def _translations(locale: str, domain: str) -> NullTranslations:
    """Catalogs are read once per process; gettext falls back es_UY -> es by itself."""
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [locale], domain)


class UCMailDomain(Domain):
    """Flask-Babel's Domain with ucmail's locale instead of the host's request locale."""

    def get_translations(self) -> NullTranslations:
        return _translations(current_locale(), self.domain[0])


domain = UCMailDomain(translation_directories=[str(TRANSLATIONS_DIR)], domain=DOMAIN)
gettext: Callable[..., str] = domain.gettext
ngettext: Callable[..., str] = domain.ngettext
pgettext: Callable[..., str] = domain.pgettext
lazy_gettext: Callable[..., Any] = domain.lazy_gettext
lazy_ngettext: Callable[..., Any] = domain.lazy_ngettext
_ = gettext


def N_(message: str) -> str:  # noqa: N802  (the gettext convention)
    """Mark ``message`` for extraction only; translate it later with ``gettext(message)``."""
    return message


def _selector_of_ucmail() -> str | None:
    """The locale selector ucmail gives a Babel it creates for a host that had none."""
    return current_locale()


def _zone_selector_of_ucmail() -> str:
    return current_timezone().key


def _host_babel() -> Any:
    babel = current_app.extensions.get("babel")
    return babel if babel is not None and babel.locale_selector is not _selector_of_ucmail else None


def _hook(name: str) -> Callable[[], Any] | None:
    state = current_app.extensions.get("ucmail")
    return state.hooks.get(name) if state is not None else None


def select_locale() -> str:
    """Hook, then the host Babel's selector, then Accept-Language, then English."""
    hook = _hook("locale_selector")
    chosen = normalize_locale(hook()) if hook is not None else None
    if chosen is None:
        babel = _host_babel()
        if babel is not None and babel.locale_selector is not None:
            chosen = normalize_locale(babel.locale_selector())
    if chosen is None:
        best = request.accept_languages.best_match(available_locales())
        chosen = normalize_locale(best)
    return chosen or DEFAULT_LOCALE


def current_locale() -> str:
    forced = _forced_locale.get()
    if forced is not None:
        return forced
    if not has_request_context():
        return DEFAULT_LOCALE
    cached = g.get("ucmail_locale")
    if cached is None:
        cached = g.ucmail_locale = select_locale()
    return cached


def language_tag() -> str:
    """The locale as an HTML ``lang`` value (``es-UY``)."""
    return current_locale().replace("_", "-")


@contextlib.contextmanager
def force_locale(locale: str | None) -> Iterator[None]:
    """Translate and format in ``locale`` (a campaign's language for its customers)."""
    token = _forced_locale.set(normalize_locale(locale) or DEFAULT_LOCALE)
    try:
        yield
    finally:
        _forced_locale.reset(token)


def zone_or_utc(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _hook_zone() -> str | None:
    if not has_request_context():
        return None
    if "ucmail_hook_zone" not in g:
        hook = _hook("timezone_selector")
        chosen = hook() if hook is not None else None
        g.ucmail_hook_zone = getattr(chosen, "key", None) or (str(chosen) if chosen else None)
    return g.ucmail_hook_zone


def user_timezone() -> str | None:
    """The zone the host's hook gives for this user; None when the host says nothing."""
    return _hook_zone()


def current_timezone() -> ZoneInfo:
    """The user's zone (hook), else the campaign's a page is about, else the one all the
    user's campaigns share, else UTC."""
    forced = _forced_zone.get()
    if forced is not None:
        return zone_or_utc(forced)
    chosen = _hook_zone()
    if chosen is None and has_request_context():
        chosen = g.get("ucmail_campaign_zone") or _campaigns_zone()
    return zone_or_utc(chosen)


def _campaigns_zone() -> str | None:
    """The zone all the user's campaigns share (None when they differ), once a request."""
    if "ucmail_campaigns_zone" not in g:
        from ucmail_ext.services.access import common_zone

        g.ucmail_campaigns_zone = common_zone() if "ucmail" in current_app.extensions else None
    return g.ucmail_campaigns_zone


def use_campaign_zone(zone: str | None) -> None:
    """A page about one campaign shows its times in the campaign's zone (if no hook)."""
    if has_request_context() and zone:
        g.ucmail_campaign_zone = zone


@contextlib.contextmanager
def force_timezone(zone: str | None) -> Iterator[None]:
    token = _forced_zone.set(zone or "UTC")
    try:
        yield
    finally:
        _forced_zone.reset(token)


@contextlib.contextmanager
def campaign_language(campaign: Any) -> Iterator[None]:
    """Customer-facing text in the campaign's language and times in its zone; without a
    campaign (a broken link) the request's own language."""
    if campaign is None:
        yield
        return
    with (
        force_locale(getattr(campaign, "language", None)),
        force_timezone(getattr(campaign, "timezone", None)),
    ):
        yield


def weekday_names(width: str = "abbreviated") -> tuple[str, ...]:
    """Monday first, in the current locale (the schedules' day order)."""
    names = dates.get_day_names(width, locale=current_locale())
    return tuple(names[day] for day in range(7))


# Day boundaries -------------------------------------------------------------------


def utc_now() -> datetime:
    return datetime.now(UTC)


def local_today(zone: ZoneInfo, now: datetime | None = None) -> date:
    """The calendar day it is in ``zone`` at ``now`` (UTC; naive is read as UTC)."""
    return _aware(now or utc_now()).astimezone(zone).date()


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)`` of the local ``day`` in ``zone``, in UTC (DST-safe): what a
    query on stored (UTC) times compares with."""
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


# Formatting -----------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def format_datetime(value: datetime | None, format: str = "medium") -> str:
    """A stored (UTC) time in the user's zone and locale; '' for none."""
    if value is None:
        return ""
    return dates.format_datetime(
        _aware(value), format, tzinfo=current_timezone(), locale=current_locale()
    )


def format_date(value: date | datetime | None, format: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _aware(value).astimezone(current_timezone()).date()
    return dates.format_date(value, format, locale=current_locale())


def format_time(value: datetime | None, format: str = "short") -> str:
    if value is None:
        return ""
    return dates.format_time(
        _aware(value), format, tzinfo=current_timezone(), locale=current_locale()
    )


def format_number(value: float | int | None, format: str | None = None) -> str:
    if value is None:
        return ""
    return numbers.format_decimal(value, format=format, locale=current_locale())


def format_percent(value: float | None, format: str | None = None) -> str:
    """``value`` is a fraction (0.95 -> 95 %)."""
    if value is None:
        return ""
    return numbers.format_percent(value, format=format, locale=current_locale())


def js_catalog() -> dict[str, Any]:
    """The ``ucmail_js`` messages of the current locale for ``static/ucmail/i18n.js``:
    ``{msgid: msgstr}``, and ``{singular: [forms...]}`` for plurals."""
    catalog = getattr(_translations(current_locale(), JS_DOMAIN), "_catalog", {})
    out: dict[str, Any] = {}
    for key, text in catalog.items():
        if isinstance(key, tuple):
            out.setdefault(key[0], []).append(text)
        elif key:
            out[key] = text
    return out


# Jinja ----------------------------------------------------------------------------


def _is_ucmail_template(context: Context) -> bool:
    return bool(context.name and context.name.startswith(TEMPLATE_PREFIX))


def _host_translations() -> NullTranslations:
    if current_app.extensions.get("babel") is None:
        return NullTranslations()
    import flask_babel

    return flask_babel.get_translations()


@pass_context
def _jinja_gettext(context: Context, string: str) -> str:
    if not _is_ucmail_template(context):
        return _host_translations().ugettext(string)
    translated = domain.get_translations().ugettext(string)
    if translated == string and current_locale() != DEFAULT_LOCALE:
        return _host_translations().ugettext(string)
    return translated


@pass_context
def _jinja_ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    if not _is_ucmail_template(context):
        return _host_translations().ungettext(singular, plural, n)
    return domain.get_translations().ungettext(singular, plural, n)


@pass_context
def _jinja_pgettext(context: Context, msgctxt: str, string: str) -> str:
    """``pgettext("message", "Sent")``: one English word, two meanings (a message sent,
    a column of sent records), each translated on its own."""
    if not _is_ucmail_template(context):
        return _host_translations().upgettext(msgctxt, string)
    return domain.get_translations().upgettext(msgctxt, string)


FILTERS: dict[str, Callable[..., str]] = {
    "uc_datetime": format_datetime,
    "uc_date": format_date,
    "uc_time": format_time,
    "uc_number": format_number,
    "uc_percent": format_percent,
}


def install_jinja(app: Flask) -> None:
    """Install ucmail's gettext globals and ``uc_*`` filters (again, if a host's Babel
    set up later replaced the globals)."""
    env = app.jinja_env
    if getattr(env.globals.get("gettext"), "_ucmail", False):
        return
    if "jinja2.ext.InternationalizationExtension" not in env.extensions:
        env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_jinja_gettext, ngettext=_jinja_ngettext, newstyle=True, pgettext=_jinja_pgettext
    )
    env.globals["gettext"]._ucmail = True
    env.filters.update(FILTERS)
    env.globals["ucmail_js_catalog"] = js_catalog
    env.globals["ucmail_lang"] = language_tag
    env.globals["ucmail_languages"] = LANGUAGE_NAMES


def init_app(app: Flask) -> None:
    """Give a host without Flask-Babel one (ucmail's selectors), then ucmail's Jinja."""
    if "babel" not in app.extensions:
        Babel(
            app,
            locale_selector=_selector_of_ucmail,
            timezone_selector=_zone_selector_of_ucmail,
        )
    install_jinja(app)
