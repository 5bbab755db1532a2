"""The UCMail extension object: ``ucmail.init_app(app, db=db)``.

State lives in ``app.extensions["ucmail"]`` and the app is never stored on the
extension, so one UCMail serves several apps in a process (flask-sqlalchemy's rule).
ucmail uses the host's Flask-SQLAlchemy session and Flask-Login user; it never makes
its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import MultiFernet
from flask import Flask, current_app
from flask_login import user_logged_in, user_logged_out
from werkzeug.local import LocalProxy

from ucmail_ext import config as ucconfig
from ucmail_ext import i18n
from ucmail_ext.crypto import build_cipher, require_signing_key
from ucmail_ext.hooks import resolve_hooks


def exempt_signed_links(app: Flask) -> None:
    """A host's global CSRFProtect must let the pixel, rating and unsubscribe through."""
    from ucmail_ext.auth import csrf_exempt_views

    csrf = app.extensions.get("csrf")
    if csrf is not None:
        for view in csrf_exempt_views():
            csrf.exempt(view)


@dataclass
class UCMailState:
    extension: UCMail
    db: Any
    cipher: MultiFernet
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)

    @property
    def session(self) -> Any:
        return self.db.session


def get_state(app: Flask | None = None) -> UCMailState:
    app = app or current_app
    try:
        return app.extensions["ucmail"]
    except KeyError:
        raise RuntimeError(
            "ucmail is not initialised on this app: call UCMail().init_app(app, db=db)"
        ) from None


def _agent_logged_out(app: Flask, user: Any = None, **_: Any) -> None:
    """Logging out of the host takes the agent offline at once (no heartbeat timeout)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return
    from ucmail_ext.services.desk.presence import go_offline

    go_offline(str(user.get_id()))


def _load_agent() -> Any:
    return get_state().hooks["agent_loader"]()


current_agent: Any = LocalProxy(_load_agent)


class UCMail:
    def __init__(self, app: Flask | None = None, db: Any = None) -> None:
        self._hooks: dict[str, Callable[..., Any]] = {}
        if app is not None:
            self.init_app(app, db=db)

    def init_app(self, app: Flask, db: Any = None) -> None:
        if "ucmail" in app.extensions:
            raise RuntimeError("A 'UCMail' instance has already been registered on this app.")
        if db is None:
            db = app.extensions.get("sqlalchemy")
        if db is None:
            raise RuntimeError(
                "ucmail needs the host's Flask-SQLAlchemy: call db.init_app(app) first "
                "and pass init_app(app, db=db)"
            )
        ucconfig.apply_defaults(app)
        cipher = build_cipher(app.config["UCMAIL_ENCRYPTION_KEYS"], app.config.get("SECRET_KEY"))
        require_signing_key(app.config.get("SECRET_KEY"))
        state = UCMailState(extension=self, db=db, cipher=cipher)
        state.hooks = resolve_hooks(app, self._hooks)
        app.extensions["ucmail"] = state

        from ucmail_ext import tasks  # noqa: F401  (registers the shared tasks)
        from ucmail_ext.auth import guard_request, remember_session_epoch, write_epoch_cookie
        from ucmail_ext.blueprints import register_blueprints
        from ucmail_ext.cli import register_cli

        i18n.init_app(app)
        register_blueprints(app)
        register_cli(app)
        exempt_signed_links(app)
        user_logged_out.connect(_agent_logged_out, app)
        user_logged_in.connect(remember_session_epoch, app)
        app.after_request(write_epoch_cookie)
        # First of all before_request hooks, the host's global CSRFProtect included:
        # role, CSRF and the body limit are decided before anything reads the body.
        app.before_request_funcs.setdefault(None, []).insert(0, guard_request)
        from ucmail_ext.services.metrics import connect_celery_signals

        connect_celery_signals()

    def _set_hook(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        self._hooks[name] = fn
        return fn

    def agent_loader(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """Return the current host user; default ``flask_login.current_user``."""
        return self._set_hook("agent_loader", fn)

    def role_checker(self, fn: Callable[[Any, str], bool]) -> Callable[[Any, str], bool]:
        """``fn(user, role) -> bool`` for roles admin, supervisor and agent."""
        return self._set_hook("role_checker", fn)

    def user_lookup(self, fn: Callable[[str], Any]) -> Callable[[str], Any]:
        """``fn(user_id) -> user or None``: names for member lists and tables."""
        return self._set_hook("user_lookup", fn)

    def agent_lister(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """``fn() -> users with the agent role``: the members screen offers these."""
        return self._set_hook("agent_lister", fn)

    def locale_selector(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """``fn() -> "es"`` (or None: Accept-Language): the language of ucmail's pages."""
        return self._set_hook("locale_selector", fn)

    def timezone_selector(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """``fn() -> "America/Montevideo"`` (or None: the campaign's zone, else UTC)."""
        return self._set_hook("timezone_selector", fn)

    @staticmethod
    def task_routes() -> dict[str, dict[str, str]]:
        from ucmail_ext.celery_config import task_routes

        return task_routes()

    @staticmethod
    def beat_schedule(app: Flask | None = None) -> dict[str, dict[str, Any]]:
        from ucmail_ext.celery_config import beat_schedule

        return beat_schedule(app or current_app)
