"""Connect account: authorization code with PKCE, signed state, consent stored, check run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from example_host_app.extensions import db
from tests.fixtures.app import USERS, create_users, csrf_token, login
from tests.fixtures.oauth_provider import OAuthProvider, OAuthSmtpSink
from tests.fixtures.servers import DovecotServer
from tests.oauth.helpers import campaign_form, new_mailbox, oauth_config
from ucmail_ext.crypto import decrypt_secret
from ucmail_ext.models import AuditEntry, Campaign


@pytest.fixture
def oauth_web(make_app: Callable[..., Flask], oauth_provider: OAuthProvider) -> Flask:
    app = make_app("sqlite", **oauth_config(oauth_provider))
    create_users(app)
    return app


def _client(app: Flask, who: str) -> FlaskClient:
    client = app.test_client()
    login(client, app, USERS[who][0])
    return client


def _form(client: FlaskClient, app: Flask, **data: Any) -> dict[str, Any]:
    return {"csrf_token": csrf_token(client, app), **data}


def _campaign_form(dovecot: DovecotServer, sink: OAuthSmtpSink, user: str) -> dict[str, Any]:
    """As a browser posts it: ticked boxes say "on"."""
    return campaign_form(user, dovecot, sink.port, receive_emails="on", enabled="on")


def _consent(authorize_url: str, decision: str = "allow") -> str:
    """Play the admin on the provider's page; returns where it sends the browser back."""
    page = requests.get(authorize_url, timeout=10)
    assert page.status_code == 200, page.text
    query = {k: v[0] for k, v in parse_qs(urlparse(authorize_url).query).items()}
    provider_base = authorize_url.split("?")[0]
    answer = requests.post(
        provider_base, data={**query, "decision": decision}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302
    return answer.headers["Location"]


def _local(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}"


def _create(client: FlaskClient, app: Flask, data: dict[str, Any]) -> int:
    response = client.post("/ucmail/campaigns/", data=_form(client, app, **data))
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def _stored(app: Flask, campaign_id: int) -> Campaign:
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        db.session.expunge(campaign)
        return campaign


def _consenting_campaign(
    app: Flask, provider: OAuthProvider, dovecot: DovecotServer, smtp: OAuthSmtpSink
) -> tuple[FlaskClient, str, int]:
    """An admin, a fresh mailbox the provider will consent for, and its saved campaign."""
    user = new_mailbox(dovecot)
    provider.consenting_user = user
    admin = _client(app, "admin")
    return admin, user, _create(admin, app, _campaign_form(dovecot, smtp, user))


def test_an_oauth_campaign_is_saved_without_password_then_connected_and_checked_green(
    oauth_web: Flask,
    oauth_provider: OAuthProvider,
    oauth_dovecot: DovecotServer,
    oauth_smtp: OAuthSmtpSink,
) -> None:
    admin, user, campaign_id = _consenting_campaign(
        oauth_web, oauth_provider, oauth_dovecot, oauth_smtp
    )
    assert _stored(oauth_web, campaign_id).smtp_status == "unknown"

    start = admin.post(
        f"/ucmail/campaigns/{campaign_id}/oauth/connect", data=_form(admin, oauth_web)
    )
    assert start.status_code == 302
    authorize_url = start.headers["Location"]
    query = parse_qs(urlparse(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert query["redirect_uri"] == ["http://localhost/ucmail/campaigns/oauth/callback"]

    back = admin.get(_local(_consent(authorize_url)))
    assert back.status_code == 302
    assert back.headers["Location"].endswith(f"/ucmail/campaigns/{campaign_id}")

    campaign = _stored(oauth_web, campaign_id)
    assert campaign.oauth_account == user
    assert (campaign.smtp_status, campaign.imap_status) == ("green", "green"), (
        campaign.smtp_status_message,
        campaign.imap_status_message,
    )
    assert "OAuth2" in campaign.smtp_status_message
    with oauth_web.app_context():
        refresh = decrypt_secret(campaign.oauth_refresh_token_encrypted)
        assert refresh in oauth_provider.known_secrets
        assert db.session.query(AuditEntry).filter_by(action="campaign.oauth.connect").count() == 1

    page = admin.get(f"/ucmail/campaigns/{campaign_id}").get_data(as_text=True)
    assert f'Connected as <strong id="oauth-consented">{user}</strong>' in page
    assert "connection check passed" in page
    for secret in oauth_provider.known_secrets:
        assert secret not in page
    api = admin.get(f"/ucmail/api/campaigns/{campaign_id}").get_data(as_text=True)
    assert '"oauth_connected": true' in api.replace(":true", ": true")
    for secret in oauth_provider.known_secrets:
        assert secret not in api


def test_a_state_from_another_admin_or_tampered_is_refused_and_stores_nothing(
    oauth_web: Flask,
    oauth_provider: OAuthProvider,
    oauth_dovecot: DovecotServer,
    oauth_smtp: OAuthSmtpSink,
) -> None:
    admin, _, campaign_id = _consenting_campaign(
        oauth_web, oauth_provider, oauth_dovecot, oauth_smtp
    )
    start = admin.post(
        f"/ucmail/campaigns/{campaign_id}/oauth/connect", data=_form(admin, oauth_web)
    )
    callback = _local(_consent(start.headers["Location"]))

    with oauth_web.app_context():
        from example_host_app.models import User

        other = User(email="admin2@test.example", name="Other Admin", roles="admin")
        other.set_password("secret-pass")
        db.session.add(other)
        db.session.commit()
    intruder = oauth_web.test_client()
    login(intruder, oauth_web, "admin2@test.example")
    refused = intruder.get(callback, follow_redirects=True).get_data(as_text=True)
    assert "started by another user" in refused

    tampered = callback.replace("state=", "state=x")
    assert "not started here" in admin.get(tampered, follow_redirects=True).get_data(as_text=True)
    assert _stored(oauth_web, campaign_id).oauth_refresh_token_encrypted is None
    assert oauth_provider.count("token") == 0  # the code was never even tried


def test_a_declined_consent_says_so_and_disconnect_forgets_the_tokens(
    oauth_web: Flask,
    oauth_provider: OAuthProvider,
    oauth_dovecot: DovecotServer,
    oauth_smtp: OAuthSmtpSink,
) -> None:
    admin, _, campaign_id = _consenting_campaign(
        oauth_web, oauth_provider, oauth_dovecot, oauth_smtp
    )
    url = f"/ucmail/campaigns/{campaign_id}/oauth/connect"
    start = admin.post(url, data=_form(admin, oauth_web))
    declined = admin.get(_local(_consent(start.headers["Location"], "deny")), follow_redirects=True)
    assert "access_denied: The user declined the consent." in declined.get_data(as_text=True)

    start = admin.post(url, data=_form(admin, oauth_web))
    admin.get(_local(_consent(start.headers["Location"])))
    assert _stored(oauth_web, campaign_id).oauth_refresh_token_encrypted is not None

    admin.post(f"/ucmail/campaigns/{campaign_id}/oauth/disconnect", data=_form(admin, oauth_web))
    gone = _stored(oauth_web, campaign_id)
    assert gone.oauth_refresh_token_encrypted is None and gone.oauth_access_token_encrypted is None
    assert gone.oauth_account == "" and gone.smtp_status == "unknown"


def test_only_admins_may_connect(
    oauth_web: Flask,
    oauth_provider: OAuthProvider,
    oauth_dovecot: DovecotServer,
    oauth_smtp: OAuthSmtpSink,
) -> None:
    user = new_mailbox(oauth_dovecot)
    admin = _client(oauth_web, "admin")
    campaign_id = _create(admin, oauth_web, _campaign_form(oauth_dovecot, oauth_smtp, user))
    supervisor = _client(oauth_web, "supervisor")
    answer = supervisor.post(
        f"/ucmail/campaigns/{campaign_id}/oauth/connect", data=_form(supervisor, oauth_web)
    )
    assert answer.status_code == 403


def test_the_json_api_hands_out_a_consent_url_that_connects_the_account(
    oauth_web: Flask,
    oauth_provider: OAuthProvider,
    oauth_dovecot: DovecotServer,
    oauth_smtp: OAuthSmtpSink,
) -> None:
    admin, user, campaign_id = _consenting_campaign(
        oauth_web, oauth_provider, oauth_dovecot, oauth_smtp
    )
    headers = {"X-CSRFToken": csrf_token(admin, oauth_web)}
    answer = admin.post(f"/ucmail/api/campaigns/{campaign_id}/oauth/connect", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["expires_in"] == 600 and body["url"].startswith(oauth_provider.url)

    admin.get(_local(_consent(body["url"])))
    connected = admin.get(f"/ucmail/api/campaigns/{campaign_id}").get_json()
    assert connected["oauth_connected"] and connected["oauth_account"] == user
    assert connected["smtp_status"]["status"] == "green"

    gone = admin.post(f"/ucmail/api/campaigns/{campaign_id}/oauth/disconnect", headers=headers)
    assert gone.get_json()["oauth_connected"] is False


def test_connecting_a_password_campaign_is_refused_with_a_reason(
    oauth_web: Flask, oauth_dovecot: DovecotServer, oauth_smtp: OAuthSmtpSink
) -> None:
    with oauth_web.app_context():
        campaign = Campaign(name="Passwords", email_address="a@example.com")
        db.session.add(campaign)
        db.session.commit()
        campaign_id = campaign.id
    admin = _client(oauth_web, "admin")
    headers = {"X-CSRFToken": csrf_token(admin, oauth_web)}
    answer = admin.post(f"/ucmail/api/campaigns/{campaign_id}/oauth/connect", headers=headers)
    assert answer.status_code == 409
    assert "sign-in to OAuth2" in answer.get_json()["error"]


def _connect(admin: FlaskClient, app: Flask, campaign_id: int) -> None:
    start = admin.post(f"/ucmail/campaigns/{campaign_id}/oauth/connect", data=_form(admin, app))
    admin.get(_local(_consent(start.headers["Location"])))


def test_editing_keeps_the_consent_but_other_servers_drop_it(
    oauth_web: Flask,
    oauth_provider: OAuthProvider,
    oauth_dovecot: DovecotServer,
    oauth_smtp: OAuthSmtpSink,
) -> None:
    """Like a stored password, a token only goes to the servers it was connected for."""
    user = new_mailbox(oauth_dovecot)
    oauth_provider.consenting_user = user
    admin = _client(oauth_web, "admin")
    data = _campaign_form(oauth_dovecot, oauth_smtp, user)
    campaign_id = _create(admin, oauth_web, data)
    _connect(admin, oauth_web, campaign_id)

    renamed = admin.post(
        f"/ucmail/campaigns/{campaign_id}",
        data=_form(admin, oauth_web, **{**data, "name": "Renamed"}),
    )
    assert renamed.status_code == 302, renamed.get_data(as_text=True)
    kept = _stored(oauth_web, campaign_id)
    assert kept.oauth_refresh_token_encrypted is not None and kept.smtp_status == "green"

    elsewhere = {**data, "name": "Renamed", "smtp_host": "localhost"}
    moved = admin.post(
        f"/ucmail/campaigns/{campaign_id}", data=_form(admin, oauth_web, **elsewhere)
    )
    assert moved.status_code == 302, moved.get_data(as_text=True)
    dropped = _stored(oauth_web, campaign_id)
    assert dropped.oauth_refresh_token_encrypted is None and dropped.oauth_account == ""
    assert dropped.smtp_status == "unknown"
    page = admin.get(f"/ucmail/campaigns/{campaign_id}").get_data(as_text=True)
    assert "No account connected" in page
