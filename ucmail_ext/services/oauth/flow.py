"""Connecting a campaign's mailbox account: the OAuth2 authorization-code flow with PKCE.

``start`` gives the URL of the provider's consent page. The ``state`` parameter is
signed and bound to the admin and the campaign, and expires after ten minutes, so a
callback cannot be replayed by someone else or aimed at another campaign (RFC 6749
§10.12). It also carries the PKCE verifier (RFC 7636), *encrypted* with the
credentials key: the flow then needs no server-side storage and works the same when
an API client hands the URL to a browser that has another session than its own. ``finish`` trades
the code for tokens (Authlib), stores the refresh token encrypted like a password,
records which account consented and runs the live connection check.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.security import generate_token
from flask import current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.routing import BuildError

from ucmail_ext.crypto import DecryptionError, decrypt_secret, encrypt_secret
from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign, utcnow
from ucmail_ext.services import audit
from ucmail_ext.services.admin import campaigns as admin
from ucmail_ext.services.oauth import tokens
from ucmail_ext.services.oauth.campaign import TOKEN_COLUMNS, uses_oauth
from ucmail_ext.services.oauth.providers import Provider, ProviderError, get_provider

log = logging.getLogger(__name__)

STATE_MAX_AGE = 600


class FlowError(ValueError):
    """Something the admin can fix or retry; the message says what, never a token."""


@dataclass(frozen=True)
class Start:
    url: str


@dataclass(frozen=True)
class Finish:
    campaign: Campaign
    account: str
    smtp: admin.ConnectionStatus
    imap: admin.ConnectionStatus

    @property
    def ok(self) -> bool:
        return self.smtp.ok and (self.imap.ok or not self.campaign.receive_emails)


def redirect_uri() -> str:
    """The callback URL, exactly as registered at the provider."""
    configured = current_app.config["UCMAIL_OAUTH_REDIRECT_URI"]
    if configured:
        return str(configured)
    try:
        return url_for("ucmail_campaigns.oauth_callback", _external=True)
    except BuildError:
        raise FlowError(
            "Set UCMAIL_OAUTH_REDIRECT_URI: the campaigns blueprint, which serves the "
            "OAuth2 callback, is not mounted on this app."
        ) from None


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="ucmail.oauth-state")


def _oauth_campaign(campaign_id: int) -> tuple[Campaign, Provider]:
    try:
        campaign = admin.get_campaign(campaign_id)
    except admin.CampaignNotFound:
        raise FlowError("That campaign no longer exists.") from None
    if not uses_oauth(campaign):
        raise FlowError("Set the campaign's sign-in to OAuth2 and save it first.")
    try:
        return campaign, get_provider(campaign.oauth_provider)
    except ProviderError as exc:
        raise FlowError(str(exc)) from None


def start(campaign_id: int, *, actor_id: str, redirect_uri: str) -> Start:
    """The provider's consent URL; keep ``verifier`` under ``nonce`` for the callback."""
    _, provider = _oauth_campaign(campaign_id)
    verifier = generate_token(64)
    sealed = encrypt_secret(verifier).decode("ascii")
    state = _serializer().dumps({"c": campaign_id, "a": actor_id, "v": sealed})
    session = tokens.client(
        provider,
        scope=" ".join(provider.scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    try:
        url, _ = session.create_authorization_url(
            provider.authorize_url,
            state=state,
            code_verifier=verifier,
            **dict(provider.authorize_params),
        )
    finally:
        session.close()
    return Start(url)


def read_state(state: str, *, actor_id: str) -> tuple[int, str]:
    """(campaign id, PKCE verifier) of a state we signed for this admin lately."""
    try:
        payload = _serializer().loads(state, max_age=STATE_MAX_AGE)
    except SignatureExpired:
        raise FlowError("The sign-in took too long: click Connect account again.") from None
    except BadSignature:
        raise FlowError(
            "This sign-in answer was not started here: click Connect account."
        ) from None
    if not isinstance(payload, dict) or payload.get("a") != actor_id:
        raise FlowError("This sign-in was started by another user: click Connect account.")
    try:
        verifier = decrypt_secret(str(payload["v"]).encode("ascii"))
    except (DecryptionError, KeyError, UnicodeError):
        raise FlowError("This sign-in answer cannot be read: click Connect account.") from None
    return int(payload["c"]), verifier


def _claims(id_token: str | None) -> dict[str, Any]:
    """The id_token's claims, unverified: it came straight from the token endpoint
    over TLS (OpenID Connect Core §3.1.3.7 allows skipping the signature check then)."""
    if not id_token or id_token.count(".") < 2:
        return {}
    part = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def _account(provider: Provider, response: tokens.TokenResponse) -> str:
    """Who consented: userinfo when configured, else the id_token's claims."""
    if provider.userinfo_url:
        try:
            answer = requests.get(
                provider.userinfo_url,
                headers={"Authorization": f"Bearer {response.access_token}"},
                timeout=float(current_app.config["UCMAIL_OAUTH_TIMEOUT"]),
            )
            if answer.ok:
                info = answer.json()
                for key in ("email", "preferred_username", "upn", "sub"):
                    if isinstance(info, dict) and info.get(key):
                        return str(info[key])[:320]
        except (requests.RequestException, ValueError):
            pass
    claims = _claims(response.id_token)
    for key in ("email", "preferred_username", "upn"):
        if claims.get(key):
            return str(claims[key])[:320]
    return ""


def finish(
    *,
    state: str,
    code: str | None,
    error: str | None,
    error_description: str | None,
    actor_id: str,
    redirect_uri: str,
) -> Finish:
    """Trade the code for tokens, store them, check the login. Raises FlowError."""
    campaign_id, verifier = read_state(state, actor_id=actor_id)
    campaign, provider = _oauth_campaign(campaign_id)
    if error:
        words = f"{error}: {error_description}" if error_description else error
        raise FlowError(f"The provider did not connect the account ({words[:300]}).")
    if not code:
        raise FlowError("This sign-in answer has no code: click Connect account again.")
    session = tokens.client(provider, redirect_uri=redirect_uri)
    try:
        response = tokens.call_token_endpoint(
            lambda timeout: session.fetch_token(
                provider.token_url, code=code, code_verifier=verifier, timeout=timeout
            )
        )
    except tokens.RefreshFailed as exc:
        raise FlowError(f"The provider refused the sign-in: {exc}") from None
    finally:
        session.close()
    if not response.refresh_token:
        raise FlowError(
            "The provider sent no refresh token, so the login would stop within the hour: "
            "check that offline access (offline_access, or access_type=offline) is granted."
        )
    account = _account(provider, response)
    _store_consent(campaign, response, account, actor_id)
    smtp, imap = admin.run_checks(campaign)
    db = get_state().session
    campaign.smtp_status, campaign.smtp_status_message = smtp.status, smtp.message
    campaign.imap_status, campaign.imap_status_message = imap.status, imap.message
    campaign.checked_at = utcnow()
    db.commit()
    return Finish(campaign, account, smtp, imap)


def _store_consent(
    campaign: Campaign, response: tokens.TokenResponse, account: str, actor_id: str
) -> None:
    db = get_state().session
    try:
        for key, value in TOKEN_COLUMNS.items():
            setattr(campaign, key, value)
        campaign.oauth_account = account
        campaign.oauth_refresh_token_encrypted = encrypt_secret(response.refresh_token or "")
        campaign.oauth_access_token_encrypted = encrypt_secret(response.access_token)
        campaign.oauth_expires_at = tokens.expiry(response)
        audit.record(
            actor_id,
            "campaign.oauth.connect",
            detail=f"campaign {campaign.id}: {campaign.oauth_provider} account {account or '?'}",
        )
        db.commit()
    except Exception:
        db.rollback()
        raise
    log.info("campaign %s connected to %s by %s", campaign.id, account or "?", actor_id)


def disconnect(campaign_id: int, *, actor_id: str) -> Campaign:
    """Forget the tokens; the campaign stays, with nothing to log in with."""
    try:
        campaign = admin.get_campaign(campaign_id)
    except admin.CampaignNotFound:
        raise FlowError("That campaign no longer exists.") from None
    db = get_state().session
    try:
        for key, value in TOKEN_COLUMNS.items():
            setattr(campaign, key, value)
        message = "Not connected: connect the account to log in."
        campaign.smtp_status, campaign.smtp_status_message = admin.STATUS_UNKNOWN, message
        campaign.imap_status, campaign.imap_status_message = admin.STATUS_UNKNOWN, message
        audit.record(actor_id, "campaign.oauth.disconnect", detail=f"campaign {campaign.id}")
        db.commit()
    except Exception:
        db.rollback()
        raise
    return campaign
