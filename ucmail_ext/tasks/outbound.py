"""Sending tasks: one stored message, and the sweep that retries what is due."""

from __future__ import annotations

from celery import shared_task

from ucmail_ext.services.desk import send


@shared_task(name="ucmail.outbound.send", acks_late=True)
def send_message(message_id: int) -> str:
    """Idempotent: a duplicate finds the message already claimed or sent and does nothing."""
    return send.deliver(int(message_id)).status


@shared_task(name="ucmail.outbound.retry_due", acks_late=True)
def retry_due() -> list[int]:
    return send.retry_due()
