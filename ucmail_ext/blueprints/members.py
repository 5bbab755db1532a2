"""Members pages."""

from __future__ import annotations

from flask import render_template

from ucmail_ext.auth import require_role
from ucmail_ext.blueprints.common import make_blueprint

members_bp = make_blueprint("members", __name__)


@members_bp.get("/")
@require_role("supervisor")
def index() -> str:
    return render_template("ucmail/overview.html", section="Members")
