"""A floor for portal tests: a campaign on the SMTP sink, agent1 and agent2 as members."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.agent.desk_fixtures import desk  # noqa: F401  (issue 12: SQLite and PostgreSQL)
from tests.agent.helpers import member_campaign
from tests.fixtures.app import TEST_PASSWORD, USERS, csrf_token
from tests.fixtures.live import browser_login
from tests.fixtures.servers import SmtpSink
from tests.routing.helpers import online


@dataclass(frozen=True)
class Floor:
    app: Flask
    campaign_id: int
    agent1: str
    agent2: str
    outsider: str


@pytest.fixture
def floor(app: Flask, users: dict[str, Any], smtp_sink: SmtpSink) -> Iterator[Floor]:
    agent1, agent2, agent3 = (str(users[k].id) for k in ("agent1", "agent2", "agent3"))
    with app.app_context():
        campaign = member_campaign(smtp_sink, agent1, agent2, max_per_agent=5)
        online(agent1, agent2)
        yield Floor(app, campaign.id, agent1, agent2, agent3)


def post(client: FlaskClient, app: Flask, url: str, data: dict[str, Any] | None = None, **kw: Any):  # type: ignore[no-untyped-def]
    form = dict(data or {})
    form["csrf_token"] = csrf_token(client, app)
    return client.post(url, data=form, **kw)


def post_json(client: FlaskClient, app: Flask, url: str, payload: dict[str, Any]):  # type: ignore[no-untyped-def]
    return client.post(url, json=payload, headers={"X-CSRFToken": csrf_token(client, app)})


WAIT_MS = 20_000  # generous: a shared 2-core machine; every wait is on a condition


@pytest.fixture
def desks(browser: Any, live_server: str) -> Iterator[Any]:
    """``open_desk("agent1")``: a logged-in page in its own browser context (own cookies)."""
    contexts: list[Any] = []

    def open_desk(who: str) -> Any:
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        browser_login(page, live_server, USERS[who][0], TEST_PASSWORD)
        return page

    yield open_desk
    for context in contexts:
        context.close()
