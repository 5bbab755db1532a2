"""Recordings: search every conversation, read it, print it, export it.

Agents and supervisors both come here; services/supervision/recordings.py decides which
campaigns each one sees. A recording outside those is a 404, like a missing one.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import Any

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue

from ucmail_ext.auth import require_role
from ucmail_ext.blueprints.common import make_blueprint
from ucmail_ext.i18n import current_timezone
from ucmail_ext.services import mail_view
from ucmail_ext.services.desk import notes
from ucmail_ext.services.pagination import parse_page
from ucmail_ext.services.supervision import recordings
from ucmail_ext.services.supervision.export import EXPORTS

recordings_bp = make_blueprint("recordings", __name__)


def visible_only(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """A recording the user may not see answers 404, exactly like a missing one."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        try:
            return view(*args, **kwargs)
        except mail_view.NotFound:
            abort(404)

    return wrapped


@recordings_bp.get("/")
@require_role("agent", "supervisor")
def index() -> ResponseReturnValue:
    query, errors = recordings.parse_query(request.args, zone=current_timezone().key)
    page = None if errors else recordings.search(query, parse_page(request.args.get("page")))
    return render_template(
        "ucmail/recordings/index.html",
        query=query,
        errors=errors,
        page=page,
        campaign_choices=recordings.campaign_choices(),
        agent_choices=recordings.agent_choices(),
        disposition_choices=recordings.disposition_choices(),
    )


_inline_url = mail_view.inline_urls("ucmail_recordings.inline_image")


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
    return mail_view.send_protected(io.BytesIO(exported.data), exported.mimetype, exported.filename)


@recordings_bp.get("/<int:interaction_id>/notes.txt")
@require_role("agent", "supervisor")
@visible_only
def notes_export(interaction_id: int) -> ResponseReturnValue:
    """Internal notes on their own: the mail exports never carry them."""
    data = notes.export_text(interaction_id).encode()
    return mail_view.send_protected(
        io.BytesIO(data), "text/plain", f"conversation-{interaction_id}-notes.txt"
    )


@recordings_bp.get("/attachments/<int:attachment_id>")
@require_role("agent", "supervisor")
@visible_only
def attachment(attachment_id: int) -> ResponseReturnValue:
    return mail_view.attachment_response(attachment_id)


@recordings_bp.get("/inline/<token>")
def inline_image(token: str) -> ResponseReturnValue:
    """Cookieless, from the sandboxed frame: the signed token minted for the viewing
    agent or supervisor is the credential."""
    return mail_view.inline_image_response(token)


# Who can hold a token: read by the role x endpoint matrix like require_role's mark.
inline_image.ucmail_roles = ("agent", "supervisor")  # type: ignore[attr-defined]
