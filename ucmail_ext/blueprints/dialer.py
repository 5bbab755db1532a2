"""Dialer pages: dialers, their lists (upload, play / stop, progress), monitoring, blacklist."""

from __future__ import annotations

from typing import Any

from flask import (
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from ucmail_ext.auth import body_limit, current_agent_id, require_role
from ucmail_ext.blueprints.common import form_fields, make_blueprint, schedule_rows
from ucmail_ext.i18n import gettext as _
from ucmail_ext.i18n import weekday_names
from ucmail_ext.services.access import visible_campaign_ids
from ucmail_ext.services.admin.campaigns import live_campaigns
from ucmail_ext.services.dialer import charts as dialer_charts
from ucmail_ext.services.dialer import dialers as service
from ucmail_ext.services.dialer import lists as dialer_lists
from ucmail_ext.services.dialer import recovery as dialer_recovery
from ucmail_ext.services.pagination import parse_page

dialer_bp = make_blueprint("dialer", __name__)


def _actor() -> str:
    return current_agent_id() or ""


def form_data(form: MultiDict[str, str]) -> dict[str, Any]:
    """The HTML form as the dict the service takes (schedule rows as a list)."""
    data = form_fields(form, service.FORM_FIELDS, service.BOOLEAN_FIELDS)
    data["schedules"] = schedule_rows(form)
    return data


def _index(
    dialer_id: int | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    visible = visible_campaign_ids()
    current = service.get_dialer(dialer_id, visible) if dialer_id is not None else None
    if dialer_id is not None and current is None:
        abort(404)
    # The dialers listed are those of visible campaigns, so these names cover them.
    campaigns = live_campaigns(visible)
    html = render_template(
        "ucmail/dialer/index.html",
        dialers=service.list_dialers(visible),
        campaign_names={c.id: c.name for c in campaigns},
        current=current,
        values=values if values is not None else service.dialer_values(current),
        errors=errors or {},
        campaigns=campaigns,
        templates=service.template_choices(visible),
        day_names=weekday_names(),
    )
    return html, status


@dialer_bp.get("/")
@require_role("supervisor")
def index() -> ResponseReturnValue:
    return _index()


@dialer_bp.post("/")
@require_role("supervisor")
def create() -> ResponseReturnValue:
    data = form_data(request.form)
    result = service.save_dialer(data, visible_campaign_ids(), _actor())
    if not result.ok:
        return _index(None, data, result.errors, 400)
    assert result.dialer is not None
    flash(_("Dialer %(name)s saved.", name=result.dialer.name), "success")
    return redirect(url_for(".lists", dialer_id=result.dialer.id))


@dialer_bp.get("/<int:dialer_id>/edit")
@require_role("supervisor")
def edit(dialer_id: int) -> ResponseReturnValue:
    return _index(dialer_id)


@dialer_bp.post("/<int:dialer_id>/edit")
@require_role("supervisor")
def update(dialer_id: int) -> ResponseReturnValue:
    data = form_data(request.form)
    result = service.save_dialer(data, visible_campaign_ids(), _actor(), dialer_id)
    if result.dialer is None:
        abort(404)
    if not result.ok:
        return _index(dialer_id, data, result.errors, 400)
    flash(_("Dialer %(name)s saved.", name=result.dialer.name), "success")
    return redirect(url_for(".edit", dialer_id=dialer_id))


@dialer_bp.post("/<int:dialer_id>/delete")
@require_role("supervisor")
def delete(dialer_id: int) -> ResponseReturnValue:
    result = service.delete_dialer(dialer_id, visible_campaign_ids(), _actor())
    if not result.ok:
        abort(404)
    flash(result.message, "success")
    return redirect(url_for(".index"))


# --------------------------------------------------------------------------- lists


def _lists_page(
    dialer_id: int,
    report: dialer_lists.UploadReport | None = None,
    attachment: dialer_lists.AttachmentResult | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    visible = visible_campaign_ids()
    dialer = service.get_dialer(dialer_id, visible)
    if dialer is None:
        abort(404)
    html = render_template(
        "ucmail/dialer/lists.html",
        dialer=dialer,
        progress=service.progress_of(service.lists_of(dialer.id)),
        report=report,
        attachment=attachment,
        uploads=dialer_lists.recent_uploads(dialer.campaign_id),
    )
    return html, status


@dialer_bp.get("/<int:dialer_id>")
@require_role("supervisor")
def lists(dialer_id: int) -> ResponseReturnValue:
    return _lists_page(dialer_id)


@dialer_bp.post("/<int:dialer_id>/lists")
@require_role("supervisor")
@body_limit("UCMAIL_UPLOAD_MAX_BYTES")
def upload(dialer_id: int) -> ResponseReturnValue:
    if service.get_dialer(dialer_id, visible_campaign_ids()) is None:
        abort(404)
    file = request.files.get("file")
    if file is None or not file.filename:
        report = dialer_lists.UploadReport(None, error=_("Choose a CSV file to upload."))
        return _lists_page(dialer_id, report=report, status=400)
    report = dialer_lists.upload_list(
        dialer_id,
        stream=file.stream,
        filename=file.filename,
        name=request.form.get("name", ""),
        subject=request.form.get("subject", ""),
        by=_actor(),
    )
    return _lists_page(dialer_id, report=report, status=400 if report.error else 200)


@dialer_bp.get("/<int:dialer_id>/example.csv")
@require_role("supervisor")
def example(dialer_id: int) -> Response:
    dialer = service.get_dialer(dialer_id, visible_campaign_ids())
    if dialer is None:
        abort(404)
    campaign = service.campaign_of(dialer)
    response = Response(dialer_lists.example_csv(campaign.name), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="dialer-example.csv"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@dialer_bp.post("/<int:dialer_id>/attachments")
@require_role("supervisor")
@body_limit("UCMAIL_UPLOAD_MAX_BYTES")
def attach(dialer_id: int) -> ResponseReturnValue:
    dialer = service.get_dialer(dialer_id, visible_campaign_ids())
    if dialer is None:
        abort(404)
    file = request.files.get("file")
    if file is None or not file.filename:
        result = dialer_lists.AttachmentResult(None, _("Choose a file to attach."))
        return _lists_page(dialer_id, attachment=result, status=400)
    result = dialer_lists.store_attachment(
        file.stream, file.filename, file.mimetype or "", by=_actor(), campaign_id=dialer.campaign_id
    )
    return _lists_page(dialer_id, attachment=result, status=400 if result.error else 200)


def _visible_list(list_id: int) -> Any:
    dialer_list = service.get_list(list_id, visible_campaign_ids())
    if dialer_list is None:
        abort(404)
    return dialer_list


def _state_filter() -> str:
    state = request.args.get("state", "")
    return state if state in dialer_lists.RESULT_FILTERS else ""


@dialer_bp.get("/lists/<int:list_id>")
@require_role("supervisor")
def list_detail(list_id: int) -> ResponseReturnValue:
    dialer_list = _visible_list(list_id)
    state = _state_filter()
    return render_template(
        "ucmail/dialer/list.html",
        dialer_list=dialer_list,
        progress=service.progress_of([dialer_list])[0],
        problems=dialer_lists.stored_report(dialer_list),
        records=dialer_lists.problem_records(
            dialer_list, state, parse_page(request.args.get("page"))
        ),
        record_state=state,
        record_states=dialer_lists.RESULT_FILTERS,
        charts=dialer_charts.list_charts(dialer_list),
    )


@dialer_bp.get("/lists/<int:list_id>/charts")
@require_role("supervisor")
def list_charts(list_id: int) -> ResponseReturnValue:
    """The list's charts as an HTML fragment, refreshed by the page (static/charts.js)."""
    dialer_list = _visible_list(list_id)
    html = render_template(
        "ucmail/dialer/_charts.html", charts=dialer_charts.list_charts(dialer_list)
    )
    return jsonify(html=html)


@dialer_bp.get("/lists/<int:list_id>/records.csv")
@require_role("supervisor")
def records_csv(list_id: int) -> Response:
    dialer_list = _visible_list(list_id)
    state = _state_filter()
    lines = dialer_lists.problem_records_csv(dialer_list, state)
    response = Response(stream_with_context(lines), mimetype="text/csv")
    name = f"list-{dialer_list.id}-{state or 'problems'}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@dialer_bp.get("/lists/<int:list_id>/delete")
@require_role("supervisor")
def delete_list_confirm(list_id: int) -> ResponseReturnValue:
    dialer_list = _visible_list(list_id)
    return render_template(
        "ucmail/dialer/list_delete.html",
        dialer_list=dialer_list,
        progress=service.progress_of([dialer_list])[0],
    )


@dialer_bp.post("/lists/<int:list_id>/delete")
@require_role("supervisor")
def delete_list(list_id: int) -> ResponseReturnValue:
    dialer_list = _visible_list(list_id)
    dialer_id = dialer_list.dialer_id
    result = dialer_lists.delete_list(dialer_list, _actor())
    if request.accept_mimetypes.best == "application/json":
        return jsonify(ok=result.ok, message=result.message), 200 if result.ok else 409
    flash(result.message, "success" if result.ok else "error")
    if not result.ok:
        return redirect(url_for(".delete_list_confirm", list_id=list_id))
    return redirect(url_for(".lists", dialer_id=dialer_id))


def _after_action(result: service.ActionResult, list_id: int) -> ResponseReturnValue:
    if request.accept_mimetypes.best == "application/json":
        return jsonify(ok=result.ok, message=result.message), 200 if result.ok else 409
    flash(result.message, "success" if result.ok else "error")
    dialer_list = service.get_list(list_id, visible_campaign_ids())
    if dialer_list is None:
        return redirect(url_for(".index"))
    if request.form.get("back") == "dialer":
        return redirect(url_for(".lists", dialer_id=dialer_list.dialer_id))
    return redirect(url_for(".list_detail", list_id=list_id))


@dialer_bp.post("/lists/<int:list_id>/play")
@require_role("supervisor")
def play(list_id: int) -> ResponseReturnValue:
    return _after_action(service.play_list(list_id, visible_campaign_ids(), _actor()), list_id)


@dialer_bp.post("/lists/<int:list_id>/stop")
@require_role("supervisor")
def stop(list_id: int) -> ResponseReturnValue:
    return _after_action(service.stop_list(list_id, visible_campaign_ids(), _actor()), list_id)


@dialer_bp.post("/lists/<int:list_id>/resend-interrupted")
@require_role("supervisor")
def resend_interrupted(list_id: int) -> ResponseReturnValue:
    result = dialer_recovery.resend_interrupted(list_id, visible_campaign_ids(), _actor())
    return _after_action(result, list_id)


@dialer_bp.get("/lists/<int:list_id>/progress")
@require_role("supervisor")
def progress(list_id: int) -> ResponseReturnValue:
    figures = service.list_progress(list_id, visible_campaign_ids())
    if figures is None:
        return jsonify(error=_("not found")), 404
    return jsonify(figures.as_dict())


# --------------------------------------------------------------------------- monitoring


def _campaign_filter() -> int | None:
    value = request.args.get("campaign", "")
    return int(value) if value.isdigit() else None


@dialer_bp.get("/monitor")
@require_role("supervisor")
def monitor() -> ResponseReturnValue:
    visible = visible_campaign_ids()
    campaign_id = _campaign_filter()
    return render_template(
        "ucmail/dialer/monitor.html",
        rows=service.monitor(visible, campaign_id),
        campaigns=live_campaigns(visible),
        campaign_id=campaign_id,
    )


@dialer_bp.get("/monitor/data")
@require_role("supervisor")
def monitor_data() -> ResponseReturnValue:
    rows = service.monitor(visible_campaign_ids(), _campaign_filter())
    return jsonify(rows=[row.as_dict() for row in rows])


# --------------------------------------------------------------------------- blacklist


def _blacklist_page(status: int = 200, address: str = "", reason: str = "") -> ResponseReturnValue:
    query = request.args.get("q", "")
    page = service.blacklist_page(query, parse_page(request.args.get("page")))
    html = render_template(
        "ucmail/dialer/blacklist.html", page=page, query=query, address=address, reason=reason
    )
    return html, status


@dialer_bp.get("/blacklist")
@require_role("supervisor")
def blacklist() -> ResponseReturnValue:
    return _blacklist_page()


@dialer_bp.post("/blacklist")
@require_role("supervisor")
def blacklist_add() -> ResponseReturnValue:
    address = request.form.get("address", "")
    reason = request.form.get("reason", "")
    result = service.blacklist_add(address, reason, _actor())
    if not result.ok:
        flash(result.message, "error")
        return _blacklist_page(400, address, reason)
    flash(result.message, "success")
    return redirect(url_for(".blacklist"))


@dialer_bp.get("/blacklist/<int:entry_id>/remove")
@require_role("supervisor")
def blacklist_confirm(entry_id: int) -> ResponseReturnValue:
    entry = service.blacklist_entry(entry_id)
    if entry is None:
        abort(404)
    return render_template("ucmail/dialer/blacklist_remove.html", entry=entry)


@dialer_bp.post("/blacklist/<int:entry_id>/remove")
@require_role("supervisor")
def blacklist_remove(entry_id: int) -> ResponseReturnValue:
    result = service.blacklist_remove(entry_id, _actor())
    flash(result.message, "success" if result.ok else "error")
    return redirect(url_for(".blacklist"))
