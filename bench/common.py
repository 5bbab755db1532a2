"""What every benchmark shares: its output format, its database and app, its percentiles.

All of them measure the example helpdesk as a host runs it, on a database of their
own, so a figure never depends on what another benchmark left behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask

from tests.fixtures.servers import make_pg_database


def emit(bench: str, figure: str, value: float, unit: str) -> None:
    print(
        json.dumps(
            {"bench": bench, "figure": figure, "value": round(float(value), 4), "unit": unit}
        ),
        flush=True,
    )
    sys.stdout.flush()


@contextlib.contextmanager
def database_url(choice: str, workdir: str) -> Iterator[str]:
    """``--db``: a SQLite file in ``workdir``, a throwaway PostgreSQL database
    (dropped afterwards), or any other URL as given."""
    if choice == "sqlite":
        yield f"sqlite:///{Path(workdir) / 'bench.db'}"
    elif choice == "postgresql":
        url, drop = make_pg_database()
        try:
            yield url
        finally:
            drop()
    else:
        yield choice


@contextlib.contextmanager
def bench_app(url: str, files: str, **config: Any) -> Iterator[Flask]:
    """The example helpdesk on ``url`` with its tables created; ``config`` adds to or
    overrides the settings every benchmark uses. Its connections are closed on exit,
    so a throwaway PostgreSQL database can be dropped."""
    from example_host_app import create_app
    from example_host_app.extensions import db
    from ucmail_ext.models import Base

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench-secret",
            "SQLALCHEMY_DATABASE_URI": url,
            # Nothing runs behind the benchmark's back: it calls the services itself.
            "UCMAIL_DISPATCH": "off",
            "UCMAIL_ATTACHMENT_DIR": files,
            "UCMAIL_MESSAGE_ID_DOMAIN": "bench.test",
            "CELERY": {"broker_url": "memory://", "task_ignore_result": True},
            **config,
        }
    )
    with app.app_context():
        db.create_all()
        Base.metadata.create_all(db.engine)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest rank: the smallest sample with at least ``fraction`` of them at or below it."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]
