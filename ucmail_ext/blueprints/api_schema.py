"""The JSON API's contract: an OpenAPI 3.1 document, served at ``<api prefix>/openapi.json``.

Written by hand beside the views it describes (api.py) and held to them by a
property-based test (tests/ops/test_openapi.py, schemathesis against the real app):
every answer must match a response declared here, and none may be a 500.

Request bodies declare their fields' types but few required fields on purpose: the
services validate (POST needs more than PATCH, which updates only what it is given)
and answer 422 with a message per field, which is part of the contract too.
"""

from __future__ import annotations

from typing import Any

from ucmail_ext import __version__
from ucmail_ext.i18n import LANGUAGE_NAMES
from ucmail_ext.services.admin.campaigns import SECURITY_MODES, STRATEGIES

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


_STRING = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_STATUS = {
    "type": "object",
    "required": ["status", "message"],
    "properties": {"status": _STRING, "message": _STRING},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "fields"],
        "properties": {
            "error": {"type": "string", "description": "What went wrong, for a person."},
            "fields": {
                "type": "object",
                "additionalProperties": _STRING,
                "description": "Field name -> message, for validation errors.",
            },
            "message": _STRING,
            "logged_out": _BOOL,
        },
    },
    "ConnectionStatus": {"oneOf": [_STATUS, {"type": "null"}]},
    "Schedule": {
        "type": "object",
        "required": ["id", "days", "start", "end"],
        "properties": {
            "id": _nullable("integer"),
            "days": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 6},
                "description": "0 = Monday.",
            },
            "start": {"type": "string", "examples": ["09:00"]},
            "end": {"type": "string", "examples": ["18:00"]},
        },
    },
    "Campaign": {
        "type": "object",
        "required": ["id", "name", "schedules", "email_address", "has_password", "enabled"],
        "properties": {
            "id": _INT,
            "name": _STRING,
            "service_level_seconds": _INT,
            "strategy": _STRING,
            "timezone": _STRING,
            "language": {"type": "string", "enum": list(LANGUAGE_NAMES)},
            "schedules": {"type": "array", "items": _ref("Schedule")},
            "from_name": _STRING,
            "email_address": _STRING,
            "username": _STRING,
            "has_password": {"type": "boolean", "description": "The password is never sent."},
            "auth_method": {"type": "string", "enum": ["password", "oauth2"]},
            "oauth_provider": _STRING,
            "oauth_connected": {"type": "boolean", "description": "Tokens are never sent."},
            "oauth_account": {"type": "string", "description": "Who consented."},
            "oauth_error": {"type": "string", "description": "Set when it must be reconnected."},
            "smtp_host": _STRING,
            "smtp_port": _INT,
            "smtp_security": _STRING,
            "smtp_connections": _INT,
            "imap_host": _STRING,
            "imap_port": _INT,
            "imap_security": _STRING,
            "imap_folder": _STRING,
            "enabled": _BOOL,
            "receive_emails": _BOOL,
            "max_per_agent": _INT,
            "max_in_queue": _INT,
            "signature_template_id": _nullable("integer"),
            "autoreply_enabled": _BOOL,
            "autoreply_template_id": _nullable("integer"),
            "rating_enabled": _BOOL,
            "rating_motivation": _STRING,
            "rating_thanks": _STRING,
            "threshold_warning_seconds": _INT,
            "threshold_critical_seconds": _INT,
            "smtp_status": _STATUS,
            "imap_status": _STATUS,
            "checked_at": _nullable("string"),
            "created_at": _nullable("string"),
        },
    },
    "CampaignInput": {
        "type": "object",
        "description": "Any subset of a campaign's fields (PATCH and PUT keep what is left out).",
        "properties": {
            "name": _STRING,
            "service_level_seconds": _INT,
            "strategy": {"type": "string", "enum": list(STRATEGIES)},
            "timezone": _STRING,
            "language": {"type": "string", "enum": list(LANGUAGE_NAMES)},
            "from_name": _STRING,
            "email_address": _STRING,
            "username": _STRING,
            "password": {"type": "string", "writeOnly": True},
            "auth_method": {"type": "string", "enum": ["password", "oauth2"]},
            "oauth_provider": {"type": "string", "description": "A UCMAIL_OAUTH_PROVIDERS name."},
            "smtp_host": _STRING,
            "smtp_port": _INT,
            "smtp_security": {"type": "string", "enum": list(SECURITY_MODES)},
            "imap_host": _STRING,
            "imap_port": _INT,
            "imap_security": {"type": "string", "enum": list(SECURITY_MODES)},
            "imap_folder": _STRING,
            "enabled": _BOOL,
            "receive_emails": _BOOL,
            "max_per_agent": _INT,
            "max_in_queue": _INT,
            "schedules": {"type": "array", "items": _ref("ScheduleInput")},
        },
    },
    "ScheduleInput": {
        "type": "object",
        "properties": {
            "days": {"type": "array", "items": _INT},
            "start": _STRING,
            "end": _STRING,
        },
    },
    "CampaignSaved": {
        "type": "object",
        "required": ["campaign", "smtp", "imap"],
        "properties": {
            "campaign": _ref("Campaign"),
            "smtp": _ref("ConnectionStatus"),
            "imap": _ref("ConnectionStatus"),
        },
    },
    "CampaignInvalid": {
        "allOf": [
            _ref("Error"),
            {
                "type": "object",
                "properties": {
                    "smtp": _ref("ConnectionStatus"),
                    "imap": _ref("ConnectionStatus"),
                },
            },
        ]
    },
    "CheckResult": {
        "type": "object",
        "required": ["ok", "fields", "smtp", "imap"],
        "properties": {
            "ok": _BOOL,
            "fields": {"type": "object", "additionalProperties": _STRING},
            "smtp": _ref("ConnectionStatus"),
            "imap": _ref("ConnectionStatus"),
            "campaign": _ref("Campaign"),
        },
    },
    "Preset": {
        "type": "object",
        "required": ["label", "smtp_host", "smtp_port", "imap_host", "imap_port"],
        "properties": {
            "label": _STRING,
            "smtp_host": _STRING,
            "smtp_port": _INT,
            "smtp_security": _STRING,
            "imap_host": _STRING,
            "imap_port": _INT,
            "imap_security": _STRING,
        },
    },
    "Template": {
        "type": "object",
        "required": ["id", "name", "campaign_id", "subject", "body_html", "body_text"],
        "properties": {
            "id": _INT,
            "name": _STRING,
            "campaign_id": _nullable("integer"),
            "subject": _STRING,
            "body_html": _STRING,
            "body_text": _STRING,
            "variables": {"type": "array", "items": _STRING},
            "updated_at": _nullable("string"),
        },
    },
    "TemplateInput": {
        "type": "object",
        "properties": {
            "name": _STRING,
            "campaign_id": _nullable("integer"),
            "subject": _STRING,
            "body_html": _STRING,
            "body_text": _STRING,
        },
    },
    "Preview": {
        "type": "object",
        "required": ["subject", "body_text", "body_html", "variables", "samples"],
        "properties": {
            "subject": _STRING,
            "body_text": _STRING,
            "body_html": {"type": "string", "description": "Sanitized, for a sandboxed iframe."},
            "variables": {"type": "array", "items": _STRING},
            "samples": {"type": "object", "additionalProperties": _STRING},
        },
    },
    "Agent": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": _STRING, "name": _STRING, "email": _STRING},
    },
    "Member": {
        "type": "object",
        "required": ["campaign_id", "agent_id"],
        "properties": {
            "campaign_id": _INT,
            "campaign_name": _STRING,
            "agent_id": _STRING,
            "agent_name": _STRING,
        },
    },
    "MembersInput": {
        "type": "object",
        "properties": {
            "campaign_ids": {"type": "array", "items": _INT},
            "agent_ids": {"type": "array", "items": _STRING},
        },
    },
    "Confirm": {"type": "object", "properties": {"confirm": _BOOL}},
}


def _page_of(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "page", "per_page", "total", "pages"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1},
            "total": {"type": "integer", "minimum": 0},
            "pages": {"type": "integer", "minimum": 0},
        },
    }


_ID = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
_PAGE_PARAMS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 200},
    },
]
_CONFIRM = {
    "name": "confirm",
    "in": "query",
    "description": 'yes / true / 1 confirms the delete (or {"confirm": true} in the body).',
    "schema": {"type": "string", "enum": ["yes", "true", "1"]},
}


def _flag(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": f'yes / true / 1 (or {{"{name}": true}} in the body).',
        "schema": {"type": "string", "enum": ["yes", "true", "1"]},
    }


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _ID}


def _body(schema: str, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": _ref(schema)}}}


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    write: bool = False,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One operation; every one may answer 401 (no login) and 403 (role)."""
    common = {
        "401": _error("Not logged in."),
        "403": _error("The user lacks the role (supervisors read, admins write)."),
    }
    if write:
        common["400"] = _error("Missing CSRF token, or the body is not a JSON object.")
        common["413"] = _error("The request body is too large.")
    operation: dict[str, Any] = {"summary": summary, "responses": {**responses, **common}}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = body
    if write:
        operation["security"] = [{"session": [], "csrf": []}]
    return operation


_NOT_FOUND = {"404": _error("No such object, or not visible to this user.")}
_VERDICT = {"type": "string", "enum": ["pass", "warn", "fail"]}
_DKIM = {
    "type": "object",
    "required": ["domain", "selector", "has_key", "enabled", "records"],
    "properties": {
        "domain": _STRING,
        "selector": _STRING,
        "has_key": _BOOL,
        "has_ed25519": _BOOL,
        "enabled": _BOOL,
        "error": _STRING,
        "records": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "value", "algorithm"],
                "properties": {
                    "name": _STRING,
                    "value": _STRING,
                    "algorithm": {"type": "string", "enum": ["rsa", "ed25519"]},
                    "zone": _STRING,
                },
            },
        },
    },
}
_DELIVERABILITY = {
    "type": "object",
    "required": ["domain", "status", "checks"],
    "properties": {
        "domain": _STRING,
        "status": _VERDICT,
        "checks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "status", "message"],
                "properties": {
                    "name": _STRING,
                    "status": _VERDICT,
                    "lookup": _STRING,
                    "record": _STRING,
                    "message": _STRING,
                    "fix": _STRING,
                },
            },
        },
    },
}


def _paths() -> dict[str, Any]:
    campaign_id = _path_id("campaign_id")
    template_id = _path_id("template_id")
    campaign_saved = {
        "422": _json(_ref("CampaignInvalid"), "Validation failed; messages by field."),
    }
    return {
        "/openapi.json": {
            "get": _op("This document.", {"200": _json({"type": "object"}, "OpenAPI 3.1.")})
        },
        "/health": {
            "get": _op(
                "What the database holds, in two numbers.",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["app", "campaigns", "interactions"],
                            "properties": {"app": _STRING, "campaigns": _INT, "interactions": _INT},
                        },
                        "Counts.",
                    )
                },
            )
        },
        "/campaigns": {
            "get": _op(
                "Campaigns this user may see, paginated.",
                {"200": _json(_page_of("Campaign"), "One page.")},
                parameters=_PAGE_PARAMS,
            ),
            "post": _op(
                "Create a campaign; its SMTP and IMAP logins are checked.",
                {"201": _json(_ref("CampaignSaved"), "Created."), **campaign_saved},
                write=True,
                body=_body("CampaignInput"),
            ),
        },
        "/campaigns/presets": {
            "get": _op(
                "Server settings of well-known providers.",
                {
                    "200": _json(
                        {"type": "object", "additionalProperties": _ref("Preset")}, "By key."
                    )
                },
            )
        },
        "/campaigns/check": {
            "post": _op(
                "Check unsaved settings (campaign_id in the body: an edit of that campaign).",
                {
                    "200": _json(_ref("CheckResult"), "Checked."),
                    "422": _error("The settings are not valid enough to try."),
                    **_NOT_FOUND,
                },
                write=True,
                body=_body("CampaignInput"),
            )
        },
        "/campaigns/{campaign_id}": {
            "parameters": [campaign_id],
            "get": _op("One campaign.", {"200": _json(_ref("Campaign"), "Found."), **_NOT_FOUND}),
            "put": _op(
                "Update a campaign (fields left out keep their value).",
                {"200": _json(_ref("CampaignSaved"), "Saved."), **campaign_saved, **_NOT_FOUND},
                write=True,
                body=_body("CampaignInput"),
            ),
            "patch": _op(
                "Update some fields of a campaign.",
                {"200": _json(_ref("CampaignSaved"), "Saved."), **campaign_saved, **_NOT_FOUND},
                write=True,
                body=_body("CampaignInput"),
            ),
            "delete": _op(
                "Delete a campaign (needs confirmation; its dialers stop only when asked).",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["deleted"],
                            "properties": {
                                "deleted": _INT,
                                "dialers_removed": {"type": "array", "items": {}},
                            },
                        },
                        "Deleted.",
                    ),
                    "409": _json(
                        {
                            "allOf": [
                                _ref("Error"),
                                {
                                    "type": "object",
                                    "properties": {"dialers": {"type": "array", "items": {}}},
                                },
                            ]
                        },
                        "The campaign has dialers: repeat with disable_dialers to stop them.",
                    ),
                    **_NOT_FOUND,
                },
                write=True,
                parameters=[_CONFIRM, _flag("disable_dialers")],
                body=_body("Confirm", required=False),
            ),
        },
        "/campaigns/{campaign_id}/check": {
            "parameters": [campaign_id],
            "post": _op(
                "Check the saved campaign's logins and store the result.",
                {"200": _json(_ref("CheckResult"), "Checked."), **_NOT_FOUND},
                write=True,
            ),
        },
        "/campaigns/{campaign_id}/oauth/connect": {
            "parameters": [campaign_id],
            "post": _op(
                "The OAuth2 provider's consent URL to open in a browser (Connect account).",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["url", "expires_in"],
                            "properties": {"url": _STRING, "expires_in": _INT},
                        },
                        "Open url within expires_in seconds, signed in as the same admin.",
                    ),
                    "409": _error("Not an OAuth2 campaign, or its provider is not configured."),
                    **_NOT_FOUND,
                },
                write=True,
            ),
        },
        "/campaigns/{campaign_id}/oauth/disconnect": {
            "parameters": [campaign_id],
            "post": _op(
                "Forget the OAuth2 tokens.",
                {"200": _json(_ref("Campaign"), "Disconnected."), **_NOT_FOUND},
                write=True,
            ),
        },
        "/campaigns/{campaign_id}/dkim": {
            "parameters": [campaign_id],
            "get": _op(
                "DKIM state and the TXT records to publish (never the private key).",
                {"200": _json(_DKIM, "DKIM."), **_NOT_FOUND},
            ),
        },
        "/campaigns/{campaign_id}/dkim/generate": {
            "parameters": [campaign_id],
            "post": _op(
                "Generate a new DKIM key (RSA 2048, optional Ed25519); signing turns off.",
                {
                    "200": _json(_DKIM, "Generated: publish the records, then enable."),
                    "422": _error("Bad domain or selector; the old key is kept."),
                    **_NOT_FOUND,
                },
                write=True,
                body={
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "domain": _STRING,
                                    "selector": _STRING,
                                    "ed25519": _BOOL,
                                },
                            }
                        }
                    },
                },
            ),
        },
        "/campaigns/{campaign_id}/dkim/enable": {
            "parameters": [campaign_id],
            "post": _op(
                "Sign the campaign's mail with its DKIM key.",
                {
                    "200": _json(_DKIM, "Enabled."),
                    "409": _error("No DKIM key yet, or it cannot be decrypted."),
                    **_NOT_FOUND,
                },
                write=True,
            ),
        },
        "/campaigns/{campaign_id}/dkim/disable": {
            "parameters": [campaign_id],
            "post": _op(
                "Stop signing (the key is kept).",
                {"200": _json(_DKIM, "Disabled."), **_NOT_FOUND},
                write=True,
            ),
        },
        "/campaigns/{campaign_id}/deliverability": {
            "parameters": [campaign_id],
            "post": _op(
                "Look up SPF, DKIM and DMARC of the sender domain now (UCMAIL_DNS_RESOLVER).",
                {"200": _json(_DELIVERABILITY, "Each record: pass, warn or fail."), **_NOT_FOUND},
                write=True,
            ),
        },
        "/campaigns/{campaign_id}/enable": {
            "parameters": [campaign_id],
            "post": _op(
                "Enable.",
                {"200": _json(_ref("Campaign"), "Enabled."), **_NOT_FOUND},
                write=True,
            ),
        },
        "/campaigns/{campaign_id}/disable": {
            "parameters": [campaign_id],
            "post": _op(
                "Disable.",
                {"200": _json(_ref("Campaign"), "Disabled."), **_NOT_FOUND},
                write=True,
            ),
        },
        "/campaigns/{campaign_id}/schedules": {
            "parameters": [campaign_id],
            "post": _op(
                "Add an opening period.",
                {
                    "201": _json({"type": "array", "items": _ref("Schedule")}, "All periods."),
                    "422": _error("Not a valid period."),
                    **_NOT_FOUND,
                },
                write=True,
                body=_body("ScheduleInput"),
            ),
        },
        "/campaigns/{campaign_id}/schedules/{schedule_id}": {
            "parameters": [campaign_id, _path_id("schedule_id")],
            "delete": _op(
                "Remove an opening period.",
                {"204": {"description": "Removed."}, **_NOT_FOUND},
                write=True,
            ),
        },
        "/templates": {
            "get": _op(
                "Templates this user may see, paginated; campaign_id filters.",
                {
                    "200": _json(_page_of("Template"), "One page."),
                    "422": _error("campaign_id is not a campaign id."),
                },
                parameters=[
                    *_PAGE_PARAMS,
                    {"name": "campaign_id", "in": "query", "schema": _ID},
                ],
            ),
            "post": _op(
                "Create a template.",
                {
                    "201": _json(_ref("Template"), "Created."),
                    "422": _error("Validation failed; messages by field."),
                },
                write=True,
                body=_body("TemplateInput"),
            ),
        },
        "/templates/variables": {
            "get": _op(
                "What each use of a template (auto-reply, signature, reply, dialer) can fill.",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "required": ["label", "variables", "open_ended"],
                                "properties": {
                                    "label": _STRING,
                                    "variables": {"type": "array", "items": _STRING},
                                    "open_ended": _BOOL,
                                },
                            },
                        },
                        "By use.",
                    )
                },
            )
        },
        "/templates/preview": {
            "post": _op(
                "Render unsaved template fields with sample values.",
                {
                    "200": _json(_ref("Preview"), "Rendered."),
                    "422": _error("Validation failed; messages by field."),
                },
                write=True,
                body=_body("TemplateInput"),
            )
        },
        "/templates/{template_id}": {
            "parameters": [template_id],
            "get": _op("One template.", {"200": _json(_ref("Template"), "Found."), **_NOT_FOUND}),
            "put": _op(
                "Update a template.",
                {
                    "200": _json(_ref("Template"), "Saved."),
                    "422": _error("Validation failed; messages by field."),
                    **_NOT_FOUND,
                },
                write=True,
                body=_body("TemplateInput"),
            ),
            "patch": _op(
                "Update some fields of a template.",
                {
                    "200": _json(_ref("Template"), "Saved."),
                    "422": _error("Validation failed; messages by field."),
                    **_NOT_FOUND,
                },
                write=True,
                body=_body("TemplateInput"),
            ),
            "delete": _op(
                "Delete a template (needs confirmation).",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["deleted"],
                            "properties": {"deleted": _INT},
                        },
                        "Deleted.",
                    ),
                    **_NOT_FOUND,
                },
                write=True,
                parameters=[_CONFIRM],
                body=_body("Confirm", required=False),
            ),
        },
        "/templates/{template_id}/preview": {
            "parameters": [template_id],
            "get": _op(
                "The saved template with sample values.",
                {"200": _json(_ref("Preview"), "Rendered."), **_NOT_FOUND},
            ),
        },
        "/agents": {
            "get": _op(
                "Host users with the agent role.",
                {"200": _json({"type": "array", "items": _ref("Agent")}, "Agents.")},
            )
        },
        "/members": {
            "get": _op(
                "Members of the given campaigns.",
                {
                    "200": _json({"type": "array", "items": _ref("Member")}, "Members."),
                    "422": _error("campaign_id holds something other than ids."),
                },
                parameters=[
                    {
                        "name": "campaign_id",
                        "in": "query",
                        "schema": {"type": "array", "items": _ID},
                        "style": "form",
                        "explode": True,
                    }
                ],
            ),
            "post": _op(
                "Add agents to campaigns.",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["changed"],
                            "properties": {"changed": _INT},
                        },
                        "How many memberships were added.",
                    ),
                    "422": _error("Unknown campaigns or agents."),
                },
                write=True,
                body=_body("MembersInput"),
            ),
            "delete": _op(
                "Remove agents from campaigns.",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["changed"],
                            "properties": {"changed": _INT},
                        },
                        "How many memberships were removed.",
                    ),
                    "422": _error("Unknown campaigns or agents."),
                },
                write=True,
                body=_body("MembersInput"),
            ),
        },
    }


def openapi_document(api_prefix: str) -> dict[str, Any]:
    """The document for an API mounted at ``api_prefix`` (``UCMAIL_API_PREFIX``)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ucmail JSON API",
            "version": __version__,
            "description": (
                "Campaigns, templates and members of ucmail, the email channel of the "
                "helpdesk. Log in to the host first (session cookie); supervisors read, "
                "admins write. Writes need the CSRF token in an X-CSRFToken header. "
                'Every error is {"error": ..., "fields": {...}}.'
            ),
        },
        "servers": [{"url": api_prefix.rstrip("/") or "/"}],
        "security": [{"session": []}],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
            },
        },
    }
