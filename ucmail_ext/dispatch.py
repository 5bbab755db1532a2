"""The one way services ask for follow-up work: by task name, never by import.

Services sit below tasks/ in the layering; enqueueing by name keeps it that way and
lets a host without a broker (tests, the demo, a tiny install) run the same work
inline with ``UCMAIL_DISPATCH = "inline"``. Call it after the commit that created the
rows the task reads, or a fast worker will not find them.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app

log = logging.getLogger(__name__)


def enqueue(name: str, *args: Any, countdown: float | None = None, **kwargs: Any) -> None:
    mode = current_app.config.get("UCMAIL_DISPATCH", "celery")
    if mode == "off":
        return
    from celery import current_app as celery_app

    if mode == "inline":
        if countdown:
            # Inline mode has no clock: delayed work is picked up by the next sweep.
            return
        celery_app.tasks[name].apply(args=args, kwargs=kwargs, throw=True)
        return
    celery_app.send_task(name, args=args, kwargs=kwargs, countdown=countdown)
