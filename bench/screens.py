"""Supervision feed and recordings search response times over a big archive.

``python -m bench screens [--messages N]`` creates a throwaway PostgreSQL database,
measures both screens while it holds only campaigns and agents (the baseline), then
fills it with N messages (default 1,000,000; one interaction per four messages) in
SQL with ``generate_series`` — ORM inserts would take longer than the benchmark —
runs ANALYZE, and measures again. Each figure is the median of timed requests
through the Flask test client, so it includes routing, access checks, the queries,
JSON or template rendering: what a supervisor waits for.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from bench.common import bench_app, database_url, emit

BENCH = "screens"
PASSWORD = "bench-password"
CAMPAIGNS = 10
AGENTS = 50
QUEUED = 200
ASSIGNED = 100
ARCHIVE_DAYS = 365


def seed_people(app: Flask) -> list[str]:
    """A supervisor, 50 agents online, 10 campaigns with 5 members each."""
    from example_host_app.extensions import db
    from example_host_app.models import User
    from ucmail_ext.models import AgentState, Campaign, Member, utcnow

    with app.app_context():
        boss = User(email="boss@bench.test", name="Bench Supervisor", roles="supervisor")
        boss.set_password(PASSWORD)
        db.session.add(boss)
        agents = [
            User(
                email=f"agent{n}@bench.test",
                name=f"Agent {n:02d}",
                roles="agent",
                password_hash="-",
            )
            for n in range(AGENTS)
        ]
        db.session.add_all(agents)
        campaigns = [
            Campaign(
                name=f"Campaign {n}",
                email_address=f"c{n}@bench.test",
                threshold_warning_seconds=600,
                threshold_critical_seconds=1800,
            )
            for n in range(CAMPAIGNS)
        ]
        db.session.add_all(campaigns)
        db.session.flush()
        now = utcnow()
        for n, agent in enumerate(agents):
            agent_id = str(agent.id)
            db.session.add(Member(campaign_id=campaigns[n % CAMPAIGNS].id, agent_id=agent_id))
            db.session.add(
                AgentState(
                    agent_id=agent_id,
                    display_name=agent.name,
                    status="free",
                    since=now - timedelta(minutes=n),
                    # Online for the whole run without a portal sending heartbeats.
                    last_heartbeat_at=now + timedelta(days=1),
                )
            )
        db.session.commit()
        return [str(c.id) for c in campaigns]


def fill_archive(app: Flask, messages: int) -> None:
    """Interactions and messages in two INSERT ... SELECT statements, then ANALYZE.

    Interaction g arrives g * step seconds ago (the archive spans a year); the newest
    are queued, then assigned, the rest closed. Campaign and agent follow g so every
    agent handles only its own campaign's mail.
    """
    from example_host_app.extensions import db

    interactions = max(1, messages // 4)
    step = max(1, ARCHIVE_DAYS * 86400 // interactions)
    params = {"n": interactions, "step": step, "queued": QUEUED, "assigned": QUEUED + ASSIGNED}
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(
            text(
                """
                WITH c AS (SELECT array_agg(id ORDER BY id) AS ids FROM ucmail_campaign),
                     a AS (SELECT array_agg(agent_id ORDER BY agent_id::int) AS ids
                           FROM ucmail_agent_state),
                     now_utc AS (SELECT (now() AT TIME ZONE 'utc') AS t)
                INSERT INTO ucmail_interaction (
                    campaign_id, customer_email, customer_name, subject, state, origin,
                    agent_id, arrived_at, assigned_at, first_response_at, closed_at,
                    last_message_at, reopened_count, message_count, flagged)
                SELECT
                    c.ids[1 + g % array_length(c.ids, 1)],
                    'customer' || (g % 40000) || '@mail' || (g % 97) || '.example.org',
                    'Customer ' || g,
                    'Question ' || g || ' about order ' || (g % 1000),
                    CASE WHEN g <= :queued THEN 'queued'
                         WHEN g <= :assigned THEN 'assigned' ELSE 'closed' END,
                    CASE WHEN g % 10 = 0 THEN 'outbound' ELSE 'inbound' END,
                    CASE WHEN g <= :queued THEN NULL
                         ELSE a.ids[1 + g % array_length(c.ids, 1)
                                    + array_length(c.ids, 1) * ((g / 10) % 5)] END,
                    t.at,
                    CASE WHEN g > :queued THEN t.at + interval '1 minute' END,
                    CASE WHEN g > :queued THEN t.at + interval '10 minutes' END,
                    CASE WHEN g > :assigned THEN t.at + interval '30 minutes' END,
                    t.at + interval '20 minutes',
                    0, 4, false
                FROM generate_series(1, :n) AS g, c, a, now_utc,
                     LATERAL (SELECT now_utc.t - g * make_interval(secs => :step) AS at) AS t
                """
            ),
            params,
        )
        conn.execute(
            text(
                """
                INSERT INTO ucmail_message (
                    interaction_id, campaign_id, direction, status, message_id, in_reply_to,
                    "references", from_addr, from_name, to_addrs, cc_addrs, bcc_addrs,
                    subject, text, html, date, created_at, agent_id, kind, sha256, size,
                    flagged, defects, attempts, error)
                SELECT
                    i.id, i.campaign_id,
                    CASE WHEN m % 2 = 1 THEN 'in' ELSE 'out' END,
                    CASE WHEN m % 2 = 1 THEN 'received' ELSE 'sent' END,
                    '<' || i.id || '.' || m || '@bench.test>', '', '',
                    CASE WHEN m % 2 = 1 THEN i.customer_email ELSE 'support@bench.test' END,
                    '', CASE WHEN m % 2 = 1 THEN 'support@bench.test' ELSE i.customer_email END,
                    '', '',
                    CASE WHEN m = 1 THEN i.subject ELSE 'Re: ' || i.subject END,
                    repeat('Message body line for the archive. ', 6), '',
                    i.arrived_at + (m - 1) * interval '5 minutes',
                    i.arrived_at + (m - 1) * interval '5 minutes',
                    CASE WHEN m % 2 = 0 THEN i.agent_id END,
                    'reply', '', 200, false, '', 0, ''
                FROM ucmail_interaction AS i, generate_series(1, 4) AS m
                """
            )
        )
        conn.execute(
            text(
                """
                INSERT INTO ucmail_rating (message_id, interaction_id, campaign_id, agent_id,
                                           score, created_at, updated_at)
                SELECT m.id, m.interaction_id, m.campaign_id, m.agent_id, 1 + m.id % 5,
                       m.created_at + interval '1 hour', m.created_at + interval '1 hour'
                FROM ucmail_message AS m
                WHERE m.direction = 'out' AND m.id % 40 = 0
                """
            )
        )
    with app.app_context(), db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def login(app: Flask) -> FlaskClient:
    from tests.fixtures.app import csrf_token

    client = app.test_client()
    response = client.post(
        "/login",
        data={
            "email": "boss@bench.test",
            "password": PASSWORD,
            "csrf_token": csrf_token(client, app),
        },
    )
    if response.status_code != 302:
        raise RuntimeError(f"bench login failed: {response.status_code}")
    return client


def median_ms(request: Callable[[], Any], repeat: int) -> float:
    request()  # warm the caches and the connection pool, as a live screen would be
    request()
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = request()
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{response.request.path}: HTTP {response.status_code}")
        response.close()
    return statistics.median(timings)


def recordings_query(campaign_ids: list[str]) -> str:
    """Thirty days, part of an email address, two campaigns: a typical search."""
    from ucmail_ext.models import utcnow

    today = utcnow().date()
    start = today - timedelta(days=30)
    picked = "".join(f"&campaign={cid}" for cid in campaign_ids[:2])
    return f"/ucmail/recordings/?start={start}&end={today}&email=mail1{picked}"


def measure(client: FlaskClient, campaign_ids: list[str], repeat: int) -> tuple[float, float]:
    search = recordings_query(campaign_ids)
    supervision = median_ms(lambda: client.get("/ucmail/supervision/feed"), repeat)
    recordings = median_ms(lambda: client.get(search), repeat)
    return supervision, recordings


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench screens")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)

    with (
        tempfile.TemporaryDirectory() as files,
        database_url("postgresql", files) as url,
        bench_app(url, files) as app,
    ):
        campaign_ids = seed_people(app)
        client = login(app)
        empty_supervision, empty_recordings = measure(client, campaign_ids, args.repeat)
        started = time.perf_counter()
        fill_archive(app, args.messages)
        fill_seconds = time.perf_counter() - started
        supervision, recordings = measure(client, campaign_ids, args.repeat)
        emit(BENCH, "supervision_empty_median_ms", empty_supervision, "ms")
        emit(BENCH, "recordings_empty_median_ms", empty_recordings, "ms")
        emit(BENCH, "fill_seconds", fill_seconds, "s")
        emit(BENCH, "supervision_median_ms", supervision, "ms")
        emit(BENCH, "recordings_median_ms", recordings, "ms")
