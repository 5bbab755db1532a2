"""Members screen: campaigns, agents and the members of the selected campaigns.

The spec's three columns: select one or more campaigns and one or more agents,
press Add or Remove, and the third column shows the result.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ucmail_ext.auth import current_agent_id, has_role, require_role
from ucmail_ext.blueprints.common import make_blueprint
from ucmail_ext.i18n import ngettext
from ucmail_ext.services.access import visible_campaign_ids
from ucmail_ext.services.admin import members as service
from ucmail_ext.services.admin.campaigns import live_campaigns

members_bp = make_blueprint("members", __name__)


def _selected(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()][:1000]


def _render(
    campaign_ids: list[int],
    agent_ids: list[str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    visible = visible_campaign_ids()
    if visible is not None:
        campaign_ids = [c for c in campaign_ids if c in visible]
    html = render_template(
        "ucmail/members/index.html",
        campaigns=live_campaigns(visible),
        agents=service.list_agents(),
        members=service.members_of(campaign_ids),
        selected_campaigns=set(campaign_ids),
        selected_agents=set(agent_ids),
        errors=errors or {},
        readonly=not has_role("admin"),
    )
    return html, status


@members_bp.get("/")
@require_role("supervisor")
def index() -> ResponseReturnValue:
    return _render(_selected(request.args.getlist("campaign_ids")), [])


@members_bp.post("/show")
@require_role("supervisor")
def show() -> ResponseReturnValue:
    """The selection comes from the same form as Add/Remove; a GET would put the
    form's CSRF token in the URL, so it posts here and is redirected."""
    selected = _selected(request.form.getlist("campaign_ids"))
    return redirect(url_for(".index", campaign_ids=selected))


def _change(action: str) -> ResponseReturnValue:
    campaign_ids: Any = request.form.getlist("campaign_ids")
    agent_ids: Any = request.form.getlist("agent_ids")
    actor = current_agent_id() or ""
    if action == "add":
        result = service.add_members(campaign_ids, agent_ids, actor_id=actor)
    else:
        result = service.remove_members(campaign_ids, agent_ids, actor_id=actor)
    if not result.ok:
        return _render(_selected(campaign_ids), agent_ids, result.errors, 422)
    if action == "add":
        done = ngettext("%(num)s membership added.", "%(num)s memberships added.", result.changed)
    else:
        done = ngettext(
            "%(num)s membership removed.", "%(num)s memberships removed.", result.changed
        )
    flash(done, "success")
    return redirect(url_for(".index", campaign_ids=_selected(campaign_ids)))


@members_bp.post("/add")
@require_role("admin")
def add() -> ResponseReturnValue:
    return _change("add")


@members_bp.post("/remove")
@require_role("admin")
def remove() -> ResponseReturnValue:
    return _change("remove")
