"""Housekeeping tasks; ``ping`` proves a worker runs ucmail code in the app context."""

from __future__ import annotations

from celery import shared_task

from ucmail_ext.services.health import database_summary


@shared_task(name="ucmail.system.ping", acks_late=True)
def ping() -> dict[str, object]:
    return database_summary()
