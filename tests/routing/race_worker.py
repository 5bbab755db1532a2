"""A router in its own process, for the two-router race (spawned, so importable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from example_host_app import create_app
from tests.fixtures.app import base_config
from ucmail_ext.services.desk import routing


def run_router(
    db_url: str, tmp_dir: str, campaign_id: int, rounds: int, barrier: Any, results: Any
) -> None:
    config = base_config(db_url, Path(tmp_dir))
    config.update(UCMAIL_DISPATCH="off", UCMAIL_HEARTBEAT_TIMEOUT=3600)
    app = create_app(config)
    won: list[tuple[int, str]] = []
    try:
        with app.app_context():
            for _ in range(rounds):
                barrier.wait()
                for _ in range(3):
                    won.extend((d.interaction_id, d.agent_id) for d in routing.route(campaign_id))
                barrier.wait()
    finally:
        results.put(won)
        with app.app_context():
            app.extensions["sqlalchemy"].engine.dispose()
