"""Every mail flow logs in with OAuth2 and keeps going when its token expires mid-run.

Polling, IDLE, auto-replies, agent replies and a dialer run, against Dovecot with an
oauth2 passdb and an SMTP server that only takes XOAUTH2, both checking the tokens
at the local provider.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from example_host_app.extensions import db
from tests.agent.conftest import post
from tests.dialer import helpers as dialer_helpers
from tests.fixtures.app import USERS, create_users, login
from tests.fixtures.oauth_provider import OAuthProvider, OAuthSmtpSink
from tests.fixtures.servers import DovecotServer
from tests.inbound.helpers import count, interactions, mail
from tests.oauth.helpers import expire_cached_token, make_oauth_campaign, new_mailbox, oauth_config
from ucmail_ext.models import Campaign, Interaction, Member, Template
from ucmail_ext.services.dialer import dialers as dialer_service
from ucmail_ext.services.inbound import ingest
from ucmail_ext.services.inbound.idle import MailboxListener


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.02)


@pytest.fixture
def flows_app(make_app: Callable[..., Flask], oauth_provider: OAuthProvider) -> Flask:
    app = make_app("sqlite", **oauth_config(oauth_provider, UCMAIL_MAIL_MAX_EMAILS=100))
    create_users(app)
    return app


@pytest.fixture
def user(oauth_dovecot: DovecotServer) -> str:
    return new_mailbox(oauth_dovecot)


def _expire_everything(app: Flask, provider: OAuthProvider, campaign_id: int) -> None:
    """The provider's tokens run out, and our cache knows it."""
    provider.expire_access_tokens()
    expire_cached_token(app, campaign_id)


def _poll(app: Flask, campaign_id: int) -> ingest.PollResult:
    with app.app_context():
        return ingest.poll_mailbox(campaign_id)


def test_polling_auto_reply_and_agent_reply_go_on_across_token_expiries(
    flows_app: Flask,
    oauth_provider: OAuthProvider,
    oauth_dovecot: DovecotServer,
    oauth_smtp: OAuthSmtpSink,
    user: str,
) -> None:
    app = flows_app
    campaign_id = make_oauth_campaign(app, oauth_provider, oauth_dovecot, user, oauth_smtp.port)
    with app.app_context():
        template = Template(
            name="Thanks", campaign_id=campaign_id, subject="We got it", body_text="Thanks!"
        )
        db.session.add(template)
        db.session.flush()
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.autoreply_enabled = True
        campaign.autoreply_template_id = template.id
        db.session.add(Member(campaign_id=campaign_id, agent_id=str(_agent_id(app))))
        db.session.commit()
    agent = app.test_client()
    login(agent, app, USERS["agent1"][0])
    assert agent.get("/ucmail/agent/").status_code == 200  # online and free

    assert _poll(app, campaign_id).status == "ok"  # connected: live mail from now on
    oauth_dovecot.append(user, mail(1, subject="Printer on fire"))
    _expire_everything(app, oauth_provider, campaign_id)
    result = _poll(app, campaign_id)
    assert result.status == "ok", result.error
    assert count(app, Interaction) == 1
    assert oauth_provider.count("token:refresh_token") == 1

    (auto_reply,) = oauth_smtp.wait_for(1, timeout=20)
    assert auto_reply.auth_user == user and b"We got it" in auto_reply.raw

    _expire_everything(app, oauth_provider, campaign_id)
    (interaction,) = interactions(app, campaign_id)
    assert interaction.agent_id == str(_agent_id(app))
    response = post(
        agent,
        app,
        f"/ucmail/agent/interactions/{interaction.id}/send",
        {"kind": "reply", "to": "customer@example.com", "subject": "Re: Printer on fire",
         "body": "Unplug it."},
    )  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    messages = oauth_smtp.wait_for(2, timeout=20)
    assert messages[1].auth_user == user and b"Unplug it." in messages[1].raw
    assert oauth_provider.count("token:refresh_token") == 2


def _agent_id(app: Flask) -> int:
    from example_host_app.models import User

    with app.app_context():
        return int(db.session.query(User).filter_by(email=USERS["agent1"][0]).one().id)


@pytest.fixture
def listener(flows_app: Flask) -> Iterator[list[MailboxListener]]:
    started: list[MailboxListener] = []
    yield started
    for item in started:
        item.stop()
    for item in started:
        item.join(10)


def test_idle_reconnects_with_a_refreshed_token_after_its_token_expired(
    flows_app: Flask,
    oauth_provider: OAuthProvider,
    oauth_dovecot: DovecotServer,
    oauth_smtp: OAuthSmtpSink,
    user: str,
    listener: list[MailboxListener],
) -> None:
    app = flows_app
    campaign_id = make_oauth_campaign(app, oauth_provider, oauth_dovecot, user, oauth_smtp.port)
    idle = MailboxListener(app, campaign_id, min_backoff=0.2)
    idle.start()
    listener.append(idle)
    wait_until(lambda: idle.polls >= 1, 20, "IDLE connected and caught up")

    oauth_dovecot.append(user, mail(1))
    wait_until(lambda: count(app, Interaction) == 1, 20, "mail 1 imported over IDLE")

    # The token runs out while IDLE sits on its connection; then the server drops it.
    _expire_everything(app, oauth_provider, campaign_id)
    oauth_dovecot.doveadm("kick", user)
    oauth_dovecot.append(user, mail(2))
    wait_until(lambda: count(app, Interaction) == 2, 30, "mail 2 imported after reconnecting")
    assert oauth_provider.count("token:refresh_token") == 1
    assert idle.is_alive()


def test_a_dialer_run_continues_across_a_token_expiry_with_one_refresh(
    flows_app: Flask,
    oauth_provider: OAuthProvider,
    oauth_dovecot: DovecotServer,
    oauth_smtp: OAuthSmtpSink,
    user: str,
) -> None:
    """1,000 records, UCMAIL_MAIL_MAX_EMAILS=100: ten SMTP sessions, the token expires
    after message 350, so the sessions opened after it log in with a refreshed one."""
    app = flows_app
    campaign_id = make_oauth_campaign(
        app, oauth_provider, oauth_dovecot, user, oauth_smtp.port, receive_emails=False
    )

    def expire_midway(sent: int) -> None:
        if sent == 350:
            _expire_everything(app, oauth_provider, campaign_id)

    oauth_smtp.after_message = expire_midway
    with app.app_context():
        dialer_id = dialer_helpers.make_dialer(campaign_id)
        rows = dialer_helpers.simple_rows(1000, campaign=_name(campaign_id))
        report = dialer_helpers.upload(dialer_id, dialer_helpers.csv_text(rows))
        assert report.accepted == 1000, report
        result = dialer_service.play_list(report.list_id, None, "1")
        assert result.ok, result.message
        states: dict[str, Any] = dialer_helpers.states(report.list_id)
    assert states == {"sent": 1000}
    assert oauth_smtp.count == 1000
    assert {m.auth_user for m in oauth_smtp.messages} == {user}
    assert oauth_provider.count("token:refresh_token") == 1


def _name(campaign_id: int) -> str:
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign is not None
    return campaign.name
