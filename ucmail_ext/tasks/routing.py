"""Routing tasks: on arrival, on close, on a status change and on the beat tick."""

from __future__ import annotations

from celery import shared_task

from ucmail_ext.services.desk import presence, routing


@shared_task(name="ucmail.routing.route", acks_late=True)
def route(campaign_id: int) -> int:
    return len(routing.route(int(campaign_id)))


@shared_task(name="ucmail.routing.route_all", acks_late=True)
def route_all() -> int:
    return len(routing.route_all())


@shared_task(name="ucmail.routing.sweep_presence", acks_late=True)
def sweep_presence() -> list[str]:
    """Agents whose portal went quiet become offline and stop receiving work."""
    return presence.sweep_offline()
