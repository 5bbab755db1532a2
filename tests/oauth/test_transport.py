"""XOAUTH2 / OAUTHBEARER logins in the transport adapters, against real servers."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.fixtures.oauth_provider import OAuthProvider, OAuthSmtpSink
from tests.fixtures.servers import DovecotServer
from ucmail_ext.mail import imap, smtp


def _imap_settings(server: DovecotServer, user: str, source: imap.TokenSource) -> imap.ImapSettings:
    return imap.ImapSettings(
        host=server.host,
        port=server.port,
        security="none",
        username=user,
        password="",
        timeout=10,
        oauth_token=source,
    )


def _smtp_settings(sink: OAuthSmtpSink, user: str, source: imap.TokenSource) -> smtp.SmtpSettings:
    return smtp.SmtpSettings(
        host=sink.host,
        port=sink.port,
        security="none",
        username=user,
        timeout=10,
        sender=user,
        oauth_token=source,
    )


@pytest.fixture
def mailbox_user(oauth_dovecot: DovecotServer) -> str:
    user = f"box{secrets.token_hex(4)}@example.com"
    oauth_dovecot.add_user(user, secrets.token_urlsafe(10))
    return user


def test_imap_logs_in_with_a_token_and_never_shows_it(
    oauth_dovecot: DovecotServer, oauth_provider: OAuthProvider, mailbox_user: str
) -> None:
    token = oauth_provider.issue(mailbox_user)["access_token"]
    settings = _imap_settings(oauth_dovecot, mailbox_user, lambda: token)
    assert imap.check_login(settings).ok
    with imap.open_mailbox(settings) as mailbox:
        assert mailbox.search_new(0) == []
    assert token not in repr(settings)

    oauth_provider.expire_access_tokens()
    result = imap.check_login(settings)
    assert not result.ok
    assert "AUTHENTICATIONFAILED" in result.message
    assert token not in result.message


@pytest.fixture(scope="module")
def xoauth2_only_dovecot(oauth_provider_server: OAuthProvider) -> Iterator[DovecotServer]:
    """Like Exchange Online: XOAUTH2 offered, OAUTHBEARER not."""
    server = DovecotServer(
        oauth2_introspection_url=f"{oauth_provider_server.url}/introspect",
        oauth2_mechanisms="xoauth2",
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("mechanism", ["OAUTHBEARER", "XOAUTH2"])
def test_imap_uses_oauthbearer_where_offered_else_xoauth2(
    oauth_dovecot: DovecotServer,
    xoauth2_only_dovecot: DovecotServer,
    oauth_provider: OAuthProvider,
    mechanism: str,
) -> None:
    server = oauth_dovecot if mechanism == "OAUTHBEARER" else xoauth2_only_dovecot
    user = f"box{secrets.token_hex(4)}@example.com"
    server.add_user(user, secrets.token_urlsafe(10))
    token = oauth_provider.issue(user)["access_token"]
    with imap.open_mailbox(_imap_settings(server, user, lambda: token)) as mailbox:
        assert mailbox.uidvalidity > 0
    logins = [line for line in server.log_text.splitlines() if f"user=<{user}>" in line]
    assert any(f"method={mechanism}" in line for line in logins), logins


def test_imap_asks_the_token_source_at_every_login(
    oauth_dovecot: DovecotServer, oauth_provider: OAuthProvider, mailbox_user: str
) -> None:
    calls: list[str] = []

    def source() -> str:
        calls.append(oauth_provider.issue(mailbox_user)["access_token"])
        return calls[-1]

    settings = _imap_settings(oauth_dovecot, mailbox_user, source)
    for _ in range(2):
        with imap.open_mailbox(settings):
            pass
    assert len(calls) == 2 and calls[0] != calls[1]


def test_imap_token_source_failure_is_an_imap_error_with_its_words(
    oauth_dovecot: DovecotServer, mailbox_user: str
) -> None:
    def source() -> str:
        raise imap.TokenUnavailable("reconnect the account: consent revoked")

    with pytest.raises(imap.ImapError, match="reconnect the account: consent revoked"):
        imap.open_mailbox(_imap_settings(oauth_dovecot, mailbox_user, source))


def test_smtp_sends_over_xoauth2(
    oauth_smtp: OAuthSmtpSink, oauth_provider: OAuthProvider, mailbox_user: str
) -> None:
    token = oauth_provider.issue(mailbox_user)["access_token"]
    settings = _smtp_settings(oauth_smtp, mailbox_user, lambda: token)
    check = smtp.check_login(settings)
    assert check.ok, check.message
    message = smtp.build_message(
        sender=mailbox_user, to=["customer@example.org"], subject="Hi", text="Hello"
    )
    with smtp.SmtpConnection(settings) as connection:
        assert connection.send(message).ok
    received = oauth_smtp.wait_for(1)
    assert received[0].auth_user == mailbox_user


def test_smtp_bad_token_is_a_login_failure_without_the_token(
    oauth_smtp: OAuthSmtpSink, mailbox_user: str
) -> None:
    token = "at-not-a-valid-token"
    settings = _smtp_settings(oauth_smtp, mailbox_user, lambda: token)
    check = smtp.check_login(settings)
    assert not check.ok
    assert "535" in check.message and token not in check.message
    message = smtp.build_message(sender=mailbox_user, to=["c@example.org"], subject="s", text="t")
    with smtp.SmtpConnection(settings) as connection:
        result = connection.send(message)
    assert result.status == "tempfail" and result.stage == "connect"
    assert token not in result.text


def test_smtp_token_source_failure_is_a_connect_tempfail(oauth_smtp: OAuthSmtpSink) -> None:
    def source() -> str:
        raise imap.TokenUnavailable("token endpoint timed out")

    settings = _smtp_settings(oauth_smtp, "a@example.com", source)
    message = smtp.build_message(
        sender="a@example.com", to=["c@example.org"], subject="s", text="t"
    )
    with smtp.SmtpConnection(settings) as connection:
        result = connection.send(message)
    assert (result.status, result.stage) == ("tempfail", "connect")
    assert "token endpoint timed out" in result.text
