"""Who is who belongs to the host: these are the callbacks it gives ucmail.

Each hook is set with a decorator on the UCMail object (Flask-Login's
``user_loader`` shape) or, per app, with an import string in config; config wins so
one extension object can serve several differently configured apps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.utils import import_string

HOOK_SETTINGS = {
    "agent_loader": "UCMAIL_AGENT_LOADER",
    "role_checker": "UCMAIL_ROLE_CHECKER",
    "user_lookup": "UCMAIL_USER_LOOKUP",
    "agent_lister": "UCMAIL_AGENT_LISTER",
    "locale_selector": "UCMAIL_LOCALE_SELECTOR",
    "timezone_selector": "UCMAIL_TIMEZONE_SELECTOR",
}


def default_agent_loader() -> Any:
    from flask_login import current_user

    return current_user._get_current_object()  # type: ignore[attr-defined]


def default_role_checker(user: Any, role: str) -> bool:
    has_role = getattr(user, "has_role", None)
    return bool(has_role and has_role(role))


def default_user_lookup(user_id: str) -> Any:
    return None


def default_agent_lister() -> Iterable[Any]:
    return []


def default_selector() -> str | None:
    """No opinion: ucmail falls back to Accept-Language (locale) or the campaign (zone)."""
    return None


DEFAULTS: dict[str, Callable[..., Any]] = {
    "agent_loader": default_agent_loader,
    "role_checker": default_role_checker,
    "user_lookup": default_user_lookup,
    "agent_lister": default_agent_lister,
    "locale_selector": default_selector,
    "timezone_selector": default_selector,
}


def resolve_hooks(app: Flask, registered: dict[str, Callable[..., Any]]) -> dict[str, Any]:
    hooks: dict[str, Callable[..., Any]] = {}
    for name, key in HOOK_SETTINGS.items():
        configured = app.config.get(key)
        if isinstance(configured, str):
            configured = import_string(configured.replace(":", "."))
        hooks[name] = configured or registered.get(name) or DEFAULTS[name]
    return hooks
