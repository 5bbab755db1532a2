"""What every ucmail blueprint shares: templates, static files, page context, error
pages, security headers, and reading the form posts that several screens have in common.

Each blueprint carries these itself (instead of init_app adding them once) so that a
host that registers only one blueprint still gets a working, protected page. Role,
CSRF and body limits are decided earlier, by auth.guard_request (init_app installs it
ahead of the host's own hooks so that nothing reads a body before it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from ucmail_ext.auth import (
    csrf_token,
    current_agent_id,
    has_role,
    too_large_message,
    wants_json,
)
from ucmail_ext.config import ALL_BLUEPRINTS
from ucmail_ext.i18n import gettext, install_jinja, lazy_gettext

_SCHEDULE_KEY = re.compile(r"schedules-(\d{1,4})-(days|start|end)")

# Landing view of each blueprint, for the navigation bar.
NAV = (
    ("agent", "agent.portal", lazy_gettext("Portal"), ("agent",)),
    ("supervision", "supervision.index", lazy_gettext("Supervision"), ("supervisor",)),
    ("recordings", "recordings.index", lazy_gettext("Recordings"), ("agent", "supervisor")),
    ("campaigns", "campaigns.index", lazy_gettext("Campaigns"), ("supervisor",)),
    ("members", "members.index", lazy_gettext("Members"), ("supervisor",)),
    ("templates", "templates.index", lazy_gettext("Templates"), ("supervisor",)),
    ("dialer", "dialer.index", lazy_gettext("Dialer"), ("supervisor",)),
)

# No inline script anywhere; inline styles are allowed (progress bars set a width, the
# host's layout may carry a <style>). The message frame is a srcdoc document: it inherits
# this policy and narrows it with its own (mail_view._frame_policy), so images and fonts
# stay as open here as the frame's own policy may allow after "show images". No
# form-action: browsers apply it to redirects too, and "Connect account" posts to us and
# is redirected to the mail provider's OAuth2 sign-in.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https: http:; font-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; frame-ancestors 'self'"
)
ERROR_PAGES = {400: "error.html", 403: "403.html", 404: "404.html", 413: "error.html"}
ERROR_TITLES = {
    400: lazy_gettext("Bad request"),
    403: lazy_gettext("Forbidden"),
    404: lazy_gettext("Not found"),
    413: lazy_gettext("Too large"),
}
ERROR_TEXTS = {
    400: lazy_gettext("The request could not be understood. Reload the page and try again."),
    403: lazy_gettext("You do not have the role this page needs."),
    404: lazy_gettext("There is nothing here, or it is not visible to you."),
}


def make_blueprint(name: str, import_name: str, **kwargs: Any) -> Blueprint:
    bp = Blueprint(
        f"ucmail_{name}",
        import_name,
        template_folder="../templates",
        static_folder="../static",
        static_url_path="/static",
        **kwargs,
    )
    bp.record_once(lambda setup: install_jinja(setup.app))
    bp.context_processor(page_context)
    bp.after_request(security_headers)
    for code in ERROR_PAGES:
        bp.register_error_handler(code, error_page)
    return bp


def security_headers(response: Response) -> Response:
    """Headers a view set itself (the message frame's CSP) win over these defaults."""
    if not current_app.config["UCMAIL_SECURITY_HEADERS"]:
        return response
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # A token in the URL (tracking links, inline images) must not leak as a Referer.
    token_in_url = "token" in (request.view_args or {})
    headers.setdefault(
        "Referrer-Policy", "no-referrer" if token_in_url else "strict-origin-when-cross-origin"
    )
    return response


def error_page(exc: HTTPException) -> ResponseReturnValue:
    """The host's layout with a way back, not Werkzeug's bare page; JSON for fetch()
    and the API, in the API's own error shape."""
    code = exc.code or 500
    message = too_large_message() if code == 413 else (exc.description or exc.name)
    if message == type(exc).description:
        message = str(ERROR_TEXTS.get(code, message))  # Werkzeug's own English default
    if wants_json() or (request.blueprint or "").endswith("ucmail_api"):
        return jsonify(error=message, fields={}), code
    links = nav_links() if current_agent_id() is not None else []
    back = links[0] if links else {"url": request.script_root + "/", "label": gettext("Home")}
    title = str(ERROR_TITLES.get(code, exc.name))
    page = render_template(
        f"ucmail/errors/{ERROR_PAGES[code]}", code=code, title=title, message=message, back=back
    )
    return page, code


def ucmail_static(filename: str) -> str:
    """A static URL served by whichever ucmail blueprint handles this request."""
    endpoint = f"{request.blueprint}.static" if request.blueprint else None
    if not endpoint or endpoint not in current_app.view_functions:
        endpoint = next(
            f"ucmail_{n}.static"
            for n in ALL_BLUEPRINTS
            if f"ucmail_{n}.static" in current_app.view_functions
        )
    return url_for(endpoint, filename=f"ucmail/{filename}")


def nav_links() -> list[dict[str, str]]:
    links = []
    for name, view, label, roles in NAV:
        endpoint = f"ucmail_{view}"
        if endpoint in current_app.view_functions and any(has_role(r) for r in roles):
            links.append(
                {
                    "url": url_for(endpoint),
                    "label": str(label),
                    "active": request.blueprint == f"ucmail_{name}",
                }
            )
    return links


def page_context() -> dict[str, Any]:
    install_jinja(current_app)
    return {
        "ucmail_base_template": current_app.config["UCMAIL_BASE_TEMPLATE"],
        "ucmail_static": ucmail_static,
        "ucmail_nav": nav_links,
        "ucmail_csrf_token": csrf_token,
        "ucmail_live_poll_ms": current_app.config["UCMAIL_LIVE_POLL_MS"],
        "ucmail_agent_id": current_agent_id(),
        "ucmail_has_role": has_role,
    }


def form_fields(
    form: MultiDict[str, str], fields: Iterable[str], booleans: Iterable[str]
) -> dict[str, Any]:
    """The posted ``fields`` and every checkbox of ``booleans`` as True or False.

    An unticked checkbox is simply absent from a form post, so booleans are explicit.
    """
    data: dict[str, Any] = {key: form[key] for key in fields if key in form}
    for key in booleans:
        data[key] = key in form
    return data


def schedule_rows(form: MultiDict[str, str]) -> list[dict[str, Any]]:
    """The schedule editor's rows (``schedules-<n>-days|start|end``), in row order.

    Rows are numbered by the page's script and may have gaps where one was removed.
    """
    rows: dict[int, dict[str, Any]] = {}
    for key in form:
        match = _SCHEDULE_KEY.fullmatch(key)
        if match is None:
            continue
        row = rows.setdefault(int(match.group(1)), {"days": [], "start": "", "end": ""})
        if match.group(2) == "days":
            row["days"] = [int(d) for d in form.getlist(key) if d.isdigit()]
        else:
            row[match.group(2)] = form.get(key, "")
    return [rows[n] for n in sorted(rows)]
