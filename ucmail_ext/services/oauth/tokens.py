"""Access tokens: cached with their expiry, refreshed by one worker at a time.

Every login asks :func:`access_token`. A cached token with more than
``UCMAIL_OAUTH_REFRESH_MARGIN`` seconds left is returned at once. Otherwise one
worker, across all machines, takes the lock ``oauth:<campaign>`` (services/locks.py)
and refreshes; the others wait for the row to change and use the token it stored,
so an expiry costs the token endpoint exactly one request (no stampede).

Token rows are read and written on their own connection, committed at once and
apart from the caller's session: a refresh in the middle of a dialer batch must not
commit (or roll back) the batch, and a rotated refresh token (Microsoft sends a new
one each time, and the old one may stop working) must never be lost. The new
refresh token and access token go in one UPDATE: both or neither.

Failures:

- ``invalid_grant`` (consent revoked, password changed, token expired): the
  campaign turns red with "reconnect the account" and the provider's words, and
  nothing contacts the provider again until an admin reconnects.
- token endpoint down, slow or answering 5xx: a few quick retries with back-off,
  each bounded by ``UCMAIL_OAUTH_TIMEOUT``; then the campaign waits
  ``UCMAIL_OAUTH_BACKOFF`` seconds (doubling, at most an hour) before the next try.

Tokens are never logged, never in an exception, never in a page: errors carry the
provider's ``error`` and ``error_description`` only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask, current_app
from sqlalchemy import select, update

from ucmail_ext.crypto import decrypt_secret, encrypt_secret
from ucmail_ext.extension import get_state
from ucmail_ext.mail.imap import TokenUnavailable
from ucmail_ext.models import Campaign, utcnow
from ucmail_ext.services import locks, metrics
from ucmail_ext.services.oauth.providers import Provider, ProviderError, get_provider

log = logging.getLogger(__name__)

RECONNECT = "Reconnect the account"
# Errors an admin must act on: retrying cannot help and only hammers the provider.
_PERMANENT = {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"}
_MAX_BACKOFF = 3600.0
_table = Campaign.__table__


class OAuthUnavailable(TokenUnavailable):
    """No token now (endpoint down or slow, waiting out a back-off); it will retry."""


class ReconnectNeeded(TokenUnavailable):
    """The grant is gone: only an admin reconnecting the account brings it back."""


@dataclass(frozen=True)
class TokenRow:
    provider: str
    refresh: bytes | None
    access: bytes | None
    expires_at: datetime | None
    error: str
    failures: int
    retry_at: datetime | None
    last_failure: str


@dataclass(frozen=True)
class TokenResponse:
    """What a token endpoint answered, reduced to what we keep."""

    access_token: str
    expires_in: float
    refresh_token: str | None
    id_token: str | None


class RefreshFailed(Exception):
    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def _engine() -> Any:
    return get_state().db.engine


def read_row(campaign_id: int) -> TokenRow:
    columns = (
        _table.c.oauth_provider,
        _table.c.oauth_refresh_token_encrypted,
        _table.c.oauth_access_token_encrypted,
        _table.c.oauth_expires_at,
        _table.c.oauth_error,
        _table.c.oauth_failures,
        _table.c.oauth_retry_at,
        _table.c.oauth_last_failure,
    )
    with _engine().connect() as conn:
        row = conn.execute(select(*columns).where(_table.c.id == campaign_id)).one_or_none()
    if row is None:
        raise ReconnectNeeded(f"campaign {campaign_id} does not exist")
    return TokenRow(
        provider=row[0] or "",
        refresh=row[1],
        access=row[2],
        expires_at=row[3],
        error=row[4] or "",
        failures=int(row[5] or 0),
        retry_at=row[6],
        last_failure=row[7] or "",
    )


def _write(campaign_id: int, **values: Any) -> None:
    with _engine().begin() as conn:
        conn.execute(update(_table).where(_table.c.id == campaign_id).values(**values))


def _fresh(row: TokenRow, margin: float) -> str | None:
    """The cached token when it has more than ``margin`` seconds left."""
    if row.access and row.expires_at and row.expires_at > utcnow() + timedelta(seconds=margin):
        return decrypt_secret(row.access)
    return None


def _still_valid(row: TokenRow) -> str | None:
    return _fresh(row, 5.0)


def client(provider: Provider, **kwargs: Any) -> OAuth2Session:
    """An Authlib session for ``provider``: client id and secret sent in the form body."""
    return OAuth2Session(
        provider.client_id,
        provider.client_secret,
        token_endpoint_auth_method="client_secret_post",
        **kwargs,
    )


def parse_response(token: dict[str, Any]) -> TokenResponse:
    access = token.get("access_token")
    if not access:
        raise RefreshFailed("the token endpoint answered without an access token", False)
    try:
        expires_in = float(token.get("expires_in") or 3600)
    except (TypeError, ValueError):
        expires_in = 3600.0
    return TokenResponse(
        access_token=str(access),
        expires_in=expires_in,
        refresh_token=token.get("refresh_token") or None,
        id_token=token.get("id_token") or None,
    )


def describe_oauth_error(exc: OAuthError) -> str:
    """The provider's own words: ``error: error_description``, never a token."""
    text = str(exc.error or "error")
    if exc.description:
        text += f": {exc.description}"
    return text[:500]


def _http_error(response: requests.Response | None) -> str:
    """A 5xx (or other non-OAuth) answer: its status and the provider's ``error`` words."""
    if response is None:
        return "the token endpoint failed"
    message = f"the token endpoint answered HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return message
    if isinstance(body, dict) and body.get("error"):
        message += f" ({body['error']}"
        if body.get("error_description"):
            message += f": {str(body['error_description'])[:300]}"
        message += ")"
    return message


def call_token_endpoint(call: Callable[[float], dict[str, Any]]) -> TokenResponse:
    """Run ``call(timeout)`` with quick retries and back-off for temporary failures."""
    cfg = current_app.config
    timeout = float(cfg["UCMAIL_OAUTH_TIMEOUT"])
    attempts = max(1, int(cfg["UCMAIL_OAUTH_RETRIES"]))
    message = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(0.5 * 2 ** (attempt - 1), 5.0))
        try:
            return parse_response(call(timeout))
        except OAuthError as exc:
            message = describe_oauth_error(exc)
            if exc.error in _PERMANENT:
                raise RefreshFailed(message, True) from None
        except requests.Timeout:
            message = f"the token endpoint did not answer within {timeout:g} s"
        except requests.HTTPError as exc:
            message = _http_error(exc.response)
        except requests.RequestException as exc:
            message = f"cannot reach the token endpoint ({type(exc).__name__})"
        except ValueError:
            # Authlib's JSON decoding of an HTML error page (a proxy's 502, say).
            message = "the token endpoint answered with something that is not a token"
        except RefreshFailed as exc:
            message = str(exc)
    raise RefreshFailed(message, False)


def _refresh(provider: Provider, refresh_token: str) -> TokenResponse:
    session = client(provider)
    try:
        return call_token_endpoint(
            lambda timeout: session.refresh_token(
                provider.token_url, refresh_token=refresh_token, timeout=timeout
            )
        )
    finally:
        session.close()


def _red(message: str) -> dict[str, Any]:
    return {
        "smtp_status": "red",
        "smtp_status_message": message,
        "imap_status": "red",
        "imap_status_message": message,
    }


def access_token(campaign_id: int) -> str:
    """A valid access token for the campaign's account; raises a ``TokenUnavailable``."""
    cfg = current_app.config
    margin = float(cfg["UCMAIL_OAUTH_REFRESH_MARGIN"])
    row = read_row(campaign_id)
    token = _usable(row, margin)
    if token is not None:
        return token
    deadline = time.monotonic() + float(cfg["UCMAIL_OAUTH_WAIT"])
    # The lease must outlive one whole refresh: every attempt and the pauses between.
    ttl = float(cfg["UCMAIL_OAUTH_TIMEOUT"]) * max(1, int(cfg["UCMAIL_OAUTH_RETRIES"])) + 30
    while True:
        lease = locks.acquire(f"oauth:{campaign_id}", ttl=ttl)
        if lease is not None:
            try:
                return _refresh_locked(campaign_id, margin)
            finally:
                lease.release()
        # Another worker is refreshing: wait for its result instead of calling too.
        time.sleep(0.05)
        row = read_row(campaign_id)
        token = _usable(row, margin)
        if token is not None:
            return token
        if time.monotonic() > deadline:
            raise OAuthUnavailable("another worker is refreshing the access token; try again")


def _usable(row: TokenRow, margin: float) -> str | None:
    """The cached token if fresh; raises when waiting is pointless (error, back-off)."""
    if row.error:
        raise ReconnectNeeded(row.error)
    if not row.refresh:
        raise ReconnectNeeded(f"{RECONNECT}: no account is connected yet.")
    token = _fresh(row, margin)
    if token is not None:
        return token
    if row.retry_at is not None and row.retry_at > utcnow():
        still = _still_valid(row)
        if still is not None:
            return still
        when = row.retry_at.strftime("%H:%M:%S UTC")
        raise OAuthUnavailable(f"token refresh failed ({row.last_failure}); next try at {when}")
    return None


def _refresh_locked(campaign_id: int, margin: float) -> str:
    row = read_row(campaign_id)
    token = _usable(row, margin)
    if token is not None:
        return token  # refreshed by the worker that held the lock before us
    assert row.refresh is not None
    try:
        provider = get_provider(row.provider)
    except ProviderError as exc:
        raise OAuthUnavailable(str(exc)) from None
    try:
        response = _refresh(provider, decrypt_secret(row.refresh))
    except RefreshFailed as exc:
        metrics.token_refreshed(campaign_id, ok=False)
        if exc.permanent:
            message = f"{RECONNECT}: {exc}"
            _write(campaign_id, oauth_error=message[:2000], **_red(message[:2000]))
            log.warning("campaign %s: OAuth refresh refused: %s", campaign_id, exc)
            raise ReconnectNeeded(message) from None
        failures = row.failures + 1
        delay = min(
            _MAX_BACKOFF, float(current_app.config["UCMAIL_OAUTH_BACKOFF"]) * 2 ** (failures - 1)
        )
        retry_at = utcnow() + timedelta(seconds=delay)
        _write(
            campaign_id,
            oauth_failures=failures,
            oauth_retry_at=retry_at,
            oauth_last_failure=str(exc)[:2000],
        )
        log.warning(
            "campaign %s: OAuth refresh failed (%s); retry in %.0f s", campaign_id, exc, delay
        )
        still = _still_valid(row)
        if still is not None:
            return still
        raise OAuthUnavailable(f"token refresh failed ({exc}); retrying in {delay:.0f} s") from None
    store(campaign_id, response)
    metrics.token_refreshed(campaign_id, ok=True)
    return response.access_token


def expiry(response: TokenResponse) -> datetime:
    return utcnow() + timedelta(seconds=response.expires_in)


def store(campaign_id: int, response: TokenResponse) -> None:
    """Cache a new access token, and the rotated refresh token if one came, atomically."""
    values: dict[str, Any] = {
        "oauth_access_token_encrypted": encrypt_secret(response.access_token),
        "oauth_expires_at": expiry(response),
        "oauth_failures": 0,
        "oauth_retry_at": None,
        "oauth_last_failure": "",
    }
    if response.refresh_token:
        values["oauth_refresh_token_encrypted"] = encrypt_secret(response.refresh_token)
    _write(campaign_id, **values)


def token_source(campaign_id: int, app: Flask | None = None) -> Callable[[], str]:
    """What the transport adapters call at each login; works from any thread."""
    flask_app = app or current_app._get_current_object()  # type: ignore[attr-defined]

    def source() -> str:
        with flask_app.app_context():
            return access_token(campaign_id)

    return source
