"""Campaigns screen: the list on the right, the form on the left (spec "Email Management").

Supervisors may look; only admins change anything. Every rule lives in
``services/admin/campaigns``; these views turn the form into the same plain dict the JSON
API sends and render what the service answers.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from ucmail_ext.auth import current_agent_id, has_role, require_role
from ucmail_ext.blueprints.common import form_fields, make_blueprint, schedule_rows
from ucmail_ext.i18n import gettext, weekday_names
from ucmail_ext.models import Campaign
from ucmail_ext.models.campaign import SECURITY_MODES, STRATEGIES
from ucmail_ext.services.access import visible_campaign_ids
from ucmail_ext.services.admin import campaigns as service
from ucmail_ext.services.admin import deliverability as deliverability_service
from ucmail_ext.services.admin import dkim as dkim_service
from ucmail_ext.services.admin.templates import templates_for_campaign
from ucmail_ext.services.oauth import flow as oauth_flow
from ucmail_ext.services.oauth.providers import choices as oauth_choices
from ucmail_ext.services.pagination import parse_page

campaigns_bp = make_blueprint("campaigns", __name__)


def form_data(form: MultiDict[str, str]) -> dict[str, Any]:
    """The HTML form as the dict the service (and the API) takes."""
    data = form_fields(form, service.FORM_FIELDS, service.BOOLEAN_FIELDS)
    data["password"] = form.get("password", "")
    data["schedules"] = schedule_rows(form)
    return data


def _form_values(campaign: Campaign | None, data: dict[str, Any] | None) -> dict[str, Any]:
    """What the form shows: defaults, then the stored campaign, then what was posted.

    The password is never among them: it is write-only.
    """
    values = service.default_values()
    if campaign is not None:
        values.update(service.campaign_as_dict(campaign))
    if data is not None:
        values.update({k: v for k, v in data.items() if k != "password"})
    values.pop("password", None)
    return values


def _statuses(
    campaign: Campaign | None, result: service.CampaignResult | None
) -> dict[str, service.ConnectionStatus]:
    if result is not None and result.smtp is not None and result.imap is not None:
        return {"smtp": result.smtp, "imap": result.imap}
    if campaign is None:
        unknown = service.ConnectionStatus(service.STATUS_UNKNOWN, gettext("Not checked yet."))
        return {"smtp": unknown, "imap": unknown}
    return {
        "smtp": service.ConnectionStatus(campaign.smtp_status, campaign.smtp_status_message),
        "imap": service.ConnectionStatus(campaign.imap_status, campaign.imap_status_message),
    }


def _render(
    campaign: Campaign | None = None,
    data: dict[str, Any] | None = None,
    result: service.CampaignResult | None = None,
    status: int = 200,
    **extra: Any,
) -> ResponseReturnValue:
    page = service.list_campaigns(
        parse_page(request.args.get("page")), visible=visible_campaign_ids()
    )
    html = render_template(
        "ucmail/campaigns/index.html",
        page=page,
        campaign=campaign,
        values=_form_values(campaign, data),
        errors=result.errors if result is not None else {},
        statuses=_statuses(campaign, result),
        templates=templates_for_campaign(campaign.id if campaign else None),
        presets=service.PRESETS,
        strategies=STRATEGIES,
        security_modes=SECURITY_MODES,
        security_labels=service.SECURITY_LABELS,
        day_names=weekday_names(),
        oauth_providers=oauth_choices(),
        readonly=not has_role("admin"),
        dkim=dkim_service.dkim_view(campaign) if campaign is not None else None,
        **extra,
    )
    return html, status


def _campaign_or_404(campaign_id: int) -> Campaign:
    try:
        return service.visible_campaign(campaign_id)
    except service.CampaignNotFound:
        abort(404)


def _actor() -> str:
    return current_agent_id() or ""


def _flash_warnings(result: service.CampaignResult) -> None:
    for warning in result.warnings:
        flash(warning, "warning")


@campaigns_bp.get("/")
@require_role("supervisor")
def index() -> ResponseReturnValue:
    return _render()


@campaigns_bp.get("/<int:campaign_id>")
@require_role("supervisor")
def edit(campaign_id: int) -> ResponseReturnValue:
    return _render(_campaign_or_404(campaign_id))


@campaigns_bp.post("/")
@require_role("admin")
def create() -> ResponseReturnValue:
    data = form_data(request.form)
    result = service.save_campaign(data, actor_id=_actor())
    if not result.ok:
        flash(gettext("The campaign was not created: fix the fields marked below."), "error")
        return _render(None, data, result, 422)
    assert result.campaign is not None
    flash(
        gettext("Campaign “%(name)s” created; connection check passed.", name=result.campaign.name),
        "success",
    )
    _flash_warnings(result)
    return redirect(url_for(".edit", campaign_id=result.campaign.id))


@campaigns_bp.post("/<int:campaign_id>")
@require_role("admin")
def update(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign_or_404(campaign_id)
    data = form_data(request.form)
    result = service.save_campaign(data, campaign.id, actor_id=_actor())
    if not result.ok:
        flash(gettext("The changes were not saved: fix the fields marked below."), "error")
        return _render(campaign, data, result, 422)
    flash(
        gettext("Campaign “%(name)s” saved; connection check passed.", name=campaign.name),
        "success",
    )
    _flash_warnings(result)
    return redirect(url_for(".edit", campaign_id=campaign.id))


@campaigns_bp.post("/check")
@require_role("admin")
def check_form() -> ResponseReturnValue:
    """ "Test connection": the form's current values, checked and not stored."""
    campaign_id = request.form.get("campaign_id", "")
    if campaign_id and not campaign_id.isdigit():
        abort(404)
    if campaign_id:
        _campaign_or_404(int(campaign_id))
    result = service.check_values(
        form_data(request.form), int(campaign_id) if campaign_id else None, actor_id=_actor()
    )
    body = {
        "ok": result.ok,
        "fields": result.errors,
        "smtp": service.status_as_dict(result.smtp),
        "imap": service.status_as_dict(result.imap),
        # The list shows this campaign's stored status: the page updates its row.
        "stored": result.status_stored,
        "campaign_id": result.campaign.id if result.campaign is not None else None,
    }
    return jsonify(body), 200 if result.smtp is not None else 422


@campaigns_bp.post("/<int:campaign_id>/check")
@require_role("admin")
def check(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign_or_404(campaign_id)
    result = service.check_campaign(campaign.id, actor_id=_actor())
    if result.ok:
        flash(gettext("Connection check passed."), "success")
    else:
        flash(
            gettext(
                "Connection check failed: %(reasons)s", reasons=" ".join(result.errors.values())
            ),
            "error",
        )
    return redirect(url_for(".edit", campaign_id=campaign.id))


@campaigns_bp.post("/<int:campaign_id>/enable")
@require_role("admin")
def enable(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign_or_404(campaign_id)
    service.set_enabled(campaign.id, True, actor_id=_actor())
    flash(gettext("Campaign “%(name)s” enabled.", name=campaign.name), "success")
    return redirect(url_for(".edit", campaign_id=campaign.id))


@campaigns_bp.post("/<int:campaign_id>/disable")
@require_role("admin")
def disable(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign_or_404(campaign_id)
    service.set_enabled(campaign.id, False, actor_id=_actor())
    flash(
        gettext(
            "Campaign “%(name)s” disabled: it keeps its data but stops polling.", name=campaign.name
        ),
        "success",
    )
    return redirect(url_for(".edit", campaign_id=campaign.id))


def _delete_page(
    campaign: Campaign, result: service.CampaignResult | None = None, status: int = 200
) -> ResponseReturnValue:
    dialers = result.dialers if result is not None else service.dialer_names(campaign.id)
    errors = result.errors if result is not None else {}
    html = render_template(
        "ucmail/campaigns/delete.html", campaign=campaign, dialers=dialers, errors=errors
    )
    return html, status


@campaigns_bp.get("/<int:campaign_id>/delete")
@require_role("admin")
def confirm_delete(campaign_id: int) -> ResponseReturnValue:
    return _delete_page(_campaign_or_404(campaign_id))


@campaigns_bp.post("/<int:campaign_id>/delete")
@require_role("admin")
def delete(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign_or_404(campaign_id)
    result = service.delete_campaign(
        campaign.id,
        actor_id=_actor(),
        confirmed=request.form.get("confirm") == "yes",
        disable_dialers=request.form.get("disable_dialers") in ("yes", "on"),
    )
    if not result.ok:
        return _delete_page(campaign, result, 409 if "dialers" in result.errors else 400)
    message = gettext(
        "Campaign “%(name)s” deleted; its interactions stay searchable under its name.",
        name=campaign.name,
    )
    if result.dialers:
        message += " " + gettext(
            "Its dialers were stopped and removed: %(dialers)s.", dialers=", ".join(result.dialers)
        )
    flash(message, "success")
    return redirect(url_for(".index"))


# --------------------------------------------------------------------------- OAuth2 account


@campaigns_bp.post("/<int:campaign_id>/oauth/connect")
@require_role("admin")
def oauth_connect(campaign_id: int) -> ResponseReturnValue:
    """ "Connect account": off to the provider's consent page."""
    campaign = _campaign_or_404(campaign_id)
    try:
        started = oauth_flow.start(
            campaign.id, actor_id=_actor(), redirect_uri=oauth_flow.redirect_uri()
        )
    except oauth_flow.FlowError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".edit", campaign_id=campaign.id))
    return redirect(started.url)


@campaigns_bp.get("/oauth/callback")
@require_role("admin")
def oauth_callback() -> ResponseReturnValue:
    """Where the provider sends the admin back, with a code (or an error) and our state."""
    args = request.args
    try:
        result = oauth_flow.finish(
            state=args.get("state", ""),
            code=args.get("code"),
            error=args.get("error"),
            error_description=args.get("error_description"),
            actor_id=_actor(),
            redirect_uri=oauth_flow.redirect_uri(),
        )
    except oauth_flow.FlowError as exc:
        flash(str(exc), "error")
        return redirect(_campaign_url(args.get("state", "")))
    who = result.account or gettext("the account")
    if result.ok:
        flash(gettext("Connected as %(who)s; connection check passed.", who=who), "success")
    else:
        words = " ".join(s.message for s in (result.smtp, result.imap) if not s.ok)
        flash(
            gettext(
                "Connected as %(who)s, but the connection check failed: %(reasons)s",
                who=who,
                reasons=words,
            ),
            "error",
        )
    return redirect(url_for(".edit", campaign_id=result.campaign.id))


def _campaign_url(state: str) -> str:
    try:
        campaign_id, _ = oauth_flow.read_state(state, actor_id=_actor())
    except oauth_flow.FlowError:
        return url_for(".index")
    return url_for(".edit", campaign_id=campaign_id)


@campaigns_bp.post("/<int:campaign_id>/oauth/disconnect")
@require_role("admin")
def oauth_disconnect(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign_or_404(campaign_id)
    oauth_flow.disconnect(campaign.id, actor_id=_actor())
    flash(
        gettext("Disconnected: the tokens are forgotten. Connect the account again to log in."),
        "success",
    )
    return redirect(url_for(".edit", campaign_id=campaign.id))


# --------------------------------------------------------------------------- DKIM, deliverability


@campaigns_bp.post("/<int:campaign_id>/dkim/generate")
@require_role("admin")
def dkim_generate(campaign_id: int) -> ResponseReturnValue:
    campaign = _campaign_or_404(campaign_id)
    values = {
        "dkim_domain": request.form.get("dkim_domain", ""),
        "dkim_selector": request.form.get("dkim_selector", ""),
        "dkim_ed25519": request.form.get("dkim_ed25519") in ("on", "yes", "true"),
    }
    result = dkim_service.generate_key(
        campaign.id,
        domain=values["dkim_domain"],
        selector=values["dkim_selector"],
        with_ed25519=values["dkim_ed25519"],
        actor_id=_actor(),
    )
    if not result.ok:
        flash(result.message, "error")
        return _render(campaign, status=422, dkim_errors=result.errors, dkim_values=values)
    flash(result.message, "success")
    return redirect(url_for(".edit", campaign_id=campaign.id, _anchor="dkim"))


def _set_dkim(campaign_id: int, enabled: bool) -> ResponseReturnValue:
    campaign = _campaign_or_404(campaign_id)
    result = dkim_service.set_signing(campaign.id, enabled, actor_id=_actor())
    flash(result.message, "success" if result.ok else "error")
    return redirect(url_for(".edit", campaign_id=campaign.id, _anchor="dkim"))


@campaigns_bp.post("/<int:campaign_id>/dkim/enable")
@require_role("admin")
def dkim_enable(campaign_id: int) -> ResponseReturnValue:
    return _set_dkim(campaign_id, True)


@campaigns_bp.post("/<int:campaign_id>/dkim/disable")
@require_role("admin")
def dkim_disable(campaign_id: int) -> ResponseReturnValue:
    return _set_dkim(campaign_id, False)


@campaigns_bp.post("/<int:campaign_id>/deliverability")
@require_role("admin")
def deliverability(campaign_id: int) -> ResponseReturnValue:
    """Looks up DNS (a POST: a link prefetch must not send queries); changes nothing."""
    campaign = _campaign_or_404(campaign_id)
    report = deliverability_service.check_campaign(campaign)
    return _render(campaign, deliverability=report)
