"""Dialer tasks: the beat's ``tick`` and the worker loop ``run_list``."""

from __future__ import annotations

from celery import shared_task

from ucmail_ext.services.dialer import recovery as dialer_recovery
from ucmail_ext.services.dialer import send as dialer_send


@shared_task(name="ucmail.dialer.tick", acks_late=True)
def tick() -> list[int]:
    """Recover dead workers' records, requeue due retries, start lists with no worker."""
    return dialer_recovery.tick()


@shared_task(name="ucmail.dialer.run_list", acks_late=True)
def run_list(list_id: int) -> dict[str, object]:
    """Send one list until done, stopped or out of schedule; safe on several workers."""
    result = dialer_send.run_list(int(list_id))
    return {"list_id": result.list_id, "outcome": result.outcome, "counts": result.counts}
