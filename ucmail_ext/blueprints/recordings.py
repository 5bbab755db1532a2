"""Recordings: search every conversation, read it, print it, export it.

Agents and supervisors both come here; services/recordings.py decides which
campaigns each one sees. A recording outside those is a 404, like a missing one.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import Any

from flask import abort, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from ucmail_ext.auth import require_role
from ucmail_ext.blueprints.common import make_blueprint
from ucmail_ext.services import recordings
from ucmail_ext.services.pagination import parse_page
from ucmail_ext.services.recording_export import EXPORTS

recordings_bp = make_blueprint("recordings", __name__)


def visible_only(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """A recording the user may not see answers 404, exactly like a missing one."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        try:
            return view(*args, **kwargs)
        except recordings.RecordingNotFound:
            abort(404)

    return wrapped


def _protect(response: Response) -> Response:
    """A file from a customer is never sniffed, framed or run as a page of ours."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@recordings_bp.get("/")
@require_role("agent", "supervisor")
def index() -> ResponseReturnValue:
    query, errors = recordings.parse_query(request.args)
    page = None if errors else recordings.search(query, parse_page(request.args.get("page")))
    return render_template(
        "ucmail/recordings/index.html",
        query=query,
        errors=errors,
        page=page,
        campaign_choices=recordings.campaign_choices(),
        agent_choices=recordings.agent_choices(),
    )


def _inline_url(attachment_id: int) -> str:
    token = recordings.inline_token(attachment_id)
    return url_for("ucmail_recordings.inline_image", token=token, _external=True)


@recordings_bp.get("/<int:interaction_id>")
@require_role("agent", "supervisor")
@visible_only
def view(interaction_id: int) -> ResponseReturnValue:
    show_images = request.args.get("images") == "1"
    conversation = recordings.conversation(
        interaction_id,
        _inline_url,
        image_origin=request.host_url.rstrip("/"),
        show_images=show_images,
    )
    return render_template(
        "ucmail/recordings/view.html",
        conversation=conversation,
        show_images=show_images,
        back_args=request.args.to_dict(flat=False),
    )


@recordings_bp.get("/<int:interaction_id>/export.<kind>")
@require_role("agent", "supervisor")
@visible_only
def export(interaction_id: int, kind: str) -> ResponseReturnValue:
    if kind not in EXPORTS:
        abort(404)
    exported = EXPORTS[kind](interaction_id)
    response = send_file(
        io.BytesIO(exported.data),
        mimetype=exported.mimetype,
        as_attachment=True,
        download_name=exported.filename,
    )
    return _protect(response)


@recordings_bp.get("/attachments/<int:attachment_id>")
@require_role("agent", "supervisor")
@visible_only
def attachment(attachment_id: int) -> ResponseReturnValue:
    found = recordings.open_attachment(attachment_id)
    response = send_file(
        found.path, mimetype=found.mimetype, as_attachment=True, download_name=found.download_name
    )
    return _protect(response)


@recordings_bp.get("/inline/<token>")
def inline_image(token: str) -> ResponseReturnValue:
    """Images inside a viewed message. The viewer's sandboxed frame has an opaque
    origin, so the browser sends no session cookie with them: the signed token, minted
    only for agents and supervisors viewing the message, is the credential instead."""
    try:
        found = recordings.open_inline_image(token)
    except recordings.RecordingNotFound:
        return Response("not authorized", status=401, mimetype="text/plain")
    response = send_file(found.path, mimetype=found.mimetype, download_name=found.download_name)
    return _protect(response)


# Who can hold a token: read by the role x endpoint matrix like require_role's mark.
inline_image.ucmail_roles = ("agent", "supervisor")  # type: ignore[attr-defined]
