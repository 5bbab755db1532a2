"""Supervision: the live tables, and the actions on one agent (spy, screen, info, ...).

Pages are rendered once; their JavaScript polls the JSON endpoints here every
``UCMAIL_LIVE_POLL_MS``. Every endpoint checks the supervisor role, and every
per-agent endpoint checks that the agent works in a campaign the user may see.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ucmail_ext.auth import current_agent_id, require_role, wants_json
from ucmail_ext.blueprints.common import make_blueprint
from ucmail_ext.i18n import gettext as _
from ucmail_ext.i18n import user_timezone
from ucmail_ext.models import utcnow
from ucmail_ext.services.desk.chat import ChatError, as_dict
from ucmail_ext.services.desk.transfer import TransferError
from ucmail_ext.services.mail_view import NotFound
from ucmail_ext.services.supervision import actions
from ucmail_ext.services.supervision import feed as supervision

supervision_bp = make_blueprint("supervision", __name__)


def _not_found() -> ResponseReturnValue:
    if wants_json() or request.path.endswith(".json") or request.method == "POST":
        return jsonify(error=_("not found")), 404
    abort(404)


def for_agent(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """An agent outside the supervisor's campaigns is a 404, like one that does not exist."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        try:
            return view(*args, **kwargs)
        except actions.AgentNotFound:
            return _not_found()

    return wrapped


def _campaign_args() -> list[int]:
    picked = []
    for value in request.args.getlist("campaign"):
        if value.isdigit():
            picked.append(int(value))
    return picked


def _after() -> int:
    value = request.args.get("after", "0")
    return int(value) if value.isdigit() else 0


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def _by() -> str:
    return current_agent_id() or ""


def _jsonable(value: Any) -> Any:
    """Dataclasses to JSON: datetimes as ISO strings, tuples as lists."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@supervision_bp.get("/")
@require_role("supervisor")
def index() -> ResponseReturnValue:
    return render_template(
        "ucmail/supervision/index.html",
        campaigns=supervision.selectable_campaigns(),
        selected=set(_campaign_args()),
        charts=supervision.today_charts(_campaign_args(), zone=user_timezone()),
    )


@supervision_bp.get("/charts")
@require_role("supervisor")
def charts() -> ResponseReturnValue:
    """The hourly charts as an HTML fragment, refreshed by the page (static/charts.js)."""
    html = render_template(
        "ucmail/supervision/_charts.html",
        charts=supervision.today_charts(_campaign_args(), zone=user_timezone()),
    )
    return jsonify(html=html)


@supervision_bp.get("/feed")
@require_role("supervisor")
def feed() -> ResponseReturnValue:
    return jsonify(supervision.feed_as_dict(supervision.feed(_campaign_args())))


@supervision_bp.get("/agents/<agent_id>/spy")
@require_role("supervisor")
@for_agent
def spy(agent_id: str) -> ResponseReturnValue:
    actions.record_view(_by(), "spy", agent_id)
    return render_template("ucmail/supervision/spy.html", view=actions.spy(agent_id))


@supervision_bp.get("/agents/<agent_id>/spy.json")
@require_role("supervisor")
@for_agent
def spy_feed(agent_id: str) -> ResponseReturnValue:
    return jsonify(_jsonable(asdict(actions.spy(agent_id, _after()))))


def _require_monitor_screen() -> None:
    if not current_app.config["UCMAIL_MONITOR_SCREEN"]:
        abort(404, description=_("Monitor screen is turned off (UCMAIL_MONITOR_SCREEN)."))


@supervision_bp.get("/agents/<agent_id>/screen")
@require_role("supervisor")
@for_agent
def screen(agent_id: str) -> ResponseReturnValue:
    _require_monitor_screen()
    actions.record_view(_by(), "monitor", agent_id)
    return render_template("ucmail/supervision/screen.html", view=actions.screen(agent_id))


@supervision_bp.get("/agents/<agent_id>/screen.json")
@require_role("supervisor")
@for_agent
def screen_feed(agent_id: str) -> ResponseReturnValue:
    _require_monitor_screen()
    view = actions.screen(agent_id)
    data = _jsonable(asdict(view))
    data["seconds_ago"] = (
        int((utcnow() - view.updated_at).total_seconds()) if view.updated_at else None
    )
    return jsonify(data)


@supervision_bp.get("/agents/<agent_id>/info")
@require_role("supervisor")
@for_agent
def info(agent_id: str) -> ResponseReturnValue:
    actions.record_view(_by(), "info", agent_id)
    return render_template("ucmail/supervision/info.html", info=actions.info(agent_id))


@supervision_bp.get("/agents/<agent_id>/interactions")
@require_role("supervisor")
@for_agent
def agent_interactions(agent_id: str) -> ResponseReturnValue:
    """The agent's open interactions, each with a reassign form."""
    return render_template(
        "ucmail/supervision/reassign.html",
        agent_id=agent_id,
        name=actions.info(agent_id).name,
        rows=actions.reassign_rows(agent_id),
        error=request.args.get("error", ""),
    )


@supervision_bp.post("/interactions/<int:interaction_id>/reassign")
@require_role("supervisor")
def reassign(interaction_id: int) -> ResponseReturnValue:
    """Hand another agent's interaction to a colleague or a queue, with a note."""
    back = request.form.get("agent", "")
    try:
        actions.reassign(
            interaction_id, request.form.get("target", ""), request.form.get("note", "")
        )
    except NotFound:
        return _not_found()
    except TransferError as exc:
        if wants_json():
            return jsonify(error=str(exc)), 409
        flash(_("Not reassigned: %(problem)s", problem=exc), "error")
    else:
        if wants_json():
            return jsonify(ok=True)
        flash(_("Interaction reassigned."), "success")
    if back:
        return redirect(url_for("ucmail_supervision.agent_interactions", agent_id=back))
    return redirect(url_for("ucmail_supervision.index"))


@supervision_bp.post("/agents/<agent_id>/pause")
@require_role("supervisor")
@for_agent
def pause(agent_id: str) -> ResponseReturnValue:
    wanted = request.form.get("paused") or _json_body().get("paused")
    paused = actions.set_paused(_by(), agent_id, str(wanted).lower() in {"1", "true", "on"})
    return jsonify(agent_id=agent_id, paused=paused)


@supervision_bp.post("/agents/<agent_id>/logout")
@require_role("supervisor")
@for_agent
def logout(agent_id: str) -> ResponseReturnValue:
    actions.log_out(_by(), agent_id)
    return jsonify(agent_id=agent_id, logged_out=True)


@supervision_bp.get("/agents/<agent_id>/chat")
@require_role("supervisor")
@for_agent
def chat_feed(agent_id: str) -> ResponseReturnValue:
    return jsonify(messages=actions.chat_history(agent_id, _after()))


@supervision_bp.post("/agents/<agent_id>/chat")
@require_role("supervisor")
@for_agent
def chat_send(agent_id: str) -> ResponseReturnValue:
    body = request.form.get("body")
    if body is None:
        body = str(_json_body().get("body") or "")
    try:
        message = actions.send_chat(_by(), agent_id, body)
    except ChatError as error:
        return jsonify(error=str(error)), 400
    return jsonify(message=as_dict(message))
