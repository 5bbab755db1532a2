"""ucmail's blueprints; each module exposes one ``<name>_bp`` usable on its own.

``init_app`` registers those named in ``UCMAIL_BLUEPRINTS``; a host may instead
register any single one itself: ``app.register_blueprint(dialer_bp, url_prefix=...)``.
"""

from __future__ import annotations

import importlib

from flask import Blueprint, Flask

from ucmail_ext.config import ALL_BLUEPRINTS


def load_blueprint(name: str) -> Blueprint:
    if name not in ALL_BLUEPRINTS:
        raise ValueError(f"UCMAIL_BLUEPRINTS names an unknown blueprint {name!r}")
    module = importlib.import_module(f"ucmail_ext.blueprints.{name}")
    return getattr(module, f"{name}_bp")


def register_blueprints(app: Flask) -> None:
    prefix = app.config["UCMAIL_URL_PREFIX"].rstrip("/")
    for name in app.config["UCMAIL_BLUEPRINTS"]:
        bp = load_blueprint(name)
        url_prefix = app.config["UCMAIL_API_PREFIX"] if name == "api" else f"{prefix}/{name}"
        app.register_blueprint(bp, url_prefix=url_prefix)
