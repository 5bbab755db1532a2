"""Absolute URLs for links inside emails, built in a request or in a Celery worker.

A worker has no request to take a host name from, so ``UCMAIL_PUBLIC_URL`` is the
base when set; otherwise the current request's host is used.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_request_context, url_for


def external_url(endpoint: str, **values: Any) -> str:
    base = current_app.config["UCMAIL_PUBLIC_URL"]
    if base:
        parts = urlsplit(base)
        adapter = current_app.url_map.bind(
            parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme or "https"
        )
        return adapter.build(endpoint, values, force_external=True)
    if not has_request_context():
        raise RuntimeError(
            "set UCMAIL_PUBLIC_URL so links in emails sent by workers point at this helpdesk"
        )
    return url_for(endpoint, _external=True, **values)


def message_id_domain() -> str:
    configured = current_app.config["UCMAIL_MESSAGE_ID_DOMAIN"]
    if configured:
        return str(configured)
    server_name = current_app.config.get("SERVER_NAME")
    if server_name:
        return str(server_name).split(":")[0]
    public = current_app.config["UCMAIL_PUBLIC_URL"]
    if public:
        return urlsplit(public).hostname or "ucmail.local"
    return "ucmail.local"
