"""Dialer tasks: the beat's ``tick`` and the runner ``run_list``."""

from __future__ import annotations

from celery import shared_task

from ucmail_ext.services.dialer import recovery as dialer_recovery
from ucmail_ext.services.dialer import runners as dialer_runners


@shared_task(name="ucmail.dialer.tick", acks_late=True)
def tick() -> list[int]:
    """Recover dead workers' records, requeue due retries, start runners lists lack."""
    return dialer_recovery.tick()


@shared_task(name="ucmail.dialer.run_list", acks_late=True)
def run_list(list_id: int, slot: int | None = None) -> dict[str, object]:
    """Send one list in one runner slot until done, stopped or out of schedule.

    ``slot`` is absent in a handoff (and in messages queued before slots existed):
    any free slot then.
    """
    run = dialer_runners.run_slot(int(list_id), None if slot is None else int(slot))
    result = run.result
    return {
        "list_id": result.list_id,
        "slot": run.slot,
        "outcome": result.outcome,
        "counts": result.counts,
    }
