"""Agent pages."""

from __future__ import annotations

from flask import render_template

from ucmail_ext.auth import require_role
from ucmail_ext.blueprints.common import make_blueprint

agent_bp = make_blueprint("agent", __name__)


@agent_bp.get("/")
@require_role("agent")
def portal() -> str:
    return render_template("ucmail/overview.html", section="Agent")
