"""A small but real Flask helpdesk that mounts ucmail the way the README says.

Its own users, roles and login pages; ucmail sees them only through the hooks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from example_host_app.celery_app import celery_init_app
from example_host_app.extensions import csrf, db, login_manager, ucmail


def default_config(instance_path: str) -> dict[str, Any]:
    return {
        "SECRET_KEY": os.environ.get("HELPDESK_SECRET_KEY", "dev-only-change-me"),
        "SQLALCHEMY_DATABASE_URI": os.environ.get(
            "HELPDESK_DATABASE_URL", f"sqlite:///{Path(instance_path) / 'helpdesk.db'}"
        ),
        "UCMAIL_BASE_TEMPLATE": "layout.html",
        "UCMAIL_DISPATCH": os.environ.get("HELPDESK_UCMAIL_DISPATCH", "celery"),
        "CELERY": {
            "broker_url": os.environ.get("HELPDESK_BROKER_URL", "redis://127.0.0.1:6379/0"),
            "task_ignore_result": True,
            "task_acks_late": True,
            "worker_prefetch_multiplier": 1,
            "broker_connection_retry_on_startup": True,
        },
    }


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(default_config(app.instance_path))
    app.config.from_prefixed_env("HELPDESK")
    if test_config:
        app.config.update(test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    ucmail.init_app(app, db=db)
    celery = app.config["CELERY"]
    celery.setdefault("task_routes", ucmail.task_routes())
    celery.setdefault("beat_schedule", ucmail.beat_schedule(app))
    celery_init_app(app)

    from example_host_app import cli, views

    app.register_blueprint(views.bp)
    cli.register(app)
    return app
