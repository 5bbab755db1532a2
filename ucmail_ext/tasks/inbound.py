"""Mailbox polling tasks: beat runs ``poll_all``, which fans out one poll per mailbox."""

from __future__ import annotations

import dataclasses

from celery import shared_task

from ucmail_ext.services.inbound import ingest


@shared_task(name="ucmail.inbound.poll_all", acks_late=True)
def poll_all() -> list[int]:
    """Enqueue a poll for every receiving campaign that is due."""
    return ingest.enqueue_due_polls()


@shared_task(name="ucmail.inbound.poll_mailbox", acks_late=True)
def poll_mailbox(campaign_id: int) -> dict[str, object]:
    """Idempotent: a duplicate finds the mailbox locked or nothing new past the cursor."""
    return dataclasses.asdict(ingest.poll_mailbox(int(campaign_id)))
