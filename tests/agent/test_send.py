"""Sending through the campaign's SMTP account, against an aiosmtpd that misbehaves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email import message_from_bytes, policy

import pytest
from flask import Flask

from tests.agent.helpers import sink_campaign, stored_reply
from tests.fixtures.servers import SmtpSink, free_port
from tests.routing.helpers import session
from ucmail_ext.models import Message
from ucmail_ext.services.desk import send

pytestmark = pytest.mark.integration


@pytest.fixture
def quick_retry_app(make_app) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    app = make_app("sqlite", UCMAIL_SEND_BACKOFF=0.01, UCMAIL_SEND_RETRIES=3)
    with app.app_context():
        yield app


def reload(message_id: int) -> Message:
    session().expire_all()
    return session().get(Message, message_id)


def retry_later(message_id: int) -> None:
    time.sleep(0.02)  # the backoff is 10 ms in these tests
    assert message_id in send.retry_due()


def test_a_sent_reply_carries_the_threading_headers(
    quick_retry_app: Flask, smtp_sink: SmtpSink
) -> None:
    message = stored_reply(sink_campaign(smtp_sink))

    outcome = send.deliver(message.id)

    assert outcome.status == "sent"
    (received,) = smtp_sink.wait_for(1)
    mail = message_from_bytes(received.raw, policy=policy.default)
    assert mail["Message-ID"] == f"<{message.message_id}>"
    assert mail["In-Reply-To"] == "<question-1@example.org>"
    assert mail["References"] == "<thread-0@example.org> <question-1@example.org>"
    assert mail["Subject"] == "Re: Help [#1]"
    assert mail["From"] == "Support Team <support@helpdesk.test>"
    assert mail["Auto-Submitted"] is None
    assert received.rcpt_tos == ("customer@example.org",)
    stored = reload(message.id)
    assert stored.status == "sent" and stored.sent_at is not None
    kept = message_from_bytes(stored.raw.raw, policy=policy.default)
    assert kept["Message-ID"] == mail["Message-ID"]


def test_an_autoreply_is_marked_auto_submitted(quick_retry_app: Flask, smtp_sink: SmtpSink) -> None:
    message = stored_reply(sink_campaign(smtp_sink))
    message.kind = "autoreply"
    session().commit()

    send.deliver(message.id)

    mail = message_from_bytes(smtp_sink.wait_for(1)[0].raw, policy=policy.default)
    assert mail["Auto-Submitted"] == "auto-replied"


def test_a_redelivered_task_never_sends_twice(quick_retry_app: Flask, smtp_sink: SmtpSink) -> None:
    message = stored_reply(sink_campaign(smtp_sink))

    first = send.deliver(message.id)
    second = send.deliver(message.id)

    assert (first.status, second.status) == ("sent", "skipped")
    time.sleep(0.1)
    assert smtp_sink.count == 1


def test_451_is_retried_and_delivered_later(quick_retry_app: Flask, smtp_sink: SmtpSink) -> None:
    message = stored_reply(sink_campaign(smtp_sink))
    smtp_sink.fail_next(1, "tempfail")

    outcome = send.deliver(message.id)

    assert outcome.status == "deferred"
    assert "451" in reload(message.id).error
    assert smtp_sink.count == 0
    retry_later(message.id)
    assert reload(message.id).status == "sent"
    assert smtp_sink.count == 1


def test_a_dropped_connection_is_retried_and_delivered_later(
    quick_retry_app: Flask, smtp_sink: SmtpSink
) -> None:
    message = stored_reply(sink_campaign(smtp_sink))
    smtp_sink.fail_next(1, "drop")

    assert send.deliver(message.id).status == "deferred"
    retry_later(message.id)

    assert reload(message.id).status == "sent"
    assert smtp_sink.count == 1


def test_550_fails_with_the_servers_answer_and_keeps_the_text(
    quick_retry_app: Flask, smtp_sink: SmtpSink
) -> None:
    message = stored_reply(sink_campaign(smtp_sink), text="My carefully typed answer")
    smtp_sink.mode = "reject"

    outcome = send.deliver(message.id)

    stored = reload(message.id)
    assert outcome.status == stored.status == "failed"
    assert "550 5.1.1 Recipient address rejected: no such user" in stored.error
    assert stored.text == "My carefully typed answer"
    assert send.retry_due() == []


def test_a_silent_server_times_out_within_the_configured_seconds(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app("sqlite", UCMAIL_SMTP_TIMEOUT=1, UCMAIL_SEND_BACKOFF=60)
    with SmtpSink(silent_seconds=30) as sink, app.app_context():
        message = stored_reply(sink_campaign(sink), text="Typed before the server hung")
        sink.mode = "silent"
        started = time.monotonic()

        outcome = send.deliver(message.id)

        elapsed = time.monotonic() - started
        stored = reload(message.id)
        assert outcome.status == "deferred"
        assert "timed out" in stored.error
        assert elapsed < 10, "a hung server must not hold the worker for its 30 s"
        assert stored.text == "Typed before the server hung"
        assert stored.next_attempt_at is not None


def test_temporary_failures_give_up_after_the_configured_attempts(
    quick_retry_app: Flask, smtp_sink: SmtpSink
) -> None:
    message = stored_reply(sink_campaign(smtp_sink))
    smtp_sink.mode = "tempfail"

    send.deliver(message.id)
    retry_later(message.id)
    retry_later(message.id)

    stored = reload(message.id)
    assert stored.status == "failed"
    assert stored.attempts == 3
    assert stored.error.startswith("gave up after 3 attempts: 451")


def test_an_unreachable_server_defers_instead_of_losing_the_message(
    quick_retry_app: Flask,
) -> None:
    nobody_listens = SmtpSink()
    nobody_listens.port = free_port()
    message = stored_reply(sink_campaign(nobody_listens))

    outcome = send.deliver(message.id)

    assert outcome.status == "deferred"
    assert "cannot connect" in reload(message.id).error


def test_a_failed_message_can_be_sent_again(quick_retry_app: Flask, smtp_sink: SmtpSink) -> None:
    message = stored_reply(sink_campaign(smtp_sink))
    smtp_sink.fail_next(1, "reject")
    send.deliver(message.id)

    assert send.requeue(message.id) is True

    assert reload(message.id).status == "sent"
    assert smtp_sink.count == 1


def test_a_send_whose_worker_died_is_failed_not_repeated(
    quick_retry_app: Flask, smtp_sink: SmtpSink
) -> None:
    from datetime import timedelta

    from ucmail_ext.models import utcnow

    message = stored_reply(sink_campaign(smtp_sink))
    assert send.claim(message.id, utcnow())

    swept = send.retry_due(now=utcnow() + timedelta(hours=1))

    stored = reload(message.id)
    assert swept == []
    assert stored.status == "failed"
    assert "interrupted" in stored.error
    assert smtp_sink.count == 0
