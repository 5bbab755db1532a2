"""The agent portal: tray on the left, the open conversation and the editor on the right.

Views parse the request and call one service (services/desk/portal.py, compose.py,
presence.py, chat.py, send.py). The page's JavaScript polls the tray and sends the
heartbeat; everything else is a plain form, so the portal works without it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from flask import (
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from ucmail_ext.auth import body_limit, current_agent_id, require_role, wants_json
from ucmail_ext.blueprints.common import make_blueprint
from ucmail_ext.i18n import gettext as _
from ucmail_ext.services import mail_view
from ucmail_ext.services.desk import (
    chat,
    collision,
    compose,
    dispositions,
    drafts,
    notes,
    portal,
    presence,
    send,
    transfer,
)
from ucmail_ext.services.pagination import parse_page

agent_bp = make_blueprint("agent", __name__)

# --------------------------------------------------------------------------- plumbing


def found_only(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Not visible is not found (404); visible but another agent's is forbidden (403)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        try:
            return view(*args, **kwargs)
        except portal.NotFound:
            if wants_json():
                return jsonify(error=_("not found")), 404
            abort(404)
        except portal.NotAllowed as exc:
            if wants_json():
                return jsonify(error=str(exc)), 403
            abort(403, description=str(exc))

    return wrapped


_inline_url = mail_view.inline_urls("ucmail_agent.inline_image")


def _int_arg(name: str) -> int | None:
    value = request.values.get(name, "")
    return int(value) if value.isdigit() else None


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _composed(kind: str) -> compose.Composed:
    files = [
        compose.NewFile(f.filename or "", f.mimetype or "", f.stream)
        for f in request.files.getlist("files")
        if f and f.filename
    ]
    return compose.Composed(
        kind=kind,
        to=request.form.get("to", ""),
        cc=request.form.get("cc", ""),
        bcc=request.form.get("bcc", ""),
        subject=request.form.get("subject", ""),
        body=request.form.get("body", ""),
        body_html=request.form.get("body_html", ""),
        files=files,
        source_message_id=_int_arg("source_message_id"),
        confirm_unfilled=request.form.get("confirm_unfilled") == "yes",
        seen_message_id=_int_arg("seen_message_id"),
    )


def _page(
    open_id: int | None,
    kind: str = "",
    *,
    status: int = 200,
    draft: compose.Draft | None = None,
    errors: dict[str, str] | None = None,
    newer: list[dict[str, Any]] | None = None,
) -> ResponseReturnValue:
    """The portal page: tray, search, the open conversation and the editor."""
    show_images = request.args.get("images") == "1"
    conversation = None
    templates: list[Any] = []
    agent_choices: list[transfer.AgentChoice] = []
    queue_choices: list[transfer.QueueChoice] = []
    if open_id is not None:
        conversation = portal.conversation(
            open_id, _inline_url, request.host_url.rstrip("/"), show_images
        )
        if draft is None and conversation.can_answer:
            draft = compose.editor_for(open_id, kind, _int_arg("source"))
        if draft is not None:
            templates = compose.template_choices(conversation.campaign_id)
        if conversation.mine or (conversation.state != "closed" and portal.is_supervising()):
            agent_choices = transfer.agent_choices(open_id)
            queue_choices = transfer.queue_choices()
    query = request.args.get("q", "")
    results = portal.search(query, parse_page(request.args.get("page"))) if query else None
    agent_id = current_agent_id() or ""
    tray = portal.tray()
    return render_template(
        "ucmail/agent/portal.html",
        tray=tray,
        tray_counts=portal.tray_counts(tray),
        status=portal.agent_status(),
        conversation=conversation,
        draft=draft,
        errors=errors or {},
        newer=newer or [],
        agent_choices=agent_choices,
        queue_choices=queue_choices,
        templates=templates,
        query=query,
        results=results,
        show_images=show_images,
        chat_history=[chat.as_dict(m) for m in chat.recent(agent_id)],
        heartbeat_ms=presence.heartbeat_interval_ms(),
    ), status


# --------------------------------------------------------------------------- pages


@agent_bp.get("/", endpoint="portal")
@require_role("agent")
@found_only
def portal_page() -> ResponseReturnValue:
    """Opening the portal puts the agent online (the heartbeat keeps them there)."""
    agent_id = current_agent_id() or ""
    presence.heartbeat(agent_id, portal.display_name())
    return _page(_int_arg("open"), request.args.get("compose", ""))


@agent_bp.post("/interactions/<int:interaction_id>/send")
@require_role("agent")
@body_limit("UCMAIL_REPLY_MAX_BYTES", "message with its attachments")
@found_only
def send_answer(interaction_id: int) -> ResponseReturnValue:
    kind = request.form.get("kind", "reply")
    composed = _composed(kind)
    try:
        compose.answer(interaction_id, composed)
    except compose.NewerMessages as exc:
        # Shown the newer messages, the agent's next Send goes out as they decide.
        draft = dataclasses.replace(composed.as_draft(), seen_message_id=exc.newest_id)
        return _page(
            interaction_id, kind, status=409, draft=draft, errors=exc.errors, newer=exc.messages
        )
    except compose.ComposeError as exc:
        draft = composed.as_draft()
        return _page(interaction_id, kind, status=400, draft=draft, errors=exc.errors)
    flash(_("Your message is on its way."), "success")
    return redirect(url_for("ucmail_agent.portal", open=interaction_id))


@agent_bp.post("/interactions/<int:interaction_id>/close")
@require_role("agent")
@found_only
def close(interaction_id: int) -> ResponseReturnValue:
    try:
        portal.close(interaction_id, request.form.get("disposition", ""))
    except dispositions.DispositionError as exc:
        return _page(interaction_id, status=400, errors={"disposition": str(exc)})
    flash(_("Interaction closed."), "success")
    return redirect(url_for("ucmail_agent.portal"))


@agent_bp.post("/interactions/<int:interaction_id>/transfer")
@require_role("agent")
@found_only
def transfer_interaction(interaction_id: int) -> ResponseReturnValue:
    """``target`` is ``agent:<id>`` or ``queue:<campaign id>``; ``note`` is optional."""
    kind, _sep, value = request.form.get("target", "").partition(":")
    note = request.form.get("note", "")
    try:
        if kind == "agent" and value:
            transfer.to_agent(interaction_id, value, note)
        elif kind == "queue" and value.isdigit():
            transfer.to_queue(interaction_id, int(value), note)
        else:
            raise transfer.TransferError(_("choose an agent or a queue"))
    except transfer.TransferError as exc:
        if wants_json():
            return jsonify(error=str(exc)), 409
        return _page(interaction_id, status=409, errors={"transfer": str(exc)})
    if wants_json():
        return jsonify(ok=True)
    flash(_("Interaction transferred."), "success")
    return redirect(url_for("ucmail_agent.portal"))


@agent_bp.post("/interactions/<int:interaction_id>/notes")
@require_role("agent")
@found_only
def add_note(interaction_id: int) -> ResponseReturnValue:
    """Internal: shown to agents and supervisors, never sent."""
    try:
        notes.add_note(
            interaction_id,
            request.form.get("note", ""),
            current_agent_id() or "",
            portal.display_name(),
        )
    except notes.NoteError as exc:
        return _page(interaction_id, status=400, errors={"note": str(exc)})
    return redirect(url_for("ucmail_agent.portal", open=interaction_id) + "#ucmail-timeline")


@agent_bp.post("/interactions/<int:interaction_id>/draft")
@require_role("agent")
@found_only
def save_draft(interaction_id: int) -> ResponseReturnValue:
    """The editor's debounced autosave (JSON)."""
    data = _json_body()

    def text(name: str) -> str:
        value = data.get(name, "")
        return value if isinstance(value, str) else ""

    def number(name: str) -> int | None:
        value = data.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    fields = drafts.DraftFields(
        kind=text("kind"),
        to=text("to"),
        cc=text("cc"),
        bcc=text("bcc"),
        subject=text("subject"),
        body=text("body"),
        body_html=text("body_html"),
        source_message_id=number("source_message_id"),
        seen_message_id=number("seen_message_id") or 0,
    )
    try:
        saved_at = drafts.save(interaction_id, fields)
    except drafts.DraftError as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(saved_at=saved_at.isoformat())


@agent_bp.post("/interactions/<int:interaction_id>/draft/discard")
@require_role("agent")
@found_only
def discard_draft(interaction_id: int) -> ResponseReturnValue:
    drafts.discard(interaction_id)
    if wants_json():
        return jsonify(ok=True)
    return redirect(url_for("ucmail_agent.portal", open=interaction_id))


@agent_bp.post("/interactions/<int:interaction_id>/live")
@require_role("agent")
@found_only
def conversation_live(interaction_id: int) -> ResponseReturnValue:
    """The open conversation's poll: say I am here (typing?), hear who else is, and
    what arrived after the editor's ``seen_message_id``."""
    data = _json_body()
    portal.visible_interaction(interaction_id)
    agent_id = current_agent_id() or ""
    collision.touch(interaction_id, agent_id, portal.display_name(), data.get("typing") is True)
    seen = data.get("seen_message_id")
    newer = []
    if isinstance(seen, int) and not isinstance(seen, bool):
        newer = [
            collision.describe(m) for m in collision.newer_messages(interaction_id, seen, agent_id)
        ]
    return jsonify(
        viewers=[p.as_dict() for p in collision.others(interaction_id, agent_id)],
        newer=newer,
    )


@agent_bp.post("/messages/<int:message_id>/retry")
@require_role("agent")
@found_only
def retry(message_id: int) -> ResponseReturnValue:
    message = portal.message_of(message_id)
    if send.requeue(message.id):
        flash(_("Sending the message again."), "success")
    return redirect(url_for("ucmail_agent.portal", open=message.interaction_id))


@agent_bp.route("/new", methods=["GET", "POST"])
@require_role("agent")
@body_limit("UCMAIL_REPLY_MAX_BYTES", "message with its attachments")
@found_only
def new_interaction() -> ResponseReturnValue:
    campaigns = compose.campaigns_for_new()
    campaign_id = _int_arg("campaign")
    if campaign_id is None and len(campaigns) == 1:
        campaign_id = campaigns[0].id
    errors: dict[str, str] = {}
    if request.method == "POST":
        composed = _composed("new")
        if campaign_id is None:
            errors["campaign"] = _("choose a campaign")
        else:
            try:
                interaction = compose.start(campaign_id, composed)
            except compose.ComposeError as exc:
                errors = exc.errors
            else:
                flash(_("Your message is on its way."), "success")
                return redirect(url_for("ucmail_agent.portal", open=interaction.id))
        draft = composed.as_draft()
    else:
        draft = compose.new_draft(campaign_id)
    return render_template(
        "ucmail/agent/new.html",
        campaigns=campaigns,
        campaign_id=campaign_id,
        templates=compose.template_choices(campaign_id) if campaign_id else [],
        draft=draft,
        errors=errors,
        heartbeat_ms=presence.heartbeat_interval_ms(),
    ), (400 if errors else 200)


@agent_bp.get("/templates/<int:template_id>.json")
@require_role("agent")
@found_only
def template_json(template_id: int) -> ResponseReturnValue:
    campaign_id = _int_arg("campaign")
    if campaign_id is None:
        return jsonify(error=_("campaign required")), 400
    return jsonify(compose.template_text(template_id, campaign_id, _int_arg("interaction")))


@agent_bp.get("/attachments/<int:attachment_id>")
@require_role("agent")
@found_only
def attachment(attachment_id: int) -> ResponseReturnValue:
    return mail_view.attachment_response(attachment_id)


@agent_bp.get("/inline/<token>")
def inline_image(token: str) -> ResponseReturnValue:
    """Cookieless, from the sandboxed frame: the signed token minted for the viewing
    agent is the credential."""
    return mail_view.inline_image_response(token)


# Who can hold a token (the recordings viewer mints the same ones for supervisors):
# read by the role x endpoint matrix like require_role's mark.
inline_image.ucmail_roles = ("agent", "supervisor")  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- live JSON


@agent_bp.get("/tray.json")
@require_role("agent")
def tray_json() -> ResponseReturnValue:
    items = portal.tray()
    return jsonify(
        items=[item.as_dict() for item in items],
        counts=[count.as_dict() for count in portal.tray_counts(items)],
        status=portal.agent_status().as_dict(),
    )


@agent_bp.post("/heartbeat")
@require_role("agent")
def heartbeat() -> ResponseReturnValue:
    """Keeps the agent online and mirrors their screen for the supervisor's monitor."""
    screen = portal.screen_snapshot(_json_body().get("screen"))
    agent_id = current_agent_id() or ""
    presence.heartbeat(agent_id, portal.display_name(), screen=screen)
    return jsonify(
        logged_out=False,
        chat=[chat.as_dict(m) for m in chat.unread_for_agent(agent_id)],
        status=portal.agent_status().as_dict(),
    )


@agent_bp.post("/status")
@require_role("agent")
def set_status() -> ResponseReturnValue:
    wanted = request.form.get("status", "free")
    reason = request.form.get("reason", "").strip() or "Break"
    presence.set_break(current_agent_id() or "", reason if wanted == "break" else None)
    if wants_json():
        return jsonify(portal.agent_status().as_dict())
    return redirect(request.referrer or url_for("ucmail_agent.portal"))


@agent_bp.post("/chat")
@require_role("agent")
def chat_reply() -> ResponseReturnValue:
    try:
        message = chat.reply_from_agent(current_agent_id() or "", str(_json_body().get("body", "")))
    except chat.ChatError as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(message=chat.as_dict(message))


@agent_bp.post("/chat/read")
@require_role("agent")
def chat_read() -> ResponseReturnValue:
    up_to = _json_body().get("up_to")
    if isinstance(up_to, int) and not isinstance(up_to, bool):
        chat.mark_read_by_agent(current_agent_id() or "", up_to)
    return jsonify(ok=True)
