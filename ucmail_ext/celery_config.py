"""Task routing and the periodic schedule, for the host's Celery app to merge.

ucmail never builds a Celery app: its tasks are ``@shared_task``s and the host
decides broker, workers and beat.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

AREAS = ("inbound", "outbound", "dialer", "routing", "system")


def task_routes() -> dict[str, dict[str, str]]:
    """``ucmail.<area>.*`` goes to queue ``ucmail.<area>``."""
    return {f"ucmail.{area}.*": {"queue": f"ucmail.{area}"} for area in AREAS}


def queues() -> list[str]:
    return [f"ucmail.{area}" for area in AREAS]


def beat_schedule(app: Flask) -> dict[str, dict[str, Any]]:
    cfg = app.config
    return {
        "ucmail-poll-mailboxes": {
            "task": "ucmail.inbound.poll_all",
            "schedule": timedelta(seconds=cfg["UCMAIL_POLL_INTERVAL"]),
        },
        "ucmail-route": {
            "task": "ucmail.routing.route_all",
            "schedule": timedelta(seconds=cfg["UCMAIL_ROUTING_INTERVAL"]),
        },
        "ucmail-presence-sweep": {
            "task": "ucmail.routing.sweep_presence",
            "schedule": timedelta(seconds=max(5, cfg["UCMAIL_HEARTBEAT_TIMEOUT"] // 2)),
        },
        "ucmail-outbound-retry": {
            "task": "ucmail.outbound.retry_due",
            "schedule": timedelta(seconds=cfg["UCMAIL_SEND_BACKOFF"]),
        },
        "ucmail-dialer-tick": {
            "task": "ucmail.dialer.tick",
            "schedule": timedelta(seconds=cfg["UCMAIL_DIALER_TICK"]),
        },
    }
