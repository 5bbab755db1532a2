"""JSON API for hosts that drive ucmail from their own front end."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from ucmail_ext.auth import require_role
from ucmail_ext.blueprints.common import make_blueprint
from ucmail_ext.services.health import database_summary

api_bp = make_blueprint("api", __name__)


@api_bp.get("/health")
@require_role("supervisor")
def health() -> ResponseReturnValue:
    return jsonify(database_summary())
