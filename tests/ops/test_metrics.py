"""Prometheus metrics: every family is scraped, events count where they happen, the
queue state comes from the database, and processes add up in multiprocess mode."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.fixtures.servers import DovecotServer, ImapAccount, free_port
from tests.inbound import helpers as inbound
from tests.ops.helpers import METRICS, parse, scrape, value
from tests.routing import helpers as routing_helpers
from ucmail_ext.models import utcnow
from ucmail_ext.services.desk import routing
from ucmail_ext.tasks.system import ping

ROOT = Path(__file__).resolve().parents[2]

FAMILIES = {
    "ucmail_queue_length",
    "ucmail_queue_oldest_wait_seconds",
    "ucmail_campaign_info",
    "ucmail_agents",
    "ucmail_interactions_imported",
    "ucmail_messages_imported",
    "ucmail_polls",
    "ucmail_poll_errors",
    "ucmail_idle_connections",
    "ucmail_outbound_messages",
    "ucmail_dialer_messages",
    "ucmail_routed",
    "ucmail_token_refreshes",
    "ucmail_task_duration_seconds",
}


def test_scrape_names_every_family(app: Flask) -> None:
    families = scrape(app.test_client())
    assert FAMILIES <= set(families), FAMILIES - set(families)


def test_queue_and_agents_come_from_the_database(any_app: Flask) -> None:
    with any_app.app_context():
        campaign = routing_helpers.make_campaign("Billing")
        other = routing_helpers.make_campaign("Sales")
        routing_helpers.arrive(campaign, "Old one", at=utcnow() - timedelta(hours=2))
        routing_helpers.arrive(campaign, "New one")
        routing_helpers.online("a1")
        routing_helpers.online("a2", status="break")
        routing_helpers.online("a3", paused=True)
        ids = (campaign.id, other.id)
    families = scrape(any_app.test_client())
    assert value(families, "ucmail_queue_length", campaign=ids[0]) == 2
    assert value(families, "ucmail_queue_length", campaign=ids[1]) == 0
    assert value(families, "ucmail_queue_oldest_wait_seconds", campaign=ids[0]) >= 7200
    assert value(families, "ucmail_queue_oldest_wait_seconds", campaign=ids[1]) == 0
    assert value(families, "ucmail_campaign_info", campaign=ids[0], name="Billing") == 1
    agents = {
        status: value(families, "ucmail_agents", status=status)
        for status in ("free", "break", "paused", "busy", "offline")
    }
    assert agents == {"free": 1, "break": 1, "paused": 1, "busy": 0, "offline": 0}


@pytest.mark.integration
def test_polls_imports_and_errors_are_counted(
    app: Flask, dovecot: DovecotServer, imap_account: ImapAccount
) -> None:
    campaign_id = inbound.make_campaign(app, imap_account)
    broken_id = inbound.make_campaign(app, imap_account, name="Down", imap_port=free_port())
    inbound.connect(app, campaign_id)
    client = app.test_client()
    before = scrape(client)
    for n in (1, 2):
        dovecot.append(imap_account.user, inbound.mail(n))
    assert inbound.poll(app, campaign_id).imported == 2
    assert inbound.poll(app, broken_id).status == "error"
    after = scrape(client)

    def delta(sample: str, **labels: object) -> float:
        return value(after, sample, **labels) - value(before, sample, **labels)

    assert delta("ucmail_polls_total", campaign=campaign_id, status="ok") == 1
    assert delta("ucmail_messages_imported_total", campaign=campaign_id) == 2
    assert delta("ucmail_interactions_imported_total", campaign=campaign_id) == 2
    assert delta("ucmail_polls_total", campaign=broken_id, status="error") == 1
    assert delta("ucmail_poll_errors_total", campaign=broken_id) == 1
    assert delta("ucmail_poll_errors_total", campaign=campaign_id) == 0


def test_routing_counts_assignments(app: Flask) -> None:
    client = app.test_client()
    with app.app_context():
        campaign = routing_helpers.make_campaign("Routing")
        routing_helpers.add_members(campaign, "a1")
        routing_helpers.online("a1")
        routing_helpers.arrivals(campaign, 2)
        campaign_id = campaign.id
        before = value(scrape(client), "ucmail_routed_total", campaign=campaign_id)
        assert len(routing.route(campaign_id)) == 2
    assert value(scrape(client), "ucmail_routed_total", campaign=campaign_id) == before + 2


def test_celery_task_durations_are_observed(app: Flask) -> None:
    client = app.test_client()
    labels = {"task": "ucmail.system.ping", "state": "SUCCESS"}
    before = value(scrape(client), "ucmail_task_duration_seconds_count", **labels)
    with app.app_context():
        assert ping.apply().get()["app"] == app.name
    assert value(scrape(client), "ucmail_task_duration_seconds_count", **labels) == before + 1


def test_token_guards_the_ops_urls_when_set(make_app) -> None:
    app = make_app(UCMAIL_OPS_TOKEN="s3cret-token")
    client = app.test_client()
    for url in (METRICS, "/ucmail/ops/ready"):
        refused = client.get(url)
        assert refused.status_code == 401 and "s3cret-token" not in refused.get_data(as_text=True)
        assert client.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.get(url, headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200


def _run(env: dict[str, str], *parts: str) -> str:
    """Run the code ``parts`` (each indented as it likes) in a fresh interpreter."""
    code = "\n".join(textwrap.dedent(part) for part in parts)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


APP = """
    import tempfile
    from pathlib import Path
    from tests.fixtures.app import _build
    tmp = Path(tempfile.mkdtemp())
    app = _build(f"sqlite:///{tmp / 'h.db'}", tmp, {})
"""


def test_processes_add_up_in_multiprocess_mode(tmp_path: Path) -> None:
    """Two worker processes count polls; a third (the web process) scrapes the sum."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = """
        from types import SimpleNamespace
        from ucmail_ext.services import metrics
        result = SimpleNamespace(campaign_id=7, status="ok", imported=3, new_interactions=1)
        metrics.observe_poll(result)
        metrics.idle_connected(+1)
    """
    _run(env, worker)
    _run(env, worker)
    text = _run(env, APP, f"print(app.test_client().get({METRICS!r}).get_data(as_text=True))")
    families = parse(text)
    assert value(families, "ucmail_polls_total", campaign=7, status="ok") == 2
    assert value(families, "ucmail_messages_imported_total", campaign=7) == 6
    assert "ucmail_queue_length" in families


def test_without_prometheus_client_the_endpoint_says_what_to_install() -> None:
    """A host without the ``metrics`` extra still starts; the URL explains itself."""
    blocker = """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "prometheus_client" or name.startswith("prometheus_client."):
                    raise ImportError("blocked for this test")
        sys.meta_path.insert(0, Block())
    """
    scrape_both = """
        response = app.test_client().get('/ucmail/ops/metrics')
        print(response.status_code, response.get_data(as_text=True))
        print(app.test_client().get('/ucmail/ops/ready').status_code)
    """
    out = _run({}, blocker, APP, scrape_both)
    assert out.startswith("501 ") and "pip install 'ucmail_ext[metrics]'" in out
    assert out.strip().endswith("200")


def test_sample_dashboard_only_queries_metrics_we_export(app: Flask) -> None:
    dashboard = json.loads((ROOT / "contrib" / "grafana" / "ucmail.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for name in re.findall(r"\bucmail_[a-z_]+", target["expr"])
    }
    families = set(scrape(app.test_client()))
    missing = {
        name
        for name in queried
        if name not in families and re.sub(r"_(total|bucket|count|sum)$", "", name) not in families
    }
    assert queried and not missing, missing


def _wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.mark.integration
def test_idle_connections_held_are_a_live_gauge(
    app: Flask, dovecot: DovecotServer, imap_account: ImapAccount
) -> None:
    from ucmail_ext.services.inbound.idle import IdleLoop

    campaign_id = inbound.make_campaign(app, imap_account)
    client = app.test_client()

    def held() -> float:
        return value(scrape(client), "ucmail_idle_connections")

    before = held()
    loop = IdleLoop(app, workers=1).start()
    try:
        loop.add(campaign_id)
        _wait_for(lambda: loop.listening() == {campaign_id} and held() == before + 1)
        assert loop.remove(campaign_id).wait(60)
        _wait_for(lambda: held() == before)
    finally:
        loop.stop()


@pytest.mark.integration
def test_token_refreshes_are_counted(
    make_app: Callable[..., Flask], oauth_provider: Any, oauth_dovecot: DovecotServer
) -> None:
    from tests.oauth.helpers import (
        expire_cached_token,
        in_context,
        make_oauth_campaign,
        new_mailbox,
        oauth_config,
    )
    from ucmail_ext.services.oauth import tokens

    app = make_app(**oauth_config(oauth_provider))
    user = new_mailbox(oauth_dovecot)
    campaign_id = make_oauth_campaign(app, oauth_provider, oauth_dovecot, user, 2525)
    client = app.test_client()
    labels = {"campaign": campaign_id, "result": "ok"}
    before = value(scrape(client), "ucmail_token_refreshes_total", **labels)
    expire_cached_token(app, campaign_id)
    in_context(app, lambda: tokens.access_token(campaign_id))
    assert value(scrape(client), "ucmail_token_refreshes_total", **labels) == before + 1
