"""What every ucmail blueprint shares: templates, static files, CSRF, page context,
and reading the form posts that several screens have in common.

Each blueprint carries these itself (instead of init_app adding them once) so that a
host that registers only one blueprint still gets a working, protected page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, current_app, request, url_for
from werkzeug.datastructures import MultiDict

from ucmail_ext.auth import check_csrf, csrf_token, current_agent_id, has_role
from ucmail_ext.config import ALL_BLUEPRINTS

_SCHEDULE_KEY = re.compile(r"schedules-(\d{1,4})-(days|start|end)")

# Landing view of each blueprint, for the navigation bar.
NAV = (
    ("agent", "agent.portal", "Portal", ("agent",)),
    ("supervision", "supervision.index", "Supervision", ("supervisor",)),
    ("recordings", "recordings.index", "Recordings", ("agent", "supervisor")),
    ("campaigns", "campaigns.index", "Campaigns", ("supervisor",)),
    ("members", "members.index", "Members", ("supervisor",)),
    ("templates", "templates.index", "Templates", ("supervisor",)),
    ("dialer", "dialer.index", "Dialer", ("supervisor",)),
)


def make_blueprint(name: str, import_name: str, **kwargs: Any) -> Blueprint:
    bp = Blueprint(
        f"ucmail_{name}",
        import_name,
        template_folder="../templates",
        static_folder="../static",
        static_url_path="/static",
        **kwargs,
    )
    bp.before_request(check_csrf)
    bp.context_processor(page_context)
    return bp


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
                    "label": label,
                    "active": request.blueprint == f"ucmail_{name}",
                }
            )
    return links


def page_context() -> dict[str, Any]:
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
