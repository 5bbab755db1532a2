"""A floor on SQLite and on PostgreSQL for the desk's service tests (issue 12).

``desk`` gives the campaign (on the SMTP sink), agent1 and agent2 online members,
and the host users, so a service can be called as any of them (``desk.user(...)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask, g

from example_host_app.extensions import db
from example_host_app.models import User
from tests.agent.helpers import member_campaign
from tests.fixtures.app import create_users
from tests.fixtures.servers import SmtpSink
from tests.routing.helpers import online


@dataclass(frozen=True)
class Desk:
    app: Flask
    campaign_id: int
    ids: dict[str, str]

    def user(self, who: str) -> User:
        """The host user, loaded in the current app context's session."""
        user = db.session.get(User, int(self.ids[who]))
        assert user is not None
        return user


@pytest.fixture
def desk(any_app: Flask, smtp_sink: SmtpSink) -> Iterator[Desk]:
    users = create_users(any_app)
    ids = {key: str(user.id) for key, user in users.items()}
    with any_app.app_context():
        campaign = member_campaign(smtp_sink, ids["agent1"], ids["agent2"], max_per_agent=3)
        online(ids["agent1"], ids["agent2"])
        yield Desk(any_app, campaign.id, ids)


def in_thread_context(app: Flask, fn: Any, *args: Any) -> Any:
    """Run ``fn`` inside its own app context (its own session), as a second worker would."""
    with app.app_context():
        try:
            return fn(*args)
        finally:
            db.session.remove()


def as_other_user() -> None:
    """Forget the user Flask-Login cached in ``g``.

    The floor fixtures keep an app context pushed, so every test-client request
    shares its ``g``; without this, the next client's request would run as the
    previous client's user.
    """
    g.pop("_login_user", None)
