"""ucmail_ext.mail.smtp against a real (aiosmtpd) SMTP server."""

from __future__ import annotations

import dataclasses
import email
import time
from email import policy
from email.message import EmailMessage

import pytest

from tests.fixtures.servers import REJECT_REPLY, SmtpSink, free_port
from ucmail_ext.mail.headers import HeaderInjectionError
from ucmail_ext.mail.smtp import (
    InvalidHeaderError,
    OutgoingAttachment,
    SmtpConnection,
    SmtpSettings,
    build_message,
    check_login,
    message_bytes,
)

pytestmark = pytest.mark.integration


def _settings(sink: SmtpSink, **changes: object) -> SmtpSettings:
    username, password = sink.credentials or ("", "")
    base = SmtpSettings(
        host=sink.host,
        port=sink.port,
        security="none",
        username=username,
        password=password,
        timeout=2,
        sender="campaign@example.org",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _simple(n: int = 1, to: str = "customer@example.org") -> object:
    return build_message(
        sender="campaign@example.org", to=[to], subject=f"Message {n}", text=f"body {n}"
    )


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


# ---------------------------------------------------------------------------- sending


def test_text_html_and_attachment_arrive_intact(smtp_sink: SmtpSink) -> None:
    message = build_message(
        sender=("Support Team", "support@example.org"),
        to=[("Zoë Client", "zoe@example.org")],
        cc=["boss@example.org"],
        bcc=["archive@example.org"],
        subject="Your ticket — résumé",
        text="Plain body",
        html="<p>HTML body <img src='cid:logo'></p>",
        attachments=[
            OutgoingAttachment("report.pdf", "application/pdf", b"%PDF-1.4 data"),
            OutgoingAttachment("logo.png", "image/png", b"\x89PNG\r\n", content_id="logo"),
        ],
        headers={"Auto-Submitted": "auto-replied"},
    )
    with SmtpConnection(_settings(smtp_sink)) as connection:
        result = connection.send(message)
    assert result.ok, result

    [received] = smtp_sink.wait_for(1)
    assert received.mail_from == "support@example.org"
    assert set(received.rcpt_tos) == {"zoe@example.org", "boss@example.org", "archive@example.org"}
    parsed = _parse(received.raw)
    assert parsed["Subject"] == "Your ticket — résumé"
    assert parsed["To"].addresses[0].display_name == "Zoë Client"
    assert parsed["Bcc"] is None
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed.get_body(("plain",)).get_content().strip() == "Plain body"
    assert "HTML body" in parsed.get_body(("html",)).get_content()
    files = {part.get_filename(): part for part in parsed.iter_attachments()}
    assert list(files) == ["report.pdf"]
    assert files["report.pdf"].get_content() == b"%PDF-1.4 data"
    related = parsed.get_body(("related",))
    [logo] = related.iter_attachments()
    assert logo.get_filename() == "logo.png"
    assert logo["Content-ID"] == "<logo>"
    assert logo.get_content_disposition() == "inline"
    assert logo.get_content() == b"\x89PNG\r\n"


def test_inline_images_go_with_the_html_in_multipart_related(smtp_sink: SmtpSink) -> None:
    """mixed[related[alternative[plain, html], image], file]: mail clients then show
    the image in the HTML, not also as an attachment (RFC 2387)."""
    image = OutgoingAttachment("chart.png", "image/png", b"\x89PNG\r\n", content_id="chart")
    pdf = OutgoingAttachment("terms.pdf", "application/pdf", b"%PDF-1.4")
    layouts = {
        "image and file": [image, pdf],
        "image only": [image],
        "file only": [pdf],
    }
    shapes = {}
    for name, attachments in layouts.items():
        message = build_message(
            sender="support@example.org",
            to=["zoe@example.org"],
            subject=name,
            text="t",
            html="<p><img src='cid:chart'></p>",
            attachments=attachments,
        )
        parsed = _parse(message_bytes(message))  # type: ignore[arg-type]
        shapes[name] = [part.get_content_type() for part in parsed.walk()]
    text_and_html = ["multipart/alternative", "text/plain", "text/html"]
    with_image = ["multipart/mixed", "multipart/related", *text_and_html, "image/png"]
    assert shapes == {
        "image and file": [*with_image, "application/pdf"],
        "image only": with_image,
        "file only": ["multipart/mixed", *text_and_html, "application/pdf"],
    }


def test_threading_headers_are_set_once(smtp_sink: SmtpSink) -> None:
    message = build_message(
        sender="campaign@example.org",
        to=["customer@example.org"],
        subject="Re: order",
        text="answer",
        message_id="<ours.1@example.org>",
        in_reply_to="<theirs.2@example.com>",
        references=["<root.1@example.com>", "<theirs.2@example.com>"],
        headers={
            "List-Unsubscribe": "<https://example.org/u/abc>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    with SmtpConnection(_settings(smtp_sink)) as connection:
        assert connection.send(message).ok

    parsed = _parse(smtp_sink.wait_for(1)[0].raw)
    assert parsed.get_all("Message-ID") == ["<ours.1@example.org>"]
    assert parsed.get_all("In-Reply-To") == ["<theirs.2@example.com>"]
    assert parsed.get_all("References") == ["<root.1@example.com> <theirs.2@example.com>"]
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_one_line_html_body_over_998_characters_is_accepted(smtp_sink: SmtpSink) -> None:
    html = "<table>" + "<tr><td>cell é</td></tr>" * 400 + "</table>"
    message = build_message(
        sender="campaign@example.org", to=["customer@example.org"], subject="s", html=html
    )
    with SmtpConnection(_settings(smtp_sink)) as connection:
        result = connection.send(message)
    assert result.ok, result
    received = smtp_sink.wait_for(1)[0].raw
    assert max(len(line) for line in received.splitlines()) <= 998
    assert _parse(received).get_body(("html",)).get_content().rstrip("\n") == html


def test_send_raw_sends_prerendered_bytes_on_the_same_session(smtp_sink: SmtpSink) -> None:
    raw = message_bytes(_simple(7))  # type: ignore[arg-type]
    with SmtpConnection(_settings(smtp_sink)) as connection:
        assert connection.send(_simple(1)).ok  # type: ignore[arg-type]
        assert connection.send_raw("bounces@example.org", ["x@example.org"], raw).ok
    first, second = smtp_sink.wait_for(2)
    assert second.raw.rstrip(b"\r\n") == raw.rstrip(b"\r\n")
    assert second.mail_from == "bounces@example.org"
    assert first.session_id == second.session_id


def test_a_batch_reuses_one_session(smtp_sink: SmtpSink) -> None:
    with SmtpConnection(_settings(smtp_sink)) as connection:
        results = [connection.send(_simple(n)) for n in range(10)]  # type: ignore[arg-type]
    assert all(result.ok for result in results)
    assert len(smtp_sink.wait_for(10)) == 10
    assert smtp_sink.session_ids == {1}
    assert connection.sessions_opened == 1


def test_session_is_recycled_after_max_emails(smtp_sink: SmtpSink) -> None:
    with SmtpConnection(_settings(smtp_sink, max_emails=3)) as connection:
        for n in range(7):
            assert connection.send(_simple(n)).ok  # type: ignore[arg-type]
    sessions = [message.session_id for message in smtp_sink.wait_for(7)]
    assert sessions == [1, 1, 1, 2, 2, 2, 3]


# ---------------------------------------------------------------------------- failures


def test_451_is_a_retryable_tempfail(smtp_sink: SmtpSink) -> None:
    smtp_sink.mode = "tempfail"
    with SmtpConnection(_settings(smtp_sink)) as connection:
        result = connection.send(_simple())  # type: ignore[arg-type]
    assert result.status == "tempfail"
    assert result.retryable
    assert result.code == 451
    assert "4.3.0" in result.text


def test_550_is_a_permfail_with_the_servers_answer(smtp_sink: SmtpSink) -> None:
    smtp_sink.mode = "reject"
    with SmtpConnection(_settings(smtp_sink)) as connection:
        result = connection.send(_simple())  # type: ignore[arg-type]
    assert result.status == "permfail"
    assert not result.retryable
    assert result.code == 550
    assert result.text == REJECT_REPLY


def test_the_session_survives_a_refused_message(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_next(1, "reject")
    with SmtpConnection(_settings(smtp_sink)) as connection:
        assert connection.send(_simple(1)).status == "permfail"  # type: ignore[arg-type]
        assert connection.send(_simple(2)).ok  # type: ignore[arg-type]
        assert connection.sessions_opened == 1


def test_each_refused_recipient_is_reported(smtp_sink: SmtpSink) -> None:
    smtp_sink.refused_recipients["gone@example.org"] = "550 5.1.1 no such user"
    smtp_sink.refused_recipients["full@example.org"] = "452 4.2.2 mailbox full"
    message = build_message(
        sender="campaign@example.org",
        to=["gone@example.org", "ok@example.org"],
        subject="s",
        text="t",
    )
    with SmtpConnection(_settings(smtp_sink)) as connection:
        partial = connection.send(message)
        only_full = connection.send(_simple(to="full@example.org"))  # type: ignore[arg-type]
        only_gone = connection.send(_simple(to="gone@example.org"))  # type: ignore[arg-type]

    assert partial.ok
    assert partial.refused == {"gone@example.org": (550, "5.1.1 no such user")}
    assert smtp_sink.wait_for(1)[0].rcpt_tos == ("ok@example.org",)
    assert only_full.status == "tempfail"
    assert only_full.refused == {"full@example.org": (452, "4.2.2 mailbox full")}
    assert only_gone.status == "permfail"
    assert "no such user" in only_gone.text


def test_a_silent_server_is_a_tempfail_within_the_timeout(smtp_sink: SmtpSink) -> None:
    smtp_sink.mode = "silent"
    with SmtpConnection(_settings(smtp_sink, timeout=1)) as connection:
        started = time.monotonic()
        result = connection.send(_simple())  # type: ignore[arg-type]
        elapsed = time.monotonic() - started
    assert result.status == "tempfail"
    assert "timed out" in result.text
    assert elapsed < 3


def test_a_dropped_connection_is_a_tempfail_and_the_next_send_reconnects(
    smtp_sink: SmtpSink,
) -> None:
    smtp_sink.fail_next(1, "drop")
    with SmtpConnection(_settings(smtp_sink)) as connection:
        dropped = connection.send(_simple(1))  # type: ignore[arg-type]
        retried = connection.send(_simple(1))  # type: ignore[arg-type]
    assert dropped.status == "tempfail"
    assert dropped.code is None
    assert retried.ok
    assert connection.sessions_opened == 2


def test_an_unreachable_server_is_a_tempfail_at_the_connect_stage() -> None:
    settings = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout=1)
    with SmtpConnection(settings) as connection:
        result = connection.send(_simple())  # type: ignore[arg-type]
    assert result.status == "tempfail"
    assert result.stage == "connect"
    assert "Connection refused" in result.text


# ---------------------------------------------------------------------------- AUTH and TLS


def test_sending_logs_in_when_the_server_requires_auth(smtp_sink_auth: SmtpSink) -> None:
    with SmtpConnection(_settings(smtp_sink_auth)) as connection:
        assert connection.send(_simple()).ok  # type: ignore[arg-type]
    assert smtp_sink_auth.wait_for(1)[0].auth_user == _settings(smtp_sink_auth).username


def test_check_login_accepts_the_right_password(smtp_sink_auth: SmtpSink) -> None:
    result = check_login(_settings(smtp_sink_auth))
    assert result.ok, result.message


def test_wrong_password_fails_check_login_with_the_servers_text(smtp_sink_auth: SmtpSink) -> None:
    wrong = _settings(smtp_sink_auth, password="Wr0ng-Secret-pw")
    result = check_login(wrong)
    assert not result.ok
    assert "535 5.7.8 Authentication credentials invalid" in result.message
    assert "Wr0ng-Secret-pw" not in result.message
    assert "Wr0ng-Secret-pw" not in repr(wrong)


def test_wrong_password_while_sending_is_a_connect_stage_tempfail(
    smtp_sink_auth: SmtpSink,
) -> None:
    with SmtpConnection(_settings(smtp_sink_auth, password="Wr0ng-Secret-pw")) as connection:
        result = connection.send(_simple())  # type: ignore[arg-type]
    assert (result.status, result.stage, result.code) == ("tempfail", "connect", 535)
    assert "Wr0ng-Secret-pw" not in result.text


def test_starttls_with_the_servers_cert_as_ca_file(smtp_sink_auth: SmtpSink) -> None:
    settings = _settings(smtp_sink_auth, security="starttls", ca_file=smtp_sink_auth.cert_path)
    assert check_login(settings).ok
    with SmtpConnection(settings) as connection:
        assert connection.send(_simple()).ok  # type: ignore[arg-type]


def test_implicit_tls_with_verification_off(smtp_sink: SmtpSink) -> None:
    settings = _settings(smtp_sink, port=smtp_sink.ssl_port, security="ssl", verify_tls=False)
    with SmtpConnection(settings) as connection:
        assert connection.send(_simple()).ok  # type: ignore[arg-type]
    assert len(smtp_sink.wait_for(1)) == 1


def test_an_untrusted_certificate_is_refused(smtp_sink: SmtpSink) -> None:
    result = check_login(_settings(smtp_sink, port=smtp_sink.ssl_port, security="ssl"))
    assert not result.ok
    assert "CERTIFICATE_VERIFY_FAILED" in result.message


# ---------------------------------------------------------------------------- header safety


@pytest.mark.parametrize(
    "field",
    [
        pytest.param({"subject": "Hello\r\nBcc: victim@example.org"}, id="subject"),
        pytest.param({"to": ["customer@example.org\nBcc: victim@example.org"]}, id="to"),
        pytest.param({"to": [("Name\r\nX-Evil: 1", "customer@example.org")]}, id="to-name"),
        pytest.param({"sender": ("Support\n", "support@example.org")}, id="sender-name"),
        pytest.param({"reply_to": "a@example.org\r\n"}, id="reply-to"),
        pytest.param({"headers": {"X-Campaign": "spring\r\nBcc: v@example.org"}}, id="header"),
        pytest.param({"headers": {"X-Campaign": "null\0byte"}}, id="nul"),
        pytest.param({"subject": "next\u2028line"}, id="unicode-line-separator"),
        pytest.param({"in_reply_to": "<a@b>\r\nBcc: victim@example.org"}, id="in-reply-to"),
        pytest.param(
            {"attachments": [OutgoingAttachment("a\r\nb.pdf", "application/pdf", b"x")]},
            id="filename",
        ),
    ],
)
def test_line_breaks_in_header_values_are_refused_before_building(field: dict) -> None:
    arguments = {
        "sender": "campaign@example.org",
        "to": ["customer@example.org"],
        "subject": "s",
        "text": "t",
    }
    arguments.update(field)
    with pytest.raises(HeaderInjectionError, match="control character"):
        build_message(**arguments)  # type: ignore[arg-type]


def test_message_id_cannot_be_smuggled_in_as_an_extra_header() -> None:
    with pytest.raises(InvalidHeaderError, match="own parameter"):
        build_message(
            sender="campaign@example.org",
            to=["customer@example.org"],
            subject="s",
            headers={"Message-ID": "<x@y>"},
        )


def test_a_malformed_message_id_is_refused() -> None:
    with pytest.raises(InvalidHeaderError, match="Message-ID"):
        build_message(
            sender="campaign@example.org",
            to=["customer@example.org"],
            subject="s",
            message_id="no-angle-brackets@example.org",
        )


def test_send_raw_refuses_line_breaks_in_envelope_addresses(smtp_sink: SmtpSink) -> None:
    with SmtpConnection(_settings(smtp_sink)) as connection, pytest.raises(HeaderInjectionError):
        connection.send_raw("a@example.org\r\nRCPT TO:<x@y>", ["b@example.org"], b"x")


# ------------------------------------------------------------------ work while waiting


def test_while_waiting_runs_once_the_body_is_at_the_server_before_its_answer(
    smtp_sink: SmtpSink,
) -> None:
    arrived_first: list[int] = []

    def meanwhile() -> None:
        # The server has the whole message already: it is recorded before the answer.
        arrived_first.append(len(smtp_sink.wait_for(1)))

    with SmtpConnection(_settings(smtp_sink)) as connection:
        result = connection.send_raw(
            "bounces@example.org", ["x@example.org"], b"Subject: a\r\n\r\nb\r\n", meanwhile
        )
        again = connection.send_raw("bounces@example.org", ["y@example.org"], b"Subject: c\r\n\r\n")
    assert result.ok and again.ok
    assert arrived_first == [1]


def test_while_waiting_sends_the_same_bytes_as_smtplib(smtp_sink: SmtpSink) -> None:
    raw = b"Subject: dots\r\n\r\n.a line that starts with a dot\r\n..two\r\n.\r\nno final newline"
    with SmtpConnection(_settings(smtp_sink)) as connection:
        assert connection.send_raw("b@example.org", ["x@example.org"], raw, lambda: None).ok
        assert connection.send_raw("b@example.org", ["x@example.org"], raw).ok
    with_hook, without = smtp_sink.wait_for(2)
    assert with_hook.raw == without.raw
    assert b"\r\n.a line that starts with a dot\r\n..two\r\n.\r\n" in with_hook.raw


def test_while_waiting_runs_before_a_refusal_of_the_message_not_of_the_recipient(
    smtp_sink: SmtpSink,
) -> None:
    calls: list[str] = []
    smtp_sink.refused_recipients["gone@example.org"] = "550 5.1.1 no such user"
    smtp_sink.fail_next(1, "reject")
    with SmtpConnection(_settings(smtp_sink)) as connection:
        refused = connection.send_raw(
            "b@example.org",
            ["x@example.org"],
            b"Subject: a\r\n\r\nb\r\n",
            lambda: calls.append("x"),
        )
        gone = connection.send_raw(
            "b@example.org",
            ["gone@example.org"],
            b"Subject: a\r\n\r\nb\r\n",
            lambda: calls.append("gone"),
        )
        later = connection.send_raw("b@example.org", ["y@example.org"], b"Subject: a\r\n\r\nb\r\n")
    assert (refused.status, refused.code) == ("permfail", 550)
    assert gone.status == "permfail" and "no such user" in gone.text
    assert later.ok
    assert calls == ["x"]
