"""Routing: how long a stored interaction waits for a free agent to get it.

``python -m bench routing [--n 1000] [--agents 50] [--db sqlite|postgresql|URL]``
prints, one JSON line each:

- ``p50_ms`` / ``p99_ms``: N interactions arrive one by one while agents are free
  (50 agents, room for all N); each is stored (committed, as the inbound service
  leaves it) and then ``routing.route(campaign)`` runs, as the arrival task does.
  The figure is the time from the commit of the stored row to the commit of its
  assignment. Goal: p99 at most 100 ms.
- ``freed_p50_ms`` / ``freed_p99_ms``: every agent full and N more waiting; an
  agent closes one and routing runs: the time from that close to the next oldest
  being assigned, for 200 closes.
- ``baseline_p50_ms``: the floor under both, measured in the same run on the same
  database: one conditional UPDATE of an interaction and its commit.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import update

from bench.common import bench_app, database_url, emit, percentile

BENCH = "routing"
FREED_SAMPLES = 200


def _session() -> Any:
    from ucmail_ext.extension import get_state

    return get_state().session


def setup_floor(agents: int, per_agent: int) -> int:
    from ucmail_ext.models import AgentState, Campaign, Member, utcnow

    session = _session()
    campaign = Campaign(
        name="Bench",
        email_address="bench@helpdesk.test",
        strategy="rrmemory",
        max_per_agent=per_agent,
    )
    session.add(campaign)
    session.flush()
    now = utcnow()
    for n in range(agents):
        agent_id = f"agent{n}"
        session.add(Member(campaign_id=campaign.id, agent_id=agent_id, position=n))
        session.add(AgentState(agent_id=agent_id, status="free", last_heartbeat_at=now, since=now))
    session.commit()
    return campaign.id


def store_arrival(campaign_id: int, n: int) -> int:
    """One inbound mail as the inbound service stores it: interaction plus message."""
    from ucmail_ext.models import Interaction, Message, utcnow

    now = utcnow()
    interaction = Interaction(
        campaign_id=campaign_id,
        customer_email=f"customer{n}@example.com",
        customer_name=f"Customer {n}",
        subject=f"Question {n}",
        state="queued",
        arrived_at=now,
        last_message_at=now,
        message_count=1,
    )
    interaction.messages.append(
        Message(
            campaign_id=campaign_id,
            direction="in",
            status="received",
            kind="inbound",
            message_id=f"bench.{n}.{time.time_ns()}@example.com",
            from_addr=f"customer{n}@example.com",
            subject=f"Question {n}",
            text="Hello, I need help with my order.",
            date=now,
        )
    )
    session = _session()
    session.add(interaction)
    session.commit()
    return interaction.id


def arrivals(campaign_id: int, count: int, offset: int) -> list[float]:
    from ucmail_ext.services.desk import routing

    latencies = []
    for n in range(count):
        interaction_id = store_arrival(campaign_id, offset + n)
        stored = time.perf_counter()
        decisions = routing.route(campaign_id)
        assigned = time.perf_counter()
        if [d.interaction_id for d in decisions] != [interaction_id]:
            raise RuntimeError(f"interaction {interaction_id} was not assigned: {decisions}")
        latencies.append((assigned - stored) * 1000)
    return latencies


def freed(campaign_id: int, samples: int) -> list[float]:
    """Agents full, a backlog waiting: close one, route, time until the next is assigned."""
    from sqlalchemy import select

    from ucmail_ext.models import Interaction, utcnow
    from ucmail_ext.services.desk import presence, routing

    session = _session()
    latencies = []
    for _ in range(samples):
        oldest = session.scalars(
            select(Interaction)
            .where(Interaction.campaign_id == campaign_id, Interaction.state == "assigned")
            .order_by(Interaction.assigned_at, Interaction.id)
            .limit(1)
        ).one()
        agent_id = oldest.agent_id
        oldest.state, oldest.closed_at = "closed", utcnow()
        presence.recount_active(agent_id)
        session.commit()
        closed = time.perf_counter()
        decisions = routing.route(campaign_id)
        assigned = time.perf_counter()
        if len(decisions) != 1:
            raise RuntimeError(f"expected one assignment after a close, got {decisions}")
        latencies.append((assigned - closed) * 1000)
    return latencies


def baseline(campaign_id: int, samples: int) -> list[float]:
    from ucmail_ext.models import Interaction, utcnow

    session = _session()
    ids = [store_arrival(campaign_id, 10_000_000 + n) for n in range(samples)]
    latencies = []
    for interaction_id in ids:
        started = time.perf_counter()
        session.execute(
            update(Interaction)
            .where(Interaction.id == interaction_id, Interaction.state == "queued")
            .values(state="closed", closed_at=utcnow())
        )
        session.commit()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench routing")
    parser.add_argument("--n", type=int, default=1000, help="interactions")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--db", default="sqlite", help="sqlite, postgresql or a database URL")
    args = parser.parse_args(argv)

    workdir = tempfile.mkdtemp(prefix="ucmail-bench-routing-")
    with (
        database_url(args.db, workdir) as url,
        bench_app(url, str(Path(workdir) / "files"), UCMAIL_HEARTBEAT_TIMEOUT=3600) as app,
        app.app_context(),
    ):
        per_agent = max(1, math.ceil(args.n / args.agents))
        campaign_id = setup_floor(args.agents, per_agent)
        floor = baseline(campaign_id, 200)
        arrived = arrivals(campaign_id, args.agents * per_agent, 0)
        for n in range(args.n):  # the backlog the freed agents take from
            store_arrival(campaign_id, 1_000_000 + n)
        after_close = freed(campaign_id, min(FREED_SAMPLES, args.n))
    emit(BENCH, "p50_ms", statistics.median(arrived), "ms")
    emit(BENCH, "p99_ms", percentile(arrived, 0.99), "ms")
    emit(BENCH, "freed_p50_ms", statistics.median(after_close), "ms")
    emit(BENCH, "freed_p99_ms", percentile(after_close, 0.99), "ms")
    emit(BENCH, "baseline_p50_ms", statistics.median(floor), "ms")
