"""Readiness for orchestrators: ``flask ucmail health`` exits 1 and the ready URL says
503 when the database, the broker or the lock store is unreachable, or polling stopped."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert

from example_host_app.extensions import db
from tests.fixtures.servers import free_port
from tests.ops.helpers import READY
from tests.routing import helpers as routing_helpers
from ucmail_ext.models import LockLease, utcnow
from ucmail_ext.services import health

PASSWORD = "br0ker-pa55word"


def cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["ucmail", "health", *args])


def ready(app: Flask) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get(READY)
    return response.status_code, response.get_json()


def test_all_good_is_200_and_exit_code_0(app: Flask) -> None:
    status, body = ready(app)
    assert status == 200 and body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"
    assert body["checks"]["locks"]["status"] == "ok"
    assert body["checks"]["idle"]["status"] == "not configured"
    result = cli(app)
    assert result.exit_code == 0, result.output
    assert "ucmail is ready" in result.output


def test_database_down_is_503_and_exit_code_1(make_app: Any, tmp_path: Any) -> None:
    from example_host_app import create_app
    from tests.fixtures.app import base_config

    config = base_config(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none", tmp_path)
    app = create_app(config)  # never connected: create_app does not touch the database
    status, body = ready(app)
    assert status == 503 and body["status"] == "fail"
    assert body["checks"]["database"]["status"] == "fail"
    assert body["checks"]["database"]["message"]
    assert body["checks"]["polling"]["message"] == "database unreachable"
    result = cli(app, "--json")
    assert result.exit_code == 1
    assert json.loads(result.output[: result.output.rindex("}") + 1])["status"] == "fail"


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_broker_down_is_503_without_leaking_its_password(make_app: Any, scheme: str) -> None:
    url = f"{scheme}://user:{PASSWORD}@127.0.0.1:{free_port()}/0"
    app = make_app(CELERY={"broker_url": url, "task_ignore_result": True}, UCMAIL_HEALTH_TIMEOUT=3)
    status, body = ready(app)
    assert status == 503
    broker = body["checks"]["broker"]
    assert broker["status"] == "fail" and "127.0.0.1" in broker["message"]
    result = cli(app)
    assert result.exit_code == 1 and "broker" in result.output
    assert PASSWORD not in json.dumps(body) and PASSWORD not in result.output
    if scheme == "redis":  # a Redis broker also holds the locks
        assert body["checks"]["locks"]["status"] == "fail"


@pytest.mark.integration
def test_a_live_redis_broker_answers_ping(make_app: Any, redis_url: str) -> None:
    app = make_app(CELERY={"broker_url": redis_url, "task_ignore_result": True})
    status, body = ready(app)
    assert status == 200, body
    assert body["checks"]["broker"]["status"] == body["checks"]["locks"]["status"] == "ok"


def test_lock_store_down_is_503(make_app: Any) -> None:
    app = make_app(UCMAIL_LOCK_URL=f"redis://127.0.0.1:{free_port()}/0", UCMAIL_HEALTH_TIMEOUT=3)
    status, body = ready(app)
    assert status == 503 and body["checks"]["locks"]["status"] == "fail"
    assert body["checks"]["broker"]["status"] == "ok"


def test_polling_that_stopped_fails_and_a_fresh_poll_passes(any_app: Flask) -> None:
    with any_app.app_context():
        campaign = routing_helpers.make_campaign(
            "Inbox", imap_host="imap.example.test", receive_emails=True, enabled=True
        )
        campaign.last_poll_at = utcnow() - timedelta(hours=2)
        db.session.commit()
    status, body = ready(any_app)
    assert status == 503
    polling = body["checks"]["polling"]
    assert polling["status"] == "fail" and polling["age_seconds"] >= 7200
    with any_app.app_context():
        campaign = db.session.merge(campaign)
        campaign.last_poll_at = utcnow() - timedelta(seconds=30)
        db.session.commit()
    status, body = ready(any_app)
    assert status == 200 and body["checks"]["polling"]["status"] == "ok"


def test_idle_leases_alive_or_dead_for_too_long(any_app: Flask) -> None:
    with any_app.app_context():
        engine = db.engine
        with engine.begin() as conn:
            conn.execute(
                insert(LockLease).values(
                    name="idle-node:alive", token="t1", expires_at=utcnow() + timedelta(seconds=60)
                )
            )
        assert health.check_idle().status == "ok"
        later = utcnow() + timedelta(seconds=60 + 600)
        dead = health.check_idle(now=later)
        assert dead.status == "fail" and dead.age_seconds is not None and dead.age_seconds >= 600
        soon = health.check_idle(now=utcnow() + timedelta(seconds=90))
        assert soon.status == "ok"  # expired, but within UCMAIL_HEALTH_IDLE_STALE
