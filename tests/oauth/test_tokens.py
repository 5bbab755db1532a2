"""Access tokens: cached, refreshed once per expiry across workers, failures a user can act on."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from example_host_app.extensions import db
from tests.fixtures.oauth_provider import OAuthProvider
from tests.fixtures.servers import DovecotServer
from tests.oauth.helpers import (
    expire_cached_token,
    in_context,
    make_oauth_campaign,
    new_mailbox,
    oauth_config,
)
from ucmail_ext.crypto import decrypt_secret
from ucmail_ext.models import Campaign
from ucmail_ext.services.oauth import tokens


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def oauth_app(
    request: pytest.FixtureRequest, make_app: Callable[..., Flask], oauth_provider: OAuthProvider
) -> Flask:
    """The app on each backend, locks in the database or in Redis."""
    extra = oauth_config(oauth_provider)
    if request.param == "redis":
        extra.update(
            UCMAIL_LOCK_URL=request.getfixturevalue("redis_url"),
            UCMAIL_LOCK_PREFIX=request.getfixturevalue("redis_prefix"),
        )
        return make_app("sqlite", **extra)
    return make_app(request.param, **extra)


@pytest.fixture
def campaign_id(
    oauth_app: Flask, oauth_provider: OAuthProvider, oauth_dovecot: DovecotServer
) -> int:
    user = new_mailbox(oauth_dovecot)
    return make_oauth_campaign(oauth_app, oauth_provider, oauth_dovecot, user, 2525)


def _campaign(app: Flask, campaign_id: int) -> Campaign:
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        db.session.expunge(campaign)
        return campaign


def test_a_fresh_cached_token_costs_no_request(
    oauth_app: Flask, oauth_provider: OAuthProvider, campaign_id: int
) -> None:
    first = in_context(oauth_app, lambda: tokens.access_token(campaign_id))
    second = in_context(oauth_app, lambda: tokens.access_token(campaign_id))
    assert first == second
    assert oauth_provider.count("token") == 0


def test_an_expired_token_is_refreshed_and_the_rotated_refresh_token_stored(
    oauth_app: Flask, oauth_provider: OAuthProvider, campaign_id: int
) -> None:
    before = _campaign(oauth_app, campaign_id)
    old_refresh = in_context(
        oauth_app, lambda: decrypt_secret(before.oauth_refresh_token_encrypted)
    )
    expire_cached_token(oauth_app, campaign_id)

    token = in_context(oauth_app, lambda: tokens.access_token(campaign_id))

    after = _campaign(oauth_app, campaign_id)
    new_refresh = in_context(oauth_app, lambda: decrypt_secret(after.oauth_refresh_token_encrypted))
    assert oauth_provider.count("token:refresh_token") == 1
    assert new_refresh != old_refresh  # the provider spent the old one
    assert oauth_provider.token_ok(after.username, token)
    # The next expiry works with the rotated token: it was stored, not lost.
    expire_cached_token(oauth_app, campaign_id)
    in_context(oauth_app, lambda: tokens.access_token(campaign_id))
    assert oauth_provider.count("token:refresh_token") == 2


def test_four_workers_at_one_expiry_make_exactly_one_refresh(
    oauth_app: Flask, oauth_provider: OAuthProvider, campaign_id: int
) -> None:
    for round_number in range(1, 3):
        expire_cached_token(oauth_app, campaign_id)
        barrier = threading.Barrier(4)
        results: list[Any] = []

        def worker(barrier: threading.Barrier = barrier, results: list[Any] = results) -> None:
            barrier.wait()
            try:
                results.append(in_context(oauth_app, lambda: tokens.access_token(campaign_id)))
            except Exception as exc:  # reported below
                results.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert all(isinstance(r, str) for r in results), results
        assert len(set(results)) == 1  # the waiting workers use the fresh token
        assert oauth_provider.count("token:refresh_token") == round_number


def test_revoked_consent_turns_the_campaign_red_and_stops_calling_the_provider(
    oauth_app: Flask, oauth_provider: OAuthProvider, campaign_id: int
) -> None:
    campaign = _campaign(oauth_app, campaign_id)
    oauth_provider.revoke(campaign.username)
    expire_cached_token(oauth_app, campaign_id)

    with pytest.raises(
        tokens.ReconnectNeeded, match="Reconnect the account: invalid_grant: AADSTS50173"
    ):
        in_context(oauth_app, lambda: tokens.access_token(campaign_id))
    calls = oauth_provider.count("token")
    for _ in range(5):
        with pytest.raises(tokens.ReconnectNeeded):
            in_context(oauth_app, lambda: tokens.access_token(campaign_id))
    assert oauth_provider.count("token") == calls == 1

    red = _campaign(oauth_app, campaign_id)
    assert red.imap_status == red.smtp_status == "red"
    assert red.imap_status_message.startswith("Reconnect the account: invalid_grant: AADSTS50173")


@pytest.fixture
def sqlite_app(make_app: Callable[..., Flask], oauth_provider: OAuthProvider) -> Flask:
    return make_app("sqlite", **oauth_config(oauth_provider))


@pytest.fixture
def sqlite_campaign(
    sqlite_app: Flask, oauth_provider: OAuthProvider, oauth_dovecot: DovecotServer
) -> int:
    user = new_mailbox(oauth_dovecot)
    return make_oauth_campaign(sqlite_app, oauth_provider, oauth_dovecot, user, 2525)


@pytest.mark.parametrize("mode", ["down", "hang"])
def test_token_endpoint_down_or_hanging_fails_clearly_backs_off_and_recovers(
    sqlite_app: Flask, oauth_provider: OAuthProvider, sqlite_campaign: int, mode: str
) -> None:
    oauth_app, campaign_id = sqlite_app, sqlite_campaign
    oauth_provider.token_mode = mode
    oauth_provider.hang_seconds = 3
    expire_cached_token(oauth_app, campaign_id)

    with pytest.raises(tokens.OAuthUnavailable) as failed:
        in_context(oauth_app, lambda: tokens.access_token(campaign_id))
    if mode == "hang":
        assert "did not answer within 1 s" in str(failed.value)
    else:
        assert "HTTP 503 (temporarily_unavailable: maintenance)" in str(failed.value)
    attempts = oauth_provider.count("token")
    assert attempts == 2  # UCMAIL_OAUTH_RETRIES, then it waits

    # During the back-off nobody calls the endpoint.
    with pytest.raises(tokens.OAuthUnavailable, match="next try at"):
        in_context(oauth_app, lambda: tokens.access_token(campaign_id))
    assert oauth_provider.count("token") == attempts
    assert _campaign(oauth_app, campaign_id).oauth_error == ""  # not a reconnect case

    oauth_provider.token_mode = "ok"
    with oauth_app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.oauth_retry_at is not None
        campaign.oauth_retry_at = campaign.oauth_retry_at.replace(year=2000)  # back-off over
        db.session.commit()
    token = in_context(oauth_app, lambda: tokens.access_token(campaign_id))
    recovered = _campaign(oauth_app, campaign_id)
    assert oauth_provider.token_ok(recovered.username, token)
    assert (recovered.oauth_failures, recovered.oauth_last_failure) == (0, "")


def test_no_token_in_log_lines_or_errors(
    sqlite_app: Flask,
    oauth_provider: OAuthProvider,
    sqlite_campaign: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    oauth_app, campaign_id = sqlite_app, sqlite_campaign
    caplog.set_level(logging.DEBUG)
    expire_cached_token(oauth_app, campaign_id)
    in_context(oauth_app, lambda: tokens.access_token(campaign_id))
    oauth_provider.token_mode = "down"
    expire_cached_token(oauth_app, campaign_id)
    with pytest.raises(tokens.OAuthUnavailable) as down:
        in_context(oauth_app, lambda: tokens.access_token(campaign_id))
    oauth_provider.token_mode = "invalid_grant"
    with oauth_app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.oauth_retry_at = None
        db.session.commit()
    with pytest.raises(tokens.ReconnectNeeded) as revoked:
        in_context(oauth_app, lambda: tokens.access_token(campaign_id))
    text = (
        caplog.text + str(down.value) + str(revoked.value) + repr(_campaign(oauth_app, campaign_id))
    )
    for secret in oauth_provider.known_secrets:
        assert secret not in text
