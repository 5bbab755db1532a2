"""Collision detection (issue 12, point 4): who else views or types in a conversation
(Redis when configured, else the database, each entry living a few polls), and a send
that would cross a newer message shows it and asks first."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from flask import Flask

from tests.agent.conftest import Floor, post, post_json
from tests.agent.desk_fixtures import as_other_user
from tests.agent.helpers import assigned, reload
from tests.fixtures.servers import SmtpSink
from tests.routing.helpers import arrive, make_campaign, session
from tests.supervision.factories import add_message
from ucmail_ext.models import Campaign, Interaction, Message, Viewer, utcnow
from ucmail_ext.services import locks
from ucmail_ext.services.desk import collision


@pytest.fixture(params=["database", "redis"])
def presence_app(request: pytest.FixtureRequest, make_app) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    """The database backend (SQLite and PostgreSQL) and the Redis one."""
    if request.param == "redis":
        prefix = f"ucmail-test-{uuid.uuid4().hex}:"
        app = make_app(
            "sqlite", UCMAIL_LOCK_URL="redis://127.0.0.1:6379/0", UCMAIL_LOCK_PREFIX=prefix
        )
        yield app
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()
    else:
        yield make_app("postgresql")


def test_each_viewer_sees_the_others_and_who_is_typing(presence_app: Flask) -> None:
    with presence_app.app_context():
        interaction_id = arrive(make_campaign()).id

        collision.touch(interaction_id, "a", "Alice Agent")
        collision.touch(interaction_id, "b", "Bob Agent", typing=True)

        assert collision.others(interaction_id, "a") == [collision.Presence("b", "Bob Agent", True)]
        assert collision.others(interaction_id, "b") == [
            collision.Presence("a", "Alice Agent", False)
        ]
        collision.touch(interaction_id, "b", "Bob Agent", typing=False)
        assert collision.others(interaction_id, "a")[0].typing is False
        collision.leave(interaction_id, "b")
        assert collision.others(interaction_id, "a") == []
        url = locks.lock_url()
        if url:
            ttl = locks.redis_client(url).ttl(collision._key(interaction_id))
            assert 0 < ttl <= int(collision.VIEWER_TTL.total_seconds()) + 1  # cleans itself up


def test_a_viewer_whose_entry_ran_out_is_gone(any_app: Flask) -> None:
    with any_app.app_context():
        interaction_id = arrive(make_campaign()).id
        collision.touch(interaction_id, "a", "Alice Agent")
        collision.touch(interaction_id, "b", "Bob Agent")
        row = session().get(Viewer, (interaction_id, "b"))
        row.expires_at = utcnow() - timedelta(seconds=1)  # Bob closed his tab a while ago
        session().commit()

        assert collision.others(interaction_id, "a") == []
        collision.touch(interaction_id, "a", "Alice Agent")
        assert session().get(Viewer, (interaction_id, "b")) is None  # stale rows are swept


def test_the_live_poll_reports_the_other_viewer(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    interaction_id = arrive(session().get(Campaign, floor.campaign_id), "Shared").id
    alice = client_for("agent1")
    url = f"/ucmail/agent/interactions/{interaction_id}/live"
    assert post_json(alice, floor.app, url, {"typing": True}).get_json()["viewers"] == []
    as_other_user()
    bob = client_for("agent2")

    seen_by_bob = post_json(bob, floor.app, url, {"typing": False}).get_json()
    as_other_user()
    seen_by_alice = post_json(alice, floor.app, url, {}).get_json()

    assert seen_by_bob["viewers"] == [{"name": "Alice Agent", "typing": True}]
    assert seen_by_alice["viewers"] == [{"name": "Bob Agent", "typing": False}]


def _seen_id(page: str) -> str:
    found = re.search(r'name="seen_message_id" id="composer-seen" value="(\d+)"', page)
    assert found, "the composer remembers what was seen"
    return found.group(1)


def _reply(body: str, seen: str) -> dict[str, str]:
    return {
        "kind": "reply",
        "to": "customer@example.org",
        "subject": "Re: Shared",
        "body": body,
        "seen_message_id": seen,
    }


def test_a_colleagues_answer_sent_first_is_shown_before_anything_goes_out(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = arrive(session().get(Campaign, floor.campaign_id), "Shared").id
    alice = client_for("agent1")
    seen = _seen_id(alice.get(f"/ucmail/agent/?open={interaction_id}&compose=reply").get_data(True))
    as_other_user()
    bob = client_for("agent2")
    bob_seen = _seen_id(
        bob.get(f"/ucmail/agent/?open={interaction_id}&compose=reply").get_data(True)
    )
    sent = post(
        bob,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        _reply("Bob here: your refund is on its way.", bob_seen),
    )
    assert sent.status_code == 302
    smtp_sink.wait_for(1, timeout=30)
    as_other_user()

    warned = post(
        alice,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        _reply("Alice here: let me check.", seen),
    )

    assert warned.status_code == 409
    page = warned.get_data(True)
    assert 'id="newer-warning"' in page
    assert "1 new message arrived after you began writing" in page
    assert "Bob Agent" in page and "Bob here: your refund is on its way." in page
    assert "Alice here: let me check." in page  # what she typed is kept
    assert 'id="composer-send-newer"' not in page  # Bob holds it now: nothing to confirm
    assert "now assigned to another agent, so your answer was not sent" in page
    assert smtp_sink.count == 1
    assert session().query(Message).filter(Message.text.contains("Alice here")).count() == 0


def test_a_new_customer_message_asks_first_then_send_anyway_sends(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1, "Shared")
    alice = client_for("agent1")
    seen = _seen_id(alice.get(f"/ucmail/agent/?open={interaction_id}&compose=reply").get_data(True))
    add_message(
        session().get(Interaction, interaction_id),
        text="Never mind, it works now!",
        message_id="later-1@example.org",
        from_name="Carla Customer",
        subject="Re: Shared",
    )
    session().commit()

    warned = post(
        alice,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        _reply("Here is how to fix it.", seen),
    )
    assert warned.status_code == 409
    assert "Never mind, it works now!" in warned.get_data(True)
    assert 'id="composer-send-newer"' in warned.get_data(True)
    assert smtp_sink.count == 0

    again = post(
        alice,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        _reply("Glad it works!", _seen_id(warned.get_data(True))),
    )
    assert again.status_code == 302
    [mail] = smtp_sink.wait_for(1, timeout=30)
    assert b"Glad it works!" in mail.raw


def test_my_own_earlier_answer_is_no_collision(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1, "Shared")
    alice = client_for("agent1")
    seen = _seen_id(alice.get(f"/ucmail/agent/?open={interaction_id}&compose=reply").get_data(True))
    first = post(
        alice, floor.app, f"/ucmail/agent/interactions/{interaction_id}/send", _reply("One.", seen)
    )
    second = post(
        alice, floor.app, f"/ucmail/agent/interactions/{interaction_id}/send", _reply("Two.", seen)
    )

    assert (first.status_code, second.status_code) == (302, 302)
    assert len(smtp_sink.wait_for(2, timeout=30)) == 2
    assert reload(Interaction, interaction_id).agent_id == floor.agent1
