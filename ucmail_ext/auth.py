"""Roles (admin / supervisor / agent), access decorators and CSRF for ucmail views.

Authentication is the host's (Flask-Login); ucmail only asks the host's role checker.
An admin passes every role check. CSRF is checked per ucmail blueprint, so a host that
does not use Flask-WTF's global CSRFProtect is still covered and one that does is
checked with the same token.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, current_app, jsonify, redirect, request, url_for
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms import ValidationError

from ucmail_ext.extension import current_agent, get_state

ROLES = ("admin", "supervisor", "agent")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
F = TypeVar("F", bound=Callable[..., Any])

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


def _deny_anonymous() -> Any:
    if wants_json():
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
        return wrapped  # type: ignore[return-value]

    return decorator


def csrf_exempt(view: F) -> F:
    """For the pixel, rating and one-click unsubscribe only: they carry signed tokens."""
    _csrf_exempt.add(f"{view.__module__}.{view.__name__}")
    view.ucmail_public = True  # type: ignore[attr-defined]
    return view


def csrf_exempt_views() -> frozenset[str]:
    return frozenset(_csrf_exempt)


def check_csrf() -> Any:
    """A blueprint ``before_request``: refuse unsafe requests without a valid token."""
    if request.method not in UNSAFE_METHODS:
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and f"{view.__module__}.{view.__name__}" in _csrf_exempt:
        return None
    token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken")
    try:
        validate_csrf(token)
    except (ValidationError, CSRFError) as exc:
        message = getattr(exc, "description", None) or str(exc) or "The CSRF token is missing."
        if wants_json() or request.path.startswith(current_app.config["UCMAIL_API_PREFIX"]):
            return jsonify(error="csrf", message=message, fields={}), 400
        abort(400, description=message)
    return None


def csrf_token() -> str:
    return generate_csrf()
