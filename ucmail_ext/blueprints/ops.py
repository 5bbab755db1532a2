"""Operations endpoints for machines, not people: Prometheus metrics and readiness.

Both are read by a scraper or an orchestrator that cannot log in, so they take no
session: with ``UCMAIL_OPS_TOKEN`` set they want ``Authorization: Bearer <token>``,
without it they are open and belong behind the network's own fence. Mounted at
``<UCMAIL_URL_PREFIX>/ops`` by default; a host can mount ``ops_bp`` anywhere.
"""

from __future__ import annotations

import hmac

from flask import Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from ucmail_ext.blueprints.common import make_blueprint
from ucmail_ext.services import health, metrics

ops_bp = make_blueprint("ops", __name__)


@ops_bp.before_request
def require_token() -> ResponseReturnValue | None:
    expected = current_app.config["UCMAIL_OPS_TOKEN"]
    if not expected:
        return None
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else ""
    if not hmac.compare_digest(given.encode(), str(expected).encode()):
        response = jsonify(error="a valid 'Authorization: Bearer <UCMAIL_OPS_TOKEN>' is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="ucmail-ops"'
        return response, 401
    return None


@ops_bp.get("/metrics")
def metrics_view() -> ResponseReturnValue:
    if not metrics.available():
        return Response(metrics.MISSING_MESSAGE + "\n", status=501, mimetype="text/plain")
    body = metrics.exposition()
    return Response(
        body, headers={"Content-Type": metrics.CONTENT_TYPE, "Cache-Control": "no-store"}
    )


@ops_bp.get("/ready")
def ready_view() -> ResponseReturnValue:
    result = health.readiness()
    response = jsonify(result.as_dict())
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if result.ok else 503
