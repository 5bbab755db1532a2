"""Providers from UCMAIL_OAUTH_PROVIDERS: built-in Microsoft and Google, generic, secrets
from the environment."""

from __future__ import annotations

import pytest

from ucmail_ext.services.oauth.providers import ProviderError, build_provider


def test_microsoft_builds_its_tenant_urls_and_mail_scopes() -> None:
    provider = build_provider("microsoft", {"tenant": "contoso.onmicrosoft.com", "client_id": "c"})
    base = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0"
    assert provider.authorize_url == f"{base}/authorize"
    assert provider.token_url == f"{base}/token"
    assert {
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
        "offline_access",
    } <= set(provider.scopes)


def test_google_asks_for_full_mail_access_offline() -> None:
    provider = build_provider("google", {"client_id": "c"})
    assert "https://mail.google.com/" in provider.scopes
    assert provider.token_url == "https://oauth2.googleapis.com/token"
    assert provider.authorize_params["access_type"] == "offline"


def test_the_client_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UCMAIL_OAUTH_GOOGLE_CLIENT_SECRET", "from-env")
    assert build_provider("google", {"client_id": "c"}).client_secret == "from-env"
    monkeypatch.setenv("MY_SECRET", "named")
    entry = {"client_id": "c", "client_secret_env": "MY_SECRET"}
    assert build_provider("google", entry).client_secret == "named"
    assert "named" not in repr(build_provider("google", entry))


def test_a_generic_provider_needs_its_urls_and_a_known_kind() -> None:
    with pytest.raises(ProviderError, match="needs 'token_url'"):
        build_provider("sso", {"kind": "generic", "authorize_url": "https://a", "client_id": "c"})
    with pytest.raises(ProviderError, match="kind must be one of"):
        build_provider("sso", {"kind": "saml", "client_id": "c"})
    generic = build_provider(
        "sso",
        {
            "kind": "generic",
            "authorize_url": "https://idp/authorize",
            "token_url": "https://idp/token",
            "scopes": "mail offline_access",
            "client_id": "c",
        },
    )
    assert generic.scopes == ("mail", "offline_access") and generic.label == "sso"
