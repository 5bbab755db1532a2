"""Templates screen: list, form and a preview with sample values.

Supervisors may look; only admins change anything. Rules live in
``services/admin/templates``.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from ucmail_ext.auth import current_agent_id, has_role, require_role
from ucmail_ext.blueprints.common import make_blueprint
from ucmail_ext.i18n import gettext
from ucmail_ext.models import Template
from ucmail_ext.services.access import visible_campaign_ids
from ucmail_ext.services.admin import templates as service
from ucmail_ext.services.admin.campaigns import live_campaigns
from ucmail_ext.services.pagination import parse_page

templates_bp = make_blueprint("templates", __name__)

FIELDS = ("name", "campaign_id", "subject", "body_html", "body_text")


def form_data(form: MultiDict[str, str]) -> dict[str, Any]:
    return {key: form.get(key, "") for key in FIELDS}


def _values(template: Template | None, data: dict[str, Any] | None) -> dict[str, Any]:
    values: dict[str, Any] = {key: "" for key in FIELDS}
    values["campaign_id"] = None
    if template is not None:
        values.update(service.template_as_dict(template))
    if data is not None:
        values.update(data)
    return values


def _render(
    template: Template | None = None,
    data: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    preview: service.Preview | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    if preview is None and template is not None and data is None:
        preview = service.preview_template(template)
    visible = visible_campaign_ids()
    campaigns = live_campaigns(visible)
    values = _values(template, data)
    texts = {key: str(values.get(key) or "") for key in ("subject", "body_html", "body_text")}
    html = render_template(
        "ucmail/templates/index.html",
        page=service.list_templates(parse_page(request.args.get("page")), visible=visible),
        template=template,
        values=values,
        kinds=service.TEMPLATE_KINDS,
        kind_labels={kind.key: kind.label for kind in service.TEMPLATE_KINDS},
        unfillable={
            k.key: service.unfillable_variables(k.key, **texts) for k in service.TEMPLATE_KINDS
        },
        uses=service.campaigns_using(template.id) if template is not None else [],
        errors=errors or {},
        preview=preview,
        campaigns=campaigns,
        campaign_names={c.id: c.name for c in campaigns},
        readonly=not has_role("admin"),
    )
    return html, status


def _template_or_404(template_id: int) -> Template:
    try:
        return service.visible_template(template_id)
    except service.TemplateNotFound:
        abort(404)


def _actor() -> str:
    return current_agent_id() or ""


@templates_bp.get("/")
@require_role("supervisor")
def index() -> ResponseReturnValue:
    return _render()


@templates_bp.get("/<int:template_id>")
@require_role("supervisor")
def edit(template_id: int) -> ResponseReturnValue:
    return _render(_template_or_404(template_id))


@templates_bp.post("/")
@require_role("admin")
def create() -> ResponseReturnValue:
    data = form_data(request.form)
    result = service.save_template(data, actor_id=_actor())
    if not result.ok:
        flash(gettext("The template was not saved: fix the fields marked below."), "error")
        return _render(None, data, result.errors, status=422)
    assert result.template is not None
    flash(gettext("Template “%(name)s” created.", name=result.template.name), "success")
    return redirect(url_for(".edit", template_id=result.template.id))


@templates_bp.post("/<int:template_id>")
@require_role("admin")
def update(template_id: int) -> ResponseReturnValue:
    template = _template_or_404(template_id)
    data = form_data(request.form)
    result = service.save_template(data, template.id, actor_id=_actor())
    if not result.ok:
        flash(gettext("The changes were not saved: fix the fields marked below."), "error")
        return _render(template, data, result.errors, status=422)
    flash(gettext("Template “%(name)s” saved.", name=template.name), "success")
    return redirect(url_for(".edit", template_id=template.id))


@templates_bp.post("/preview")
@require_role("admin")
def preview() -> ResponseReturnValue:
    """Preview what the form holds now, without saving it."""
    data = form_data(request.form)
    template_id = request.form.get("template_id", "")
    template = _template_or_404(int(template_id)) if template_id.isdigit() else None
    result, errors = service.preview_data(data)
    return _render(template, data, errors, result, 200 if result else 422)


@templates_bp.get("/<int:template_id>/delete")
@require_role("admin")
def confirm_delete(template_id: int) -> ResponseReturnValue:
    return render_template("ucmail/templates/delete.html", template=_template_or_404(template_id))


@templates_bp.post("/<int:template_id>/delete")
@require_role("admin")
def delete(template_id: int) -> ResponseReturnValue:
    template = _template_or_404(template_id)
    name = template.name
    confirmed = request.form.get("confirm") == "yes"
    result = service.delete_template(template.id, actor_id=_actor(), confirmed=confirmed)
    if not result.ok:
        return render_template("ucmail/templates/delete.html", template=template), 400
    flash(gettext("Template “%(name)s” deleted.", name=name), "success")
    return redirect(url_for(".index"))
