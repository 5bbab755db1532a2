"""OAuth2 campaigns on the test servers, and the app that knows the local provider."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask

from example_host_app.extensions import db
from tests.fixtures.oauth_provider import OAuthProvider
from tests.fixtures.servers import DovecotServer
from ucmail_ext.crypto import encrypt_secret
from ucmail_ext.models import Campaign, utcnow

PROVIDER = "local"


def campaign_form(
    user: str, dovecot: DovecotServer, smtp_port: int, **overrides: Any
) -> dict[str, Any]:
    """The campaign form's values for an OAuth2 mailbox on the test servers."""
    data: dict[str, Any] = {
        "name": "M365 support",
        "email_address": user,
        "username": user,
        "auth_method": "oauth2",
        "oauth_provider": PROVIDER,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_security": "none",
        "imap_host": dovecot.host,
        "imap_port": dovecot.port,
        "imap_security": "none",
        "imap_folder": "INBOX",
        "receive_emails": True,
        "enabled": True,
        "max_per_agent": 3,
        "service_level_seconds": 600,
        "strategy": "rrmemory",
        "timezone": "UTC",
    }
    data.update(overrides)
    return data


def oauth_config(provider: OAuthProvider, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "UCMAIL_OAUTH_PROVIDERS": {PROVIDER: provider.config()},
        "UCMAIL_OAUTH_TIMEOUT": 1,
        "UCMAIL_OAUTH_RETRIES": 2,
        "UCMAIL_OAUTH_WAIT": 20,
    }
    config.update(extra)
    return config


def new_mailbox(dovecot: DovecotServer) -> str:
    """A mailbox whose login name is an address, as at Microsoft 365 and Google."""
    user = f"box{secrets.token_hex(4)}@example.com"
    dovecot.add_user(user, secrets.token_urlsafe(10))
    return user


def make_oauth_campaign(
    app: Flask,
    provider: OAuthProvider,
    dovecot: DovecotServer,
    user: str,
    smtp_port: int,
    *,
    connected: bool = True,
    expires_in: float = 3600,
    **fields: Any,
) -> int:
    """An OAuth2 campaign; ``connected`` stores a consent as the callback would."""
    with app.app_context():
        campaign = Campaign(
            name=fields.pop("name", f"OAuth {secrets.token_hex(3)}"),
            email_address=user,
            username=user,
            auth_method="oauth2",
            oauth_provider=PROVIDER,
            imap_host=dovecot.host,
            imap_port=dovecot.port,
            imap_security="none",
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_security="none",
            receive_emails=True,
            enabled=True,
        )
        if connected:
            issued = provider.issue(user)
            campaign.oauth_account = user
            campaign.oauth_refresh_token_encrypted = encrypt_secret(issued["refresh_token"])
            campaign.oauth_access_token_encrypted = encrypt_secret(issued["access_token"])
            campaign.oauth_expires_at = utcnow() + timedelta(seconds=expires_in)
        for key, value in fields.items():
            setattr(campaign, key, value)
        db.session.add(campaign)
        db.session.commit()
        return campaign.id


def expire_cached_token(app: Flask, campaign_id: int) -> None:
    """The cached access token ran out (the provider forgets it too: call both)."""
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.oauth_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()


def in_context(app: Flask, fn: Callable[[], Any]) -> Any:
    with app.app_context():
        return fn()
