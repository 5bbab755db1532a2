"""A connected OAuth2 account's tokens only ever go to the servers it was connected for.

The password rule (tests/admin/test_password_pinning.py) for bearer tokens: a
"Test connection" of an edit that points the campaign at other servers must not
log in there with the saved consent. Recorders offer XOAUTH2 and keep every byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from example_host_app.extensions import db
from tests.admin.conftest import form_fields
from tests.fixtures.app import USERS, create_users, csrf_token, login
from tests.fixtures.oauth_provider import OAuthProvider, OAuthSmtpSink
from tests.fixtures.recorder import Recorder
from tests.fixtures.servers import DovecotServer
from tests.oauth.helpers import (
    campaign_form,
    make_oauth_campaign,
    new_mailbox,
    oauth_config,
)
from ucmail_ext.crypto import decrypt_secret
from ucmail_ext.models import Campaign

pytestmark = pytest.mark.integration

MECHANISMS = "XOAUTH2 OAUTHBEARER PLAIN LOGIN"


@pytest.fixture
def oauth_web(make_app: Callable[..., Flask], oauth_provider: OAuthProvider) -> Flask:
    app = make_app("sqlite", **oauth_config(oauth_provider))
    create_users(app)
    return app


@pytest.fixture
def smtp_recorder() -> Iterator[Recorder]:
    server = Recorder("smtp", MECHANISMS)
    yield server
    server.close()


@pytest.fixture
def imap_recorder() -> Iterator[Recorder]:
    server = Recorder("imap", MECHANISMS)
    yield server
    server.close()


def _admin(app: Flask) -> FlaskClient:
    client = app.test_client()
    login(client, app, USERS["admin"][0])
    return client


def _tokens(app: Flask, campaign_id: int) -> tuple[str, str]:
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        return (
            decrypt_secret(campaign.oauth_access_token_encrypted),
            decrypt_secret(campaign.oauth_refresh_token_encrypted),
        )


def _connected(app: Flask, provider: OAuthProvider, dovecot: DovecotServer, port: int) -> int:
    user = new_mailbox(dovecot)
    return make_oauth_campaign(app, provider, dovecot, user, port, name="M365 support")


def _user(app: Flask, campaign_id: int) -> str:
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.username


def _assert_nothing_sent(recorders: list[Recorder], secrets: tuple[str, str]) -> None:
    for recorder in recorders:
        for secret in secrets:
            assert not recorder.saw(secret)
        assert b"XOAUTH2 " not in recorder.received
        assert b"OAUTHBEARER " not in recorder.received


def _assert_not_checked(body: dict[str, Any]) -> None:
    """The edit drops the consent, so there is nothing to log in with: not checked."""
    for side in ("smtp", "imap"):
        assert body[side]["status"] == "unknown", body
        assert "connect the account" in body[side]["message"], body


def _assert_consent_kept(app: Flask, campaign_id: int, secrets: tuple[str, str]) -> None:
    assert _tokens(app, campaign_id) == secrets


def test_api_check_of_an_edit_aimed_at_other_servers_never_sends_the_tokens_there(
    oauth_web: Flask,
    oauth_provider: OAuthProvider,
    oauth_dovecot: DovecotServer,
    oauth_smtp: OAuthSmtpSink,
    smtp_recorder: Recorder,
    imap_recorder: Recorder,
) -> None:
    campaign_id = _connected(oauth_web, oauth_provider, oauth_dovecot, oauth_smtp.port)
    secrets = _tokens(oauth_web, campaign_id)
    user = _user(oauth_web, campaign_id)
    admin = _admin(oauth_web)
    body = {
        **campaign_form(
            user,
            oauth_dovecot,
            smtp_recorder.port,
            imap_host="127.0.0.1",
            imap_port=imap_recorder.port,
        ),
        "campaign_id": campaign_id,
    }

    answer = admin.post(
        "/ucmail/api/campaigns/check",
        json=body,
        headers={"X-CSRFToken": csrf_token(admin, oauth_web), "Accept": "application/json"},
    )

    assert answer.status_code in (200, 422), answer.get_data(as_text=True)
    _assert_not_checked(answer.get_json())
    _assert_nothing_sent([smtp_recorder, imap_recorder], secrets)
    _assert_consent_kept(oauth_web, campaign_id, secrets)
    assert oauth_provider.count("token") == 0  # no refresh either


@pytest.mark.parametrize("moved", ["smtp", "imap"])
def test_form_test_connection_aimed_at_another_server_never_sends_the_tokens_there(
    oauth_web: Flask,
    oauth_provider: OAuthProvider,
    oauth_dovecot: DovecotServer,
    oauth_smtp: OAuthSmtpSink,
    smtp_recorder: Recorder,
    imap_recorder: Recorder,
    moved: str,
) -> None:
    campaign_id = _connected(oauth_web, oauth_provider, oauth_dovecot, oauth_smtp.port)
    secrets = _tokens(oauth_web, campaign_id)
    user = _user(oauth_web, campaign_id)
    admin = _admin(oauth_web)
    if moved == "smtp":
        values = campaign_form(user, oauth_dovecot, smtp_recorder.port)
    else:
        values = campaign_form(
            user,
            oauth_dovecot,
            oauth_smtp.port,
            imap_host="127.0.0.1",
            imap_port=imap_recorder.port,
        )
    fields = {
        **form_fields(values),
        "campaign_id": str(campaign_id),
        "csrf_token": csrf_token(admin, oauth_web),
    }

    answer = admin.post("/ucmail/campaigns/check", data=fields)

    assert answer.status_code in (200, 422), answer.get_data(as_text=True)
    _assert_not_checked(answer.get_json())
    _assert_nothing_sent([smtp_recorder, imap_recorder], secrets)
    _assert_consent_kept(oauth_web, campaign_id, secrets)
    assert oauth_provider.count("token") == 0


def test_the_recorders_would_have_caught_a_token(
    oauth_web: Flask,
    oauth_provider: OAuthProvider,
    oauth_dovecot: DovecotServer,
    smtp_recorder: Recorder,
    imap_recorder: Recorder,
) -> None:
    """A campaign connected *for* the recorders does log in there with its token."""
    campaign_id = _connected(oauth_web, oauth_provider, oauth_dovecot, smtp_recorder.port)
    with oauth_web.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.imap_host, campaign.imap_port = "127.0.0.1", imap_recorder.port
        db.session.commit()
    access, _ = _tokens(oauth_web, campaign_id)
    admin = _admin(oauth_web)

    answer = admin.post(
        f"/ucmail/api/campaigns/{campaign_id}/check",
        headers={"X-CSRFToken": csrf_token(admin, oauth_web), "Accept": "application/json"},
    )

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert smtp_recorder.saw(access)
    assert imap_recorder.saw(access)
