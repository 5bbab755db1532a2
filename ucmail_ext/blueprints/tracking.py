"""Links that arrive from customers' mail clients: pixel, click, rating, unsubscribe.

Public and CSRF-exempt: no session comes with them, only a token signed for one
purpose and one message. Their pages stand alone (no helpdesk layout, no login).
"""

from __future__ import annotations

from flask import Response, redirect, render_template, request

from ucmail_ext.auth import csrf_exempt
from ucmail_ext.blueprints.common import make_blueprint
from ucmail_ext.i18n import campaign_language, gettext
from ucmail_ext.services.desk import rating
from ucmail_ext.services.dialer import clicks, tracking

tracking_bp = make_blueprint("tracking", __name__)

_NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}


@tracking_bp.get("/p/<token>.gif")
@csrf_exempt
def pixel(token: str) -> Response:
    tracking.mark_seen(token)
    return Response(tracking.PIXEL_GIF, mimetype="image/gif", headers=_NO_STORE)


def _page(template: str, status: int = 200, **context: object) -> Response:
    response = Response(render_template(template, **context), status=status)
    response.headers.update(_NO_STORE)
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@tracking_bp.get("/c/<int:link_id>/<token>")
@csrf_exempt
def click(link_id: int, token: str) -> Response:
    """Only ever to the link as the list's template wrote it (services/dialer/clicks.py)."""
    outcome = clicks.follow(link_id, token)
    if outcome is None:
        return _page(
            "ucmail/tracking/invalid.html",
            400,
            message=gettext("This link is not valid or has changed."),
        )
    response = redirect(outcome.url, 302)
    response.headers.update(_NO_STORE)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@tracking_bp.route("/u/<token>", methods=["GET", "POST"])
@csrf_exempt
def unsubscribe(token: str) -> Response:
    """GET asks (a link scanner must not unsubscribe anyone); POST does it (RFC 8058)."""
    with campaign_language(tracking.unsubscribe_campaign(token)):
        return _unsubscribe(token)


def _unsubscribe(token: str) -> Response:
    if request.method == "GET":
        target = tracking.unsubscribe_target(token)
        if target is None:
            return _page("ucmail/tracking/invalid.html", 404)
        return _page("ucmail/tracking/unsubscribe.html", target=target, token=token)
    if request.form.get("List-Unsubscribe") != "One-Click":
        return _page("ucmail/tracking/invalid.html", 400)
    outcome = tracking.unsubscribe(token)
    if not outcome.ok:
        return _page("ucmail/tracking/invalid.html", 404, message=outcome.error)
    return _page("ucmail/tracking/unsubscribed.html", outcome=outcome)


@tracking_bp.get("/rate/<token>/<int:score>")
@csrf_exempt
def rate(token: str, score: int) -> Response:
    with campaign_language(rating.rated_campaign(token)):
        outcome = rating.record_rating(token, score)
        return _page("ucmail/tracking/rating.html", 200 if outcome.ok else 400, outcome=outcome)
