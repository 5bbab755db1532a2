"""OAuth2 providers from ``UCMAIL_OAUTH_PROVIDERS``: Microsoft 365, Google, or any other.

Each entry is a dict; its ``kind`` (default: the entry's name) picks the built-in
URLs and scopes, which any key may override::

    UCMAIL_OAUTH_PROVIDERS = {
        "microsoft": {"tenant": "contoso.onmicrosoft.com", "client_id": "..."},
        "google": {"client_id": "..."},
        "sso": {"kind": "generic", "authorize_url": "...", "token_url": "...",
                "scopes": ["mail"], "userinfo_url": "...", "client_id": "..."},
    }

The client secret comes from the environment, never from a form: the variable named
by ``client_secret_env`` (default ``UCMAIL_OAUTH_<NAME>_CLIENT_SECRET``), or
``client_secret`` in the configuration (which the host fills from its environment).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
# learn.microsoft.com "Authenticate an IMAP, POP or SMTP connection using OAuth".
MICROSOFT_SCOPES = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
    "openid",
    "email",
)
# developers.google.com/gmail/imap/xoauth2-protocol: full mail access is the only scope.
GOOGLE_SCOPES = ("https://mail.google.com/", "openid", "email")
KINDS = ("microsoft", "google", "generic")


class ProviderError(ValueError):
    """The provider configuration is unusable; the message says which key to fix."""


@dataclass(frozen=True)
class Provider:
    name: str
    kind: str
    label: str
    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    client_id: str
    client_secret: str = field(repr=False)
    userinfo_url: str = ""
    # Extra authorize-URL parameters: Google only returns a refresh token with these.
    authorize_params: Mapping[str, str] = field(default_factory=dict)


def _secret(name: str, entry: Mapping[str, Any]) -> str:
    env_name = entry.get("client_secret_env") or f"UCMAIL_OAUTH_{name.upper()}_CLIENT_SECRET"
    return str(os.environ.get(env_name) or entry.get("client_secret") or "")


def build_provider(name: str, entry: Mapping[str, Any]) -> Provider:
    kind = str(entry.get("kind") or name)
    if kind not in KINDS:
        raise ProviderError(f"OAuth provider {name!r}: kind must be one of {', '.join(KINDS)}")
    params: dict[str, str] = {}
    if kind == "microsoft":
        authority = str(entry.get("authority") or MICROSOFT_AUTHORITY).rstrip("/")
        tenant = str(entry.get("tenant") or "organizations")
        base = f"{authority}/{tenant}/oauth2/v2.0"
        defaults = {
            "label": "Microsoft 365",
            "authorize_url": f"{base}/authorize",
            "token_url": f"{base}/token",
            "scopes": MICROSOFT_SCOPES,
        }
        params = {"prompt": "select_account"}
    elif kind == "google":
        defaults = {
            "label": "Google Workspace",
            "authorize_url": "https://accounts.google.com/o/oauth2/v2/auth",
            "token_url": "https://oauth2.googleapis.com/token",
            "scopes": GOOGLE_SCOPES,
        }
        params = {"access_type": "offline", "prompt": "consent"}
    else:
        defaults = {"label": name}
    merged = {**defaults, **{k: v for k, v in entry.items() if v not in (None, "")}}
    for key in ("authorize_url", "token_url", "client_id"):
        if not merged.get(key):
            raise ProviderError(f"OAuth provider {name!r} needs {key!r}")
    scopes = merged.get("scopes") or ()
    if isinstance(scopes, str):
        scopes = scopes.split()
    if not scopes:
        raise ProviderError(f"OAuth provider {name!r} needs 'scopes'")
    return Provider(
        name=name,
        kind=kind,
        label=str(merged.get("label") or name),
        authorize_url=str(merged["authorize_url"]),
        token_url=str(merged["token_url"]),
        scopes=tuple(str(s) for s in scopes),
        client_id=str(merged["client_id"]),
        client_secret=_secret(name, entry),
        userinfo_url=str(merged.get("userinfo_url") or ""),
        authorize_params={**params, **dict(merged.get("authorize_params") or {})},
    )


def configured() -> dict[str, Provider]:
    """Every provider of the configuration, by name."""
    entries = current_app.config.get("UCMAIL_OAUTH_PROVIDERS") or {}
    return {name: build_provider(name, entry) for name, entry in entries.items()}


def get_provider(name: str) -> Provider:
    entries = current_app.config.get("UCMAIL_OAUTH_PROVIDERS") or {}
    if name not in entries:
        raise ProviderError(f"OAuth provider {name!r} is not configured (UCMAIL_OAUTH_PROVIDERS)")
    return build_provider(name, entries[name])


def choices() -> list[tuple[str, str]]:
    """(name, label) of each configured provider, for the campaign form."""
    try:
        return [(name, provider.label) for name, provider in configured().items()]
    except ProviderError:
        return []
