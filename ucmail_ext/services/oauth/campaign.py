"""A campaign's OAuth2 side as the form, the API and the transports see it.

Kept apart from the consent flow so that campaign administration can use it
without importing the flow (which itself uses campaign administration's checks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import inspect

from ucmail_ext.models import Campaign
from ucmail_ext.models.campaign import AUTH_METHODS
from ucmail_ext.services.oauth.providers import choices

# Columns that hold a consent; a provider change forgets them all.
TOKEN_COLUMNS = {
    "oauth_account": "",
    "oauth_refresh_token_encrypted": None,
    "oauth_access_token_encrypted": None,
    "oauth_expires_at": None,
    "oauth_error": "",
    "oauth_failures": 0,
    "oauth_retry_at": None,
    "oauth_last_failure": "",
}
NOT_CONNECTED = "Not checked: connect the account (OAuth2) to check the login."


def uses_oauth(campaign: Campaign) -> bool:
    return campaign.auth_method == "oauth2"


def is_connected(campaign: Campaign) -> bool:
    return bool(campaign.oauth_refresh_token_encrypted)


def needs_consent(campaign: Campaign) -> bool:
    """An OAuth2 campaign with no account connected: nothing to log in with yet."""
    return uses_oauth(campaign) and not is_connected(campaign)


def form_columns(
    data: Mapping[str, Any], current: Campaign | None, errors: dict[str, str]
) -> dict[str, Any]:
    """``auth_method`` and ``oauth_provider`` from the form or API, validated."""
    method = str(data.get("auth_method") or (current.auth_method if current else "password"))
    if method not in AUTH_METHODS:
        errors["auth_method"] = "Sign-in must be 'password' or 'oauth2'."
        method = "password"
    provider = str(data.get("oauth_provider") or (current.oauth_provider if current else ""))
    names = [name for name, _ in choices()]
    if method == "oauth2" and provider not in names:
        errors["oauth_provider"] = (
            "Pick the OAuth2 provider."
            if names
            else "No OAuth2 provider is configured (UCMAIL_OAUTH_PROVIDERS)."
        )
    columns: dict[str, Any] = {"auth_method": method, "oauth_provider": provider}
    if current is not None and current.oauth_provider != provider:
        # A consent given to one provider means nothing to another.
        columns.update(TOKEN_COLUMNS)
    return columns


def copy_consent(target: Campaign, source: Campaign) -> None:
    """Give a transient check campaign the saved consent, unless the proposed values
    cleared it (another provider, other servers: ``form_columns`` and the server rule)."""
    target.id = source.id
    cleared = inspect(target).attrs.oauth_refresh_token_encrypted.history.added
    if target.oauth_provider == source.oauth_provider and not cleared:
        for key in TOKEN_COLUMNS:
            setattr(target, key, getattr(source, key))


def as_dict(campaign: Campaign) -> dict[str, Any]:
    """What the API shows of the consent: who, whether it works; never a token."""
    return {
        "auth_method": campaign.auth_method or "password",
        "oauth_provider": campaign.oauth_provider or "",
        "oauth_connected": is_connected(campaign),
        "oauth_account": campaign.oauth_account or "",
        "oauth_error": campaign.oauth_error or "",
    }
