"""ucmail_ext.mail.imap against a real Dovecot."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from tests.fixtures.servers import DovecotServer, ImapAccount, free_port
from ucmail_ext.mail.imap import ImapError, ImapSettings, check_login, open_mailbox

pytestmark = pytest.mark.integration


def _mail(n: int, size: int = 0) -> bytes:
    body = f"message {n}\r\n" + "x" * size
    return f"From: a@example.org\r\nSubject: {n}\r\nMessage-ID: <{n}@t>\r\n\r\n{body}\r\n".encode()


@pytest.fixture
def settings(imap_account: ImapAccount) -> ImapSettings:
    return ImapSettings(
        host=imap_account.host,
        port=imap_account.port,
        security="none",
        username=imap_account.user,
        password=imap_account.password,
        timeout=5,
    )


# ---------------------------------------------------------------------------- login


def test_check_login_succeeds_with_the_right_password(settings: ImapSettings) -> None:
    result = check_login(settings)
    assert result.ok, result.message
    assert settings.username in result.message


def test_wrong_password_reports_dovecots_answer_without_the_password(
    settings: ImapSettings,
) -> None:
    wrong = dataclasses.replace(settings, password="s3cret-Wrong-pw")

    result = check_login(wrong)
    assert not result.ok
    assert "[AUTHENTICATIONFAILED] Authentication failed." in result.message
    assert "s3cret-Wrong-pw" not in result.message

    with pytest.raises(ImapError) as caught:
        open_mailbox(wrong)
    assert "AUTHENTICATIONFAILED" in str(caught.value)
    assert "s3cret-Wrong-pw" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_settings_repr_hides_the_password(settings: ImapSettings) -> None:
    assert settings.password not in repr(settings)


def test_unreachable_server_is_an_imap_error_not_a_socket_error(settings: ImapSettings) -> None:
    closed = dataclasses.replace(settings, port=free_port())
    with pytest.raises(ImapError, match="Connection refused"):
        open_mailbox(closed)
    assert not check_login(closed).ok


def test_check_login_reports_a_missing_folder(settings: ImapSettings) -> None:
    result = check_login(dataclasses.replace(settings, folder="NoSuchFolder"))
    assert not result.ok
    assert "NoSuchFolder" in result.message


def test_selecting_a_missing_folder_is_an_imap_error(settings: ImapSettings) -> None:
    with pytest.raises(ImapError, match="SELECT"):
        open_mailbox(dataclasses.replace(settings, folder="NoSuchFolder"))


def test_non_ascii_password_logs_in(dovecot: DovecotServer, settings: ImapSettings) -> None:
    user = f"{settings.username}x"
    dovecot.add_user(user, "pässwörd-ü")
    result = check_login(dataclasses.replace(settings, username=user, password="pässwörd-ü"))
    assert result.ok, result.message


# ---------------------------------------------------------------------------- reading


def test_mailbox_reports_uidvalidity_and_uidnext(
    dovecot: DovecotServer, imap_account: ImapAccount, settings: ImapSettings
) -> None:
    dovecot.bulk_fill(imap_account.user, [_mail(1), _mail(2)])
    dovecot.set_uidvalidity(imap_account.user, 4242)
    with open_mailbox(settings, readonly=True) as box:
        assert box.uidvalidity == 4242
        assert box.uidnext == 3
        assert box.exists == 2


def test_search_new_returns_uids_above_the_cursor(
    dovecot: DovecotServer, imap_account: ImapAccount, settings: ImapSettings
) -> None:
    dovecot.bulk_fill(imap_account.user, [_mail(n) for n in range(1, 6)])
    with open_mailbox(settings) as box:
        assert box.search_new(0) == [1, 2, 3, 4, 5]
        assert box.search_new(3) == [4, 5]


def test_search_new_ignores_the_highest_uid_that_uid_n_star_always_matches(
    dovecot: DovecotServer, imap_account: ImapAccount, settings: ImapSettings
) -> None:
    dovecot.bulk_fill(imap_account.user, [_mail(n) for n in range(1, 4)])
    with open_mailbox(settings) as box:
        assert box._client.search(["UID", "10:*"]) == [3]  # the server quirk itself
        assert box.search_new(3) == []
        assert box.search_new(9) == []


def test_search_new_on_an_empty_mailbox(settings: ImapSettings) -> None:
    with open_mailbox(settings) as box:
        assert box.search_new(0) == []


def test_sizes_are_rfc822_sizes_and_skip_unknown_uids(
    dovecot: DovecotServer, imap_account: ImapAccount, settings: ImapSettings
) -> None:
    small, big = _mail(1), _mail(2, size=50_000)
    dovecot.bulk_fill(imap_account.user, [small, big])
    with open_mailbox(settings) as box:
        assert box.sizes([1, 2, 99]) == {1: len(small), 2: len(big)}


def test_fetch_raw_returns_bytes_in_uid_order_across_batches(
    dovecot: DovecotServer, imap_account: ImapAccount, settings: ImapSettings
) -> None:
    messages = [_mail(n) for n in range(1, 8)]
    dovecot.bulk_fill(imap_account.user, messages)
    with open_mailbox(settings) as box:
        fetched = list(box.fetch_raw([7, 3, 1, 2, 4, 5, 6, 42], batch=3))
    assert fetched == list(zip(range(1, 8), messages, strict=True))


def test_fetch_raw_does_not_mark_mail_as_seen(
    dovecot: DovecotServer, imap_account: ImapAccount, settings: ImapSettings
) -> None:
    dovecot.append(imap_account.user, _mail(1))
    with open_mailbox(settings) as box:
        assert len(list(box.fetch_raw([1]))) == 1
    with dovecot.client(imap_account.user) as client:
        client.select_folder("INBOX", readonly=True)
        assert client.get_flags([1]) == {1: ()}


def test_add_flags_sets_flags_after_the_fact(
    dovecot: DovecotServer, imap_account: ImapAccount, settings: ImapSettings
) -> None:
    dovecot.bulk_fill(imap_account.user, [_mail(1), _mail(2)])
    with open_mailbox(settings) as box:
        box.add_flags([2], ["\\Seen", "ucmail-imported"])
    with dovecot.client(imap_account.user) as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags([1, 2])
    assert flags[1] == ()
    assert set(flags[2]) == {b"\\Seen", b"ucmail-imported"}


def test_add_flags_on_a_readonly_mailbox_is_an_imap_error(
    dovecot: DovecotServer, imap_account: ImapAccount, settings: ImapSettings
) -> None:
    dovecot.append(imap_account.user, _mail(1))
    with open_mailbox(settings, readonly=True) as box, pytest.raises(ImapError):
        box.add_flags([1], ["\\Seen"])


def test_noop_keeps_the_session_usable(settings: ImapSettings) -> None:
    with open_mailbox(settings) as box:
        box.noop()
        assert box.search_new(0) == []


# ---------------------------------------------------------------------------- IDLE


def test_idle_wait_returns_true_soon_after_mail_arrives_from_another_connection(
    dovecot: DovecotServer, imap_account: ImapAccount, settings: ImapSettings
) -> None:
    with open_mailbox(settings, readonly=True) as box:
        timer = threading.Timer(0.2, dovecot.append, (imap_account.user, _mail(1)))
        started = time.monotonic()
        timer.start()
        try:
            assert box.idle_wait(10) is True
        finally:
            timer.join()
        assert time.monotonic() - started < 3
        assert box.search_new(0) == [1]


def test_idle_wait_returns_false_when_nothing_arrives(settings: ImapSettings) -> None:
    with open_mailbox(settings) as box:
        assert box.idle_wait(0.3) is False
        box.noop()


# ---------------------------------------------------------------------------- TLS


def test_imaps_with_verification_off(dovecot: DovecotServer, settings: ImapSettings) -> None:
    tls = dataclasses.replace(settings, port=dovecot.ssl_port, security="ssl", verify_tls=False)
    with open_mailbox(tls) as box:
        assert box.search_new(0) == []


def test_imaps_trusts_a_self_signed_cert_given_as_ca_file(
    dovecot: DovecotServer, settings: ImapSettings
) -> None:
    tls = dataclasses.replace(
        settings, port=dovecot.ssl_port, security="ssl", ca_file=dovecot.cert_path
    )
    assert check_login(tls).ok


def test_imaps_refuses_an_untrusted_cert(dovecot: DovecotServer, settings: ImapSettings) -> None:
    tls = dataclasses.replace(settings, port=dovecot.ssl_port, security="ssl")
    result = check_login(tls)
    assert not result.ok
    assert "CERTIFICATE_VERIFY_FAILED" in result.message


def test_starttls_on_the_plain_port(dovecot: DovecotServer, settings: ImapSettings) -> None:
    tls = dataclasses.replace(settings, security="starttls", ca_file=dovecot.cert_path)
    with open_mailbox(tls) as box:
        assert box.search_new(0) == []
