"""Two routers in two processes on one database, routing the same queue at once.

PostgreSQL is the production case (row locks); SQLite proves its own path (one
writer at a time plus the conditional UPDATE) holds too.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.routing.helpers import add_members, arrivals, make_campaign, online, session
from tests.routing.race_worker import run_router
from ucmail_ext.models import Interaction, utcnow

ROUNDS = 12
AGENTS = ("a", "b", "c", "d", "e", "f")
MAX_PER_AGENT = 3
PER_ROUND = 30


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_two_routers_never_assign_twice_nor_exceed_the_maximum(
    make_app: Any, tmp_path: Path, backend: str
) -> None:
    app = make_app(backend, UCMAIL_HEARTBEAT_TIMEOUT=3600)
    db_url = app.config["SQLALCHEMY_DATABASE_URI"]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(3, timeout=120)
    results = context.Queue()
    with app.app_context():
        campaign = make_campaign(strategy="rrmemory", max_per_agent=MAX_PER_AGENT)
        add_members(campaign, *AGENTS)
        online(*AGENTS)
        campaign_id = campaign.id
    workers = [
        context.Process(
            target=run_router,
            args=(db_url, str(tmp_path), campaign_id, ROUNDS, barrier, results),
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    try:
        with app.app_context():
            for _ in range(ROUNDS):
                arrivals(campaign, PER_ROUND)
                barrier.wait()  # both routers start together
                barrier.wait()  # both are done
                loads = Counter(
                    agent
                    for (agent,) in session().execute(
                        Interaction.__table__.select()
                        .with_only_columns(Interaction.agent_id)
                        .where(Interaction.state == "assigned")
                    )
                )
                assert loads == dict.fromkeys(AGENTS, MAX_PER_AGENT)
                session().execute(
                    update(Interaction)
                    .where(Interaction.state.in_(("assigned", "queued")))
                    .values(state="closed", closed_at=utcnow())
                )
                session().commit()
        won = [results.get(timeout=60) for _ in workers]
    except BaseException:
        barrier.abort()  # free the routers at once instead of waiting out the timeout
        raise
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.terminate()
    assert all(worker.exitcode == 0 for worker in workers)
    decisions = won[0] + won[1]
    ids = [interaction_id for interaction_id, _ in decisions]
    assert len(ids) == len(set(ids)) == ROUNDS * len(AGENTS) * MAX_PER_AGENT
    assert won[0] and won[1], "both routers should have won some interactions"
