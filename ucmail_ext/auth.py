"""Roles (admin / supervisor / agent), access decorators, CSRF and body limits.

Authentication is the host's (Flask-Login); ucmail only asks the host's role checker.
An admin passes every role check. ``guard_request`` runs first on every ucmail request
(init_app puts it ahead of the host's own hooks, Flask-WTF's global CSRFProtect
included): it ends sessions a supervisor logged out, caps the body, and decides role
and CSRF before anything reads the body, so an anonymous 300 MB POST is refused
unread. A host without CSRFProtect is covered; one with it is checked with the same
token.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import abort, current_app, g, jsonify, redirect, request, session, url_for
from flask_login import logout_user
from flask_login.config import COOKIE_NAME
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import ValidationError

from ucmail_ext.crypto import make_token, read_token
from ucmail_ext.extension import current_agent, get_state
from ucmail_ext.i18n import N_, gettext

ROLES = ("admin", "supervisor", "agent")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
F = TypeVar("F", bound=Callable[..., Any])

EPOCH_KEY = "ucmail_epoch"
EPOCH_COOKIE = "ucmail_epoch"
DEFAULT_BODY_LIMIT = ("UCMAIL_REQUEST_MAX_BYTES", "request")
# What a 413 says for each body_limit noun, whole sentences so that they translate.
TOO_LARGE = {
    "request": N_("The request is larger than %(size)s."),
    "file": N_("The file is larger than %(size)s."),
    "message with its attachments": N_("The message with its attachments is larger than %(size)s."),
}

_csrf_exempt: set[str] = set()


def agent_id_of(user: Any) -> str:
    """ucmail stores host user ids as strings (no foreign key into host tables)."""
    return str(user.get_id())


def current_agent_id() -> str | None:
    user = current_agent
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return agent_id_of(user)


def has_role(role: str, user: Any = None) -> bool:
    user = current_agent if user is None else user
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    check = get_state().hooks["role_checker"]
    return bool(check(user, "admin") or check(user, role))


def wants_json() -> bool:
    """A fetch() from our pages or an API client: answer errors as JSON, not pages."""
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _answers_json() -> bool:
    return wants_json() or _blueprint_name() == "ucmail_api"


def _blueprint_name() -> str:
    """``ucmail_dialer`` also when the host nests it (``parent.ucmail_dialer``)."""
    return (request.blueprint or "").rsplit(".", 1)[-1]


def is_ucmail_request() -> bool:
    return _blueprint_name().startswith("ucmail_")


def _deny_anonymous() -> Any:
    if _answers_json():
        return jsonify(error="login required", fields={}), 401
    login_view = getattr(current_app, "login_manager", None)
    view = getattr(login_view, "login_view", None)
    if view:
        return redirect(url_for(view, next=request.full_path))
    abort(401)


def require_role(*roles: str) -> Callable[[F], F]:
    """Allow users holding any of ``roles`` (an admin holds all)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown ucmail role(s): {sorted(unknown)}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_agent_id() is None:
                return _deny_anonymous()
            if not any(has_role(role) for role in roles):
                if wants_json():
                    return jsonify(error="forbidden", fields={}), 403
                abort(403)
            return view(*args, **kwargs)

        wrapped.ucmail_roles = roles  # type: ignore[attr-defined]  (the access matrix test reads it)
        wrapped.ucmail_login_required = True  # type: ignore[attr-defined]  (guard_request reads it)
        return wrapped  # type: ignore[return-value]

    return decorator


def csrf_exempt(view: F) -> F:
    """For the pixel, rating and one-click unsubscribe only: they carry signed tokens."""
    _csrf_exempt.add(f"{view.__module__}.{view.__name__}")
    view.ucmail_public = True  # type: ignore[attr-defined]
    return view


def csrf_exempt_views() -> frozenset[str]:
    return frozenset(_csrf_exempt)


def body_limit(setting: str, noun: str = "file") -> Callable[[F], F]:
    """Let a view accept a body up to ``app.config[setting]`` bytes (uploads).

    Every other ucmail view takes at most UCMAIL_REQUEST_MAX_BYTES. ``noun`` names
    what was too large in the 413 answer: "The file is larger than 200 MB."
    """

    def decorator(view: F) -> F:
        view.ucmail_body_limit = (setting, noun)  # type: ignore[attr-defined]
        return view

    return decorator


def format_bytes(size: int) -> str:
    """200 MB, 1 MB, 512 KB: the limit as a person would say it (binary units)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


def too_large_message() -> str:
    """What a 413 says, in the limit of the endpoint that was asked."""
    setting, noun = getattr(g, "ucmail_body_limit", DEFAULT_BODY_LIMIT)
    limit = request.max_content_length or int(current_app.config[setting])
    sentence = TOO_LARGE.get(noun)
    if sentence is None:
        return gettext("The %(noun)s is larger than %(size)s.", noun=noun, size=format_bytes(limit))
    return gettext(sentence, size=format_bytes(limit))


def _cap_body(view: Any) -> None:
    """Flask 3.1's per-request limit: werkzeug answers 413 from Content-Length alone,
    and stops a chunked body at the limit, before anything is spooled."""
    setting, noun = getattr(view, "ucmail_body_limit", DEFAULT_BODY_LIMIT)
    limit = int(current_app.config[setting])
    host_limit = current_app.config.get("MAX_CONTENT_LENGTH")
    g.ucmail_body_limit = (setting, noun)
    request.max_content_length = min(limit, host_limit) if host_limit else limit


def _check_size() -> None:
    """A declared length over the limit is refused now, not when a view reads the body
    (a view may answer 404 first and leave the connection to drain it)."""
    length = request.content_length
    if length is not None and request.max_content_length is not None:
        if length > request.max_content_length:
            raise RequestEntityTooLarge()
    return None


def remember_session_epoch(app: Any, user: Any = None, **_: Any) -> None:
    """At login (Flask-Login's signal) the session learns the agent's logout epoch, so
    a supervisor's "log out" reaches a browser that never opened the portal.

    The epoch also goes in a cookie of its own that lives as long as a remember-me
    cookie (``write_epoch_cookie``): a session restored from one has no epoch.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return
    from ucmail_ext.services.desk.portal import session_epoch

    agent_id = agent_id_of(user)
    epoch = [agent_id, session_epoch(agent_id)]
    session[EPOCH_KEY] = epoch
    g.ucmail_epoch_cookie = epoch


def write_epoch_cookie(response: Any) -> Any:
    """After a login: the signed epoch, with the remember-me cookie's lifetime and flags."""
    epoch = g.pop("ucmail_epoch_cookie", None)
    if epoch is None:
        return response
    config = current_app.config
    duration = config.get("REMEMBER_COOKIE_DURATION") or timedelta(days=365)
    if not isinstance(duration, timedelta):
        duration = timedelta(seconds=int(duration))
    response.set_cookie(
        EPOCH_COOKIE,
        make_token("epoch", epoch),
        max_age=duration,
        path="/",
        secure=bool(
            config.get("REMEMBER_COOKIE_SECURE")
            or config.get("SESSION_COOKIE_SECURE")
            or request.is_secure
        ),
        httponly=True,
        samesite=config.get("REMEMBER_COOKIE_SAMESITE") or "Lax",
    )
    return response


def _remembered_epoch(agent_id: str) -> int | None:
    """The epoch the agent's last login in this browser saw, from its cookie."""
    value = read_token("epoch", request.cookies.get(EPOCH_COOKIE, ""))
    if isinstance(value, list) and len(value) == 2 and value[0] == agent_id:
        return value[1] if isinstance(value[1], int) else None
    return None


def _restored_by_remember_cookie() -> bool:
    name = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
    return name in request.cookies


def _forced_logout() -> Any:
    """A supervisor's "log out" bumps the agent's epoch; the next request ends the session.

    A session with no epoch adopts the current one, unless the browser sends a
    remember-me cookie: the session may then have been restored from it after the
    logout, so the epoch of the login that set it (its own cookie) must still be
    current. A remember-me login from before that cookie existed logs in again once.
    """
    from ucmail_ext.services.desk.portal import session_epoch

    agent_id = current_agent_id()
    if agent_id is None:
        return None
    known = session.get(EPOCH_KEY)
    current = session_epoch(agent_id)
    if not isinstance(known, list) or len(known) != 2 or known[0] != agent_id:
        if _restored_by_remember_cookie() and _remembered_epoch(agent_id) != current:
            return _end_session()
        session[EPOCH_KEY] = [agent_id, current]
        return None
    if known[1] == current:
        return None
    return _end_session()


def _end_session() -> Any:
    session.pop(EPOCH_KEY, None)
    # Flask-Login also clears the remember-me cookie the browser sent.
    logout_user()
    if _answers_json() or request.method != "GET":
        return jsonify(error="logged out", logged_out=True, fields={}), 401
    return _deny_anonymous()


def _check_role(view: Any) -> Any:
    if not getattr(view, "ucmail_login_required", False):
        return None
    if current_agent_id() is None:
        return _deny_anonymous()
    if not any(has_role(role) for role in view.ucmail_roles):
        if _answers_json():
            return jsonify(error="forbidden", fields={}), 403
        abort(403)
    return None


def check_csrf() -> Any:
    """Refuse unsafe requests without a valid token; the header is read first so a
    client that sends it never has its body parsed here."""
    if request.method not in UNSAFE_METHODS:
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and f"{view.__module__}.{view.__name__}" in _csrf_exempt:
        return None
    token = request.headers.get("X-CSRFToken") or request.form.get("csrf_token")
    try:
        validate_csrf(token)
    except (ValidationError, CSRFError) as exc:
        message = (
            getattr(exc, "description", None) or str(exc) or gettext("The CSRF token is missing.")
        )
        abort(400, description=message)  # the blueprint's error page, or JSON for fetch()
    return None


def guard_request() -> Any:
    """Runs before every other ``before_request`` of the app on ucmail requests
    (static files aside: no body, no role, and no database query per stylesheet)."""
    if not is_ucmail_request() or (request.endpoint or "").endswith(".static"):
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    _cap_body(view)
    return _forced_logout() or _check_role(view) or _check_size() or check_csrf()


def csrf_token() -> str:
    return generate_csrf()
