"""A small but real Flask helpdesk that mounts ucmail the way the README says.

Its own users, roles and login pages; ucmail sees them only through the hooks.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from example_host_app.celery_app import celery_init_app
from example_host_app.extensions import csrf, db, login_manager, ucmail


def default_config(instance_path: str) -> dict[str, Any]:
    return {
        "SQLALCHEMY_DATABASE_URI": os.environ.get(
            "HELPDESK_DATABASE_URL", f"sqlite:///{Path(instance_path) / 'helpdesk.db'}"
        ),
        "UCMAIL_BASE_TEMPLATE": "layout.html",
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "UCMAIL_DISPATCH": os.environ.get("HELPDESK_UCMAIL_DISPATCH", "celery"),
        "CELERY": {
            "broker_url": os.environ.get("HELPDESK_BROKER_URL", "redis://127.0.0.1:6379/0"),
            "task_ignore_result": True,
            "task_acks_late": True,
            "worker_prefetch_multiplier": 1,
            "broker_connection_retry_on_startup": True,
        },
    }


# Keys this project once shipped in its source: anyone can read them, so they count as none.
PUBLIC_KEYS = frozenset({"dev-only-change-me", "demo-secret-key"})
NO_SECRET_KEY = (
    "helpdesk: refusing to start without a secret key: set HELPDESK_SECRET_KEY to a long "
    "random value (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
)


def stored_secret_key(path: Path) -> str:
    """A random key made on first use and kept in ``path`` (readable by its owner only),
    so sessions and encrypted mailbox passwords survive a restart."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def require_secret_key(app: Flask) -> None:
    """The key signs sessions (an admin session can be forged without it), signed links
    and derives the mailbox password key: a public fallback would give all three away.
    Debugging and tests get a random key kept in the instance folder instead."""
    key = app.config.get("SECRET_KEY")
    if key and key not in PUBLIC_KEYS:
        return
    if app.debug or app.testing:
        app.config["SECRET_KEY"] = stored_secret_key(Path(app.instance_path) / "secret-key")
        return
    raise SystemExit(NO_SECRET_KEY)


def secure_cookies(app: Flask) -> None:
    """Cookies over https only when the helpdesk is served over https (its public URL)."""
    public_url = str(app.config.get("UCMAIL_PUBLIC_URL") or "")
    if public_url.lower().startswith("https://"):
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True


def init_babel(app: Flask) -> None:
    """A helpdesk that already speaks several languages with its own Flask-Babel: ucmail
    adds its catalogs beside the host's and leaves this setup alone."""
    from flask import request
    from flask_babel import Babel

    def host_locale() -> str | None:
        return request.accept_languages.best_match(["en", "es"]) or "en"

    Babel(app, locale_selector=host_locale)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(default_config(app.instance_path))
    app.config.from_prefixed_env("HELPDESK")
    if test_config:
        app.config.update(test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    require_secret_key(app)
    secure_cookies(app)

    db.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    if app.config.get("HELPDESK_BABEL"):
        init_babel(app)
    ucmail.init_app(app, db=db)
    celery = app.config["CELERY"]
    celery.setdefault("task_routes", ucmail.task_routes())
    celery.setdefault("beat_schedule", ucmail.beat_schedule(app))
    celery_init_app(app)

    from example_host_app import cli, views

    app.register_blueprint(views.bp)
    cli.register(app)
    return app
