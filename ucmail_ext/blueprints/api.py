"""JSON API for hosts that drive ucmail from their own front end.

The same services as the HTML screens, so the same validation and the same roles:
supervisors read, admins write. Writes need the CSRF token in an ``X-CSRFToken``
header (the blueprint refuses an unsafe request without it). Every error is
``{"error": ..., "fields": {...}}`` with a fitting status code; lists are paginated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from ucmail_ext.auth import current_agent_id, require_role
from ucmail_ext.blueprints.api_schema import openapi_document
from ucmail_ext.blueprints.common import make_blueprint
from ucmail_ext.i18n import N_, gettext
from ucmail_ext.services.access import visible_campaign_ids
from ucmail_ext.services.admin import campaigns, members, templates
from ucmail_ext.services.admin import deliverability as deliverability_service
from ucmail_ext.services.admin import dkim as dkim_service
from ucmail_ext.services.health import database_summary
from ucmail_ext.services.oauth import flow as oauth_flow
from ucmail_ext.services.pagination import Page, parse_page

api_bp = make_blueprint("api", __name__)

_MAX_PER_PAGE = 200
# Ids are 32-bit columns on PostgreSQL: a larger number in a URL is no id, not a 500.
_MAX_ID = 2**31 - 1


@api_bp.before_request
def require_login() -> ResponseReturnValue | None:
    """An API client gets a 401 it can act on, never a redirect to a login page."""
    if current_agent_id() is None:
        return jsonify(error="login required", fields={}), 401
    return None


@api_bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> ResponseReturnValue:
    """Errors raised anywhere in an API request (CSRF, roles, 404) answer in JSON."""
    message = exc.description or exc.name
    return jsonify(error=message, fields={}), exc.code or 500


def _error(
    message: str, status: int, fields: Mapping[str, str] | None = None, **extra: Any
) -> ResponseReturnValue:
    return jsonify(error=message, fields=dict(fields or {}), **extra), status


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description=gettext("The request body must be a JSON object."))
    return body


def _page_args() -> tuple[int, int]:
    default = int(current_app.config["UCMAIL_PAGE_SIZE"])
    per_page = parse_page(request.args.get("per_page", default))
    return parse_page(request.args.get("page")), min(per_page, _MAX_PER_PAGE)


def _page_body(page: Page[Any], as_dict: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    return {
        "items": [as_dict(item) for item in page.items],
        "page": page.number,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
    }


def _confirmed() -> bool:
    """A delete is confirmed by ``?confirm=yes`` or ``{"confirm": true}`` in an optional body."""
    if request.args.get("confirm") in ("yes", "true", "1"):
        return True
    body = request.get_json(silent=True) if request.data else None
    return isinstance(body, dict) and body.get("confirm") in (True, "yes", "true", "1")


def _flag(name: str) -> bool:
    """An opt-in option of a write, as ``?name=yes`` or ``{"name": true}`` in the body."""
    if request.args.get(name) in ("yes", "true", "1"):
        return True
    body = request.get_json(silent=True) if request.data else None
    return isinstance(body, dict) and body.get(name) in (True, "yes", "true", "1")


def _actor() -> str:
    return current_agent_id() or ""


# What a 404 for an id says, per kind of thing, in whole sentences that translate.
NOT_FOUND = {
    "campaign": N_("No campaign %(id)s."),
    "template": N_("No template %(id)s."),
    "schedule": N_("No schedule %(id)s."),
}


def _id_or_404(value: int, noun: str) -> int:
    if value > _MAX_ID:
        abort(404, description=gettext(NOT_FOUND[noun], id=value))
    return value


def _id_list_arg(raw: list[str]) -> list[int] | None:
    """``?campaign_id=1&campaign_id=2`` as ids; None when one is not an id."""
    if not all(value.isdigit() and int(value) <= _MAX_ID for value in raw):
        return None
    return [int(value) for value in raw]


def _campaign(campaign_id: int) -> Any:
    _id_or_404(campaign_id, "campaign")
    try:
        return campaigns.visible_campaign(campaign_id)
    except campaigns.CampaignNotFound:
        abort(404, description=gettext("No campaign %(id)s.", id=campaign_id))


def _template(template_id: int) -> Any:
    _id_or_404(template_id, "template")
    try:
        return templates.visible_template(template_id)
    except templates.TemplateNotFound:
        abort(404, description=gettext("No template %(id)s.", id=template_id))


def _check_body(result: campaigns.CampaignResult) -> dict[str, Any]:
    return {
        "smtp": campaigns.status_as_dict(result.smtp),
        "imap": campaigns.status_as_dict(result.imap),
    }


@api_bp.get("/health")
@require_role("supervisor")
def health() -> ResponseReturnValue:
    return jsonify(database_summary())


@api_bp.get("/openapi.json")
@require_role("supervisor")
def openapi() -> ResponseReturnValue:
    """The contract of this API (api_schema.py), with its servers URL where it is mounted."""
    return jsonify(openapi_document(request.script_root + _mount_point()))


def _mount_point() -> str:
    rule = request.url_rule.rule if request.url_rule is not None else ""
    return rule[: -len("/openapi.json")]


# --------------------------------------------------------------------------- campaigns


@api_bp.get("/campaigns")
@require_role("supervisor")
def campaign_list() -> ResponseReturnValue:
    page, per_page = _page_args()
    result = campaigns.list_campaigns(page, per_page, visible=visible_campaign_ids())
    return jsonify(_page_body(result, campaigns.campaign_as_dict))


@api_bp.get("/campaigns/presets")
@require_role("supervisor")
def campaign_presets() -> ResponseReturnValue:
    """Texts (sending limits) in the request's language: lazy strings become plain ones."""
    return jsonify(
        {
            key: {
                name: value
                if value is None or isinstance(value, (bool, int, float))
                else str(value)
                for name, value in vars(preset).items()
            }
            for key, preset in campaigns.PRESETS.items()
        }
    )


@api_bp.get("/campaigns/<int:campaign_id>")
@require_role("supervisor")
def campaign_get(campaign_id: int) -> ResponseReturnValue:
    return jsonify(campaigns.campaign_as_dict(_campaign(campaign_id)))


def _saved(result: campaigns.CampaignResult, status: int) -> ResponseReturnValue:
    if not result.ok:
        return _error("validation", 422, result.errors, **_check_body(result))
    assert result.campaign is not None
    return jsonify(
        campaign=campaigns.campaign_as_dict(result.campaign),
        warnings=result.warnings,
        **_check_body(result),
    ), status


@api_bp.post("/campaigns")
@require_role("admin")
def campaign_create() -> ResponseReturnValue:
    return _saved(campaigns.save_campaign(_json_body(), actor_id=_actor()), 201)


@api_bp.route("/campaigns/<int:campaign_id>", methods=["PUT", "PATCH"])
@require_role("admin")
def campaign_update(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign(campaign_id)
    return _saved(campaigns.save_campaign(_json_body(), campaign.id, actor_id=_actor()), 200)


@api_bp.delete("/campaigns/<int:campaign_id>")
@require_role("admin")
def campaign_delete(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign(campaign_id)
    result = campaigns.delete_campaign(
        campaign.id,
        actor_id=_actor(),
        confirmed=_confirmed(),
        disable_dialers=_flag("disable_dialers"),
    )
    if "dialers" in result.errors:
        return _error("campaign has dialers", 409, result.errors, dialers=result.dialers)
    if not result.ok:
        return _error("confirmation required", 400, result.errors)
    return jsonify(deleted=campaign.id, dialers_removed=result.dialers)


@api_bp.post("/campaigns/check")
@require_role("admin")
def campaign_check_values() -> ResponseReturnValue:
    """Check unsaved settings (``campaign_id`` in the body: an edit of that campaign)."""
    body = _json_body()
    campaign_id = body.pop("campaign_id", None)
    if campaign_id is not None:
        if not isinstance(campaign_id, int) or isinstance(campaign_id, bool):
            return _error("validation", 422, {"campaign_id": gettext("Must be a campaign id.")})
        _campaign(campaign_id)
    result = campaigns.check_values(body, campaign_id, actor_id=_actor())
    if result.smtp is None:
        return _error("validation", 422, result.errors)
    return jsonify(ok=result.ok, fields=result.errors, **_check_body(result))


@api_bp.post("/campaigns/<int:campaign_id>/check")
@require_role("admin")
def campaign_check(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign(campaign_id)
    result = campaigns.check_campaign(campaign.id, actor_id=_actor())
    return jsonify(
        ok=result.ok,
        fields=result.errors,
        campaign=campaigns.campaign_as_dict(campaign),
        **_check_body(result),
    )


@api_bp.post("/campaigns/<int:campaign_id>/enable")
@require_role("admin")
def campaign_enable(campaign_id: int) -> ResponseReturnValue:
    campaign = campaigns.set_enabled(_campaign(campaign_id).id, True, actor_id=_actor())
    return jsonify(campaigns.campaign_as_dict(campaign))


@api_bp.post("/campaigns/<int:campaign_id>/disable")
@require_role("admin")
def campaign_disable(campaign_id: int) -> ResponseReturnValue:
    campaign = campaigns.set_enabled(_campaign(campaign_id).id, False, actor_id=_actor())
    return jsonify(campaigns.campaign_as_dict(campaign))


@api_bp.post("/campaigns/<int:campaign_id>/oauth/connect")
@require_role("admin")
def campaign_oauth_connect(campaign_id: int) -> ResponseReturnValue:
    """The provider's consent URL, for the admin to open in a browser (state expires)."""
    campaign = _campaign(campaign_id)
    try:
        started = oauth_flow.start(
            campaign.id, actor_id=_actor(), redirect_uri=oauth_flow.redirect_uri()
        )
    except oauth_flow.FlowError as exc:
        return _error(str(exc), 409)
    return jsonify(url=started.url, expires_in=oauth_flow.STATE_MAX_AGE)


@api_bp.post("/campaigns/<int:campaign_id>/oauth/disconnect")
@require_role("admin")
def campaign_oauth_disconnect(campaign_id: int) -> ResponseReturnValue:
    campaign = oauth_flow.disconnect(_campaign(campaign_id).id, actor_id=_actor())
    return jsonify(campaigns.campaign_as_dict(campaign))


@api_bp.get("/campaigns/<int:campaign_id>/dkim")
@require_role("supervisor")
def campaign_dkim(campaign_id: int) -> ResponseReturnValue:
    """The DKIM state and the TXT records to publish (never the private key)."""
    return jsonify(dkim_service.dkim_view(_campaign(campaign_id)))


@api_bp.post("/campaigns/<int:campaign_id>/dkim/generate")
@require_role("admin")
def campaign_dkim_generate(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign(campaign_id)
    body = _json_body()
    domain = body.get("domain", dkim_service.sender_domain(campaign))
    selector = body.get("selector", "ucmail")
    ed25519 = body.get("ed25519", False)
    texts = (("domain", domain), ("selector", selector))
    wrong = {
        name: gettext("Must be a string.") for name, value in texts if not isinstance(value, str)
    }
    if not isinstance(ed25519, bool):
        wrong["ed25519"] = gettext("Must be true or false.")
    if wrong:
        return _error("validation", 422, wrong)
    result = dkim_service.generate_key(
        campaign.id, domain=domain, selector=selector, with_ed25519=ed25519, actor_id=_actor()
    )
    if not result.ok:
        fields = {key.removeprefix("dkim_"): text for key, text in result.errors.items()}
        return _error("validation", 422, fields)
    return jsonify(dkim_service.dkim_view(campaign))


def _dkim_signing(campaign_id: int, enabled: bool) -> ResponseReturnValue:
    campaign = _campaign(campaign_id)
    result = dkim_service.set_signing(campaign.id, enabled, actor_id=_actor())
    if not result.ok:
        return _error(result.message, 409)
    return jsonify(dkim_service.dkim_view(campaign))


@api_bp.post("/campaigns/<int:campaign_id>/dkim/enable")
@require_role("admin")
def campaign_dkim_enable(campaign_id: int) -> ResponseReturnValue:
    return _dkim_signing(campaign_id, True)


@api_bp.post("/campaigns/<int:campaign_id>/dkim/disable")
@require_role("admin")
def campaign_dkim_disable(campaign_id: int) -> ResponseReturnValue:
    return _dkim_signing(campaign_id, False)


@api_bp.post("/campaigns/<int:campaign_id>/deliverability")
@require_role("admin")
def campaign_deliverability(campaign_id: int) -> ResponseReturnValue:
    """SPF, DKIM and DMARC of the sender domain, looked up now; changes nothing."""
    report = deliverability_service.check_campaign(_campaign(campaign_id))
    return jsonify(deliverability_service.report_as_dict(report))


@api_bp.post("/campaigns/<int:campaign_id>/schedules")
@require_role("admin")
def schedule_add(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign(campaign_id)
    result = campaigns.add_schedule(campaign.id, _json_body(), actor_id=_actor())
    if not result.ok:
        return _error("validation", 422, result.errors)
    return jsonify([campaigns.schedule_as_dict(s) for s in campaign.schedules]), 201


@api_bp.delete("/campaigns/<int:campaign_id>/schedules/<int:schedule_id>")
@require_role("admin")
def schedule_remove(campaign_id: int, schedule_id: int) -> ResponseReturnValue:
    campaign = _campaign(campaign_id)
    _id_or_404(schedule_id, "schedule")
    if not campaigns.remove_schedule(campaign.id, schedule_id, actor_id=_actor()):
        abort(
            404,
            description=gettext(
                "Campaign %(campaign)s has no schedule %(id)s.",
                campaign=campaign.id,
                id=schedule_id,
            ),
        )
    return "", 204


# --------------------------------------------------------------------------- templates


@api_bp.get("/templates")
@require_role("supervisor")
def template_list() -> ResponseReturnValue:
    page, per_page = _page_args()
    raw = request.args.get("campaign_id", "")
    ids = _id_list_arg([raw]) if raw else None
    campaign_id = ids[0] if ids else None
    if raw and campaign_id is None:
        return _error("validation", 422, {"campaign_id": gettext("Must be a campaign id.")})
    result = templates.list_templates(page, per_page, campaign_id, visible_campaign_ids())
    return jsonify(_page_body(result, templates.template_as_dict))


@api_bp.get("/templates/variables")
@require_role("supervisor")
def template_variables() -> ResponseReturnValue:
    """What each use of a template (auto-reply, signature, agent reply, dialer) can fill."""
    return jsonify(
        {
            kind.key: {
                "label": str(kind.label),
                "variables": list(kind.variables),
                "open_ended": kind.open_ended,
            }
            for kind in templates.TEMPLATE_KINDS
        }
    )


@api_bp.get("/templates/<int:template_id>")
@require_role("supervisor")
def template_get(template_id: int) -> ResponseReturnValue:
    return jsonify(templates.template_as_dict(_template(template_id)))


def _template_saved(result: templates.TemplateResult, status: int) -> ResponseReturnValue:
    if not result.ok:
        return _error("validation", 422, result.errors)
    assert result.template is not None
    return jsonify(templates.template_as_dict(result.template)), status


@api_bp.post("/templates")
@require_role("admin")
def template_create() -> ResponseReturnValue:
    return _template_saved(templates.save_template(_json_body(), actor_id=_actor()), 201)


@api_bp.route("/templates/<int:template_id>", methods=["PUT", "PATCH"])
@require_role("admin")
def template_update(template_id: int) -> ResponseReturnValue:
    template = _template(template_id)
    return _template_saved(
        templates.save_template(_json_body(), template.id, actor_id=_actor()), 200
    )


@api_bp.delete("/templates/<int:template_id>")
@require_role("admin")
def template_delete(template_id: int) -> ResponseReturnValue:
    template = _template(template_id)
    result = templates.delete_template(template.id, actor_id=_actor(), confirmed=_confirmed())
    if not result.ok:
        return _error("confirmation required", 400, result.errors)
    return jsonify(deleted=template_id)


@api_bp.post("/templates/preview")
@require_role("admin")
def template_preview_values() -> ResponseReturnValue:
    result, errors = templates.preview_data(_json_body())
    if result is None:
        return _error("validation", 422, errors)
    return jsonify(templates.preview_as_dict(result))


@api_bp.get("/templates/<int:template_id>/preview")
@require_role("supervisor")
def template_preview(template_id: int) -> ResponseReturnValue:
    result = templates.preview_template(_template(template_id))
    return jsonify(templates.preview_as_dict(result))


# --------------------------------------------------------------------------- members


@api_bp.get("/agents")
@require_role("supervisor")
def agent_list() -> ResponseReturnValue:
    return jsonify([vars(agent) for agent in members.list_agents()])


@api_bp.get("/members")
@require_role("supervisor")
def member_list() -> ResponseReturnValue:
    wanted = _id_list_arg(request.args.getlist("campaign_id")[:1000])
    if wanted is None:
        return _error("validation", 422, {"campaign_id": gettext("Must be campaign ids.")})
    visible = visible_campaign_ids()
    rows = members.members_of(c for c in wanted if visible is None or c in visible)
    return jsonify([members.member_as_dict(row) for row in rows])


def _members_changed(result: members.MembersResult) -> ResponseReturnValue:
    if not result.ok:
        return _error("validation", 422, result.errors)
    return jsonify(changed=result.changed)


@api_bp.post("/members")
@require_role("admin")
def member_add() -> ResponseReturnValue:
    body = _json_body()
    return _members_changed(
        members.add_members(body.get("campaign_ids"), body.get("agent_ids"), actor_id=_actor())
    )


@api_bp.delete("/members")
@require_role("admin")
def member_remove() -> ResponseReturnValue:
    body = _json_body()
    return _members_changed(
        members.remove_members(body.get("campaign_ids"), body.get("agent_ids"), actor_id=_actor())
    )


# --------------------------------------------------------------------------- fallback


@api_bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@require_role("supervisor")
def not_an_endpoint(unknown: str) -> ResponseReturnValue:
    """A URL under the API that matches no route (``/campaigns/abc``) answers in JSON too:
    Flask never sends routing errors to a blueprint's error handler."""
    return _error(f"No API endpoint {request.method} /{unknown}.", 404)
