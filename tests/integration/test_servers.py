"""The test servers themselves: if these lie, every integration test lies with them."""

from __future__ import annotations

import smtplib
import ssl
from typing import TYPE_CHECKING

import psycopg
import pytest
import redis
from imapclient import IMAPClient

from tests.fixtures.servers import (
    REJECT_REPLY,
    TEMPFAIL_REPLY,
    DovecotServer,
    ImapAccount,
    SmtpSink,
    SmtpSinkProcess,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.integration


def _mail(subject: str, body: str = "hello") -> bytes:
    return (
        f"From: a@example.org\r\nTo: b@example.org\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()
    )


def _login(account: ImapAccount) -> IMAPClient:
    client = IMAPClient(account.host, account.port, ssl=False, timeout=10)
    client.login(account.user, account.password)
    return client


# ---------------------------------------------------------------------------- Dovecot


def test_appended_message_is_fetched_back_byte_for_byte(
    dovecot: DovecotServer, imap_account: ImapAccount
) -> None:
    raw = _mail("appended")
    uid = dovecot.append(imap_account.user, raw)
    assert uid == 1
    assert dovecot.fetch_all(imap_account.user) == [raw]
    assert dovecot.message_count(imap_account.user) == 1


def test_each_test_gets_an_empty_mailbox(dovecot: DovecotServer, imap_account: ImapAccount) -> None:
    assert dovecot.message_count(imap_account.user) == 0


def test_bulk_filled_messages_get_ascending_uids_in_the_order_given(
    dovecot: DovecotServer, imap_account: ImapAccount
) -> None:
    messages = [_mail(f"bulk {i}", f"body {i}") for i in range(1000)]
    assert dovecot.bulk_fill(imap_account.user, messages) == 1000

    client = _login(imap_account)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        data = client.fetch(uids, ["BODY.PEEK[]"])
    finally:
        client.logout()

    assert uids == list(range(1, 1001))
    assert [data[uid][b"BODY[]"] for uid in uids] == messages


def test_a_second_bulk_fill_continues_after_the_first(
    dovecot: DovecotServer, imap_account: ImapAccount
) -> None:
    dovecot.bulk_fill(imap_account.user, [_mail("first")])
    assert dovecot.message_count(imap_account.user) == 1
    dovecot.bulk_fill(imap_account.user, [_mail("second"), _mail("third")])
    subjects = [
        raw.split(b"Subject: ")[1].split(b"\r\n")[0] for raw in dovecot.fetch_all(imap_account.user)
    ]
    assert subjects == [b"first", b"second", b"third"]


def test_bulk_fill_into_another_folder(dovecot: DovecotServer, imap_account: ImapAccount) -> None:
    dovecot.bulk_fill(imap_account.user, [_mail("sent copy")], folder="Sent")
    assert dovecot.message_count(imap_account.user, "Sent") == 1
    assert dovecot.message_count(imap_account.user) == 0


def test_set_uidvalidity_changes_what_select_reports(
    dovecot: DovecotServer, imap_account: ImapAccount
) -> None:
    dovecot.append(imap_account.user, _mail("x"))
    dovecot.set_uidvalidity(imap_account.user, 777001)
    client = _login(imap_account)
    try:
        assert client.select_folder("INBOX")[b"UIDVALIDITY"] == 777001
    finally:
        client.logout()


def test_create_folder_is_listed(dovecot: DovecotServer, imap_account: ImapAccount) -> None:
    dovecot.create_folder(imap_account.user, "Archive")
    client = _login(imap_account)
    try:
        assert client.folder_exists("Archive")
    finally:
        client.logout()


def test_wrong_password_is_refused(imap_account: ImapAccount) -> None:
    client = IMAPClient(imap_account.host, imap_account.port, ssl=False, timeout=10)
    try:
        with pytest.raises(IMAPClient.Error, match="AUTHENTICATIONFAILED"):
            client.login(imap_account.user, "not-the-password")
    finally:
        client.shutdown()


def test_imaps_port_speaks_tls_with_the_generated_cert(
    dovecot: DovecotServer, imap_account: ImapAccount
) -> None:
    assert dovecot.cert_path is not None
    context = ssl.create_default_context(cafile=dovecot.cert_path)
    client = IMAPClient(imap_account.host, dovecot.ssl_port, ssl_context=context, timeout=10)
    try:
        client.login(imap_account.user, imap_account.password)
    finally:
        client.logout()


def test_a_private_server_starts_and_stops_cleanly() -> None:
    with DovecotServer() as server:
        account = server.new_account()
        server.append(account.user, _mail("x"))
        root = server.root
        assert root is not None and root.exists()
    assert not root.exists()


# ---------------------------------------------------------------------------- SMTP sink


def _client(sink: SmtpSink, timeout: float = 5.0) -> smtplib.SMTP:
    return smtplib.SMTP(sink.host, sink.port, timeout=timeout)


def test_sink_records_envelope_and_bytes(smtp_sink: SmtpSink) -> None:
    raw = _mail("recorded")
    with _client(smtp_sink) as client:
        client.sendmail("a@example.org", ["b@example.org", "c@example.org"], raw)
    [message] = smtp_sink.wait_for(1)
    assert message.mail_from == "a@example.org"
    assert message.rcpt_tos == ("b@example.org", "c@example.org")
    assert message.raw == raw


def test_sink_sees_one_session_for_a_reused_connection(smtp_sink: SmtpSink) -> None:
    with _client(smtp_sink) as client:
        for i in range(3):
            client.sendmail("a@example.org", ["b@example.org"], _mail(str(i)))
    with _client(smtp_sink) as client:
        client.sendmail("a@example.org", ["b@example.org"], _mail("other"))
    messages = smtp_sink.wait_for(4)
    assert [m.session_id for m in messages] == [1, 1, 1, 2]


@pytest.mark.parametrize(
    ("mode", "reply"), [("tempfail", TEMPFAIL_REPLY), ("reject", REJECT_REPLY)]
)
def test_sink_answers_data_with_the_fault_reply(smtp_sink: SmtpSink, mode: str, reply: str) -> None:
    smtp_sink.mode = mode  # type: ignore[assignment]
    with _client(smtp_sink) as client:
        with pytest.raises(smtplib.SMTPDataError) as caught:
            client.sendmail("a@example.org", ["b@example.org"], _mail("x"))
    assert f"{caught.value.smtp_code} {caught.value.smtp_error.decode()}" == reply
    assert smtp_sink.messages == []


def test_silent_sink_never_answers_data(smtp_sink: SmtpSink) -> None:
    smtp_sink.mode = "silent"
    client = _client(smtp_sink, timeout=0.5)
    try:
        with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
            client.sendmail("a@example.org", ["b@example.org"], _mail("x"))
    finally:
        client.close()


def test_dropping_sink_closes_the_connection(smtp_sink: SmtpSink) -> None:
    smtp_sink.mode = "drop"
    client = _client(smtp_sink)
    try:
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.sendmail("a@example.org", ["b@example.org"], _mail("x"))
    finally:
        client.close()


def test_fail_next_fails_only_that_many_then_accepts(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_next(2, "tempfail")
    codes = []
    with _client(smtp_sink) as client:
        for i in range(3):
            try:
                client.sendmail("a@example.org", ["b@example.org"], _mail(str(i)))
                codes.append(250)
            except smtplib.SMTPDataError as exc:
                codes.append(exc.smtp_code)
    assert codes == [451, 451, 250]
    assert len(smtp_sink.messages) == 1


def test_refused_recipient_gets_its_reply(smtp_sink: SmtpSink) -> None:
    smtp_sink.refused_recipients["gone@example.org"] = "550 5.1.1 no such user"
    with _client(smtp_sink) as client:
        refused = client.sendmail(
            "a@example.org", ["gone@example.org", "b@example.org"], _mail("x")
        )
    assert refused == {"gone@example.org": (550, b"5.1.1 no such user")}
    assert smtp_sink.wait_for(1)[0].rcpt_tos == ("b@example.org",)


def test_auth_sink_refuses_mail_before_login(smtp_sink_auth: SmtpSink) -> None:
    with _client(smtp_sink_auth) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as caught:
            client.sendmail("a@example.org", ["b@example.org"], _mail("x"))
    assert caught.value.smtp_code == 530


def test_auth_sink_records_the_logged_in_user(smtp_sink_auth: SmtpSink) -> None:
    assert smtp_sink_auth.credentials is not None
    user, password = smtp_sink_auth.credentials
    with _client(smtp_sink_auth) as client:
        client.login(user, password)
        client.sendmail("a@example.org", ["b@example.org"], _mail("x"))
    assert smtp_sink_auth.wait_for(1)[0].auth_user == user


def test_sink_speaks_starttls_and_smtps(smtp_sink: SmtpSink) -> None:
    assert smtp_sink.cert_path is not None
    context = ssl.create_default_context(cafile=smtp_sink.cert_path)
    with _client(smtp_sink) as client:
        client.starttls(context=context)
        client.sendmail("a@example.org", ["b@example.org"], _mail("starttls"))
    with smtplib.SMTP_SSL(smtp_sink.host, smtp_sink.ssl_port, context=context, timeout=5) as client:
        client.sendmail("a@example.org", ["b@example.org"], _mail("smtps"))
    assert len(smtp_sink.wait_for(2)) == 2


def test_discarding_sink_counts_without_storing() -> None:
    with SmtpSink(discard=True) as sink, _client(sink) as client:
        for i in range(5):
            client.sendmail("a@example.org", ["b@example.org"], _mail(str(i)))
        sink.wait_for(5)
        assert sink.count == 5
        assert sink.messages == []


def test_process_sink_counts_messages_sent_from_here() -> None:
    with SmtpSinkProcess() as sink:
        with smtplib.SMTP(sink.host, sink.port, timeout=5) as client:
            for i in range(20):
                client.sendmail("a@example.org", ["b@example.org"], _mail(str(i)))
        sink.wait_for(20)
        assert sink.count() == 20


# ---------------------------------------------------------------------------- PostgreSQL, Redis


def test_pg_url_is_a_fresh_throwaway_database(pg_url: str) -> None:
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
    assert name is not None and name[0].startswith("ucmail_test_")


def test_redis_url_answers_and_prefix_is_private(redis_url: str, redis_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.set(f"{redis_prefix}probe", "1", ex=60)
        assert client.get(f"{redis_prefix}probe") == b"1"
    finally:
        client.close()


# ---------------------------------------------------------------------------- Chromium


@pytest.mark.browser
def test_chromium_renders_a_page(page: Page) -> None:
    page.set_content("<title>ucmail</title><p id=x>ok</p>")
    assert page.title() == "ucmail"
    assert page.locator("#x").inner_text() == "ok"
