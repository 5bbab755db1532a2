"""Recordings pages."""

from __future__ import annotations

from flask import render_template

from ucmail_ext.auth import require_role
from ucmail_ext.blueprints.common import make_blueprint

recordings_bp = make_blueprint("recordings", __name__)


@recordings_bp.get("/")
@require_role("agent")
def index() -> str:
    return render_template("ucmail/overview.html", section="Recordings")
