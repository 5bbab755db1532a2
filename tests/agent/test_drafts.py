"""Drafts on the server (issue 12, point 6): saved as the agent types, restored when
the interaction is reopened (on another device too), gone on send or on discard."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from tests.agent.conftest import Floor, post, post_json
from tests.agent.desk_fixtures import Desk, as_other_user
from tests.agent.helpers import assigned
from tests.fixtures.app import USERS, login
from tests.fixtures.servers import SmtpSink
from tests.routing.helpers import session
from tests.supervision.factories import add_message
from ucmail_ext.models import Draft, Interaction
from ucmail_ext.services.desk import drafts, portal


def _drafts() -> list[Draft]:
    session().expire_all()
    return list(session().scalars(select(Draft)))


def test_one_draft_per_agent_and_interaction_overwritten_as_they_type(desk: Desk) -> None:
    interaction_id = assigned(desk, desk.ids["agent1"])
    alice = desk.user("agent1")

    drafts.save(interaction_id, drafts.DraftFields("reply", to="c@example.org", body="Hel"), alice)
    drafts.save(
        interaction_id,
        drafts.DraftFields("reply", to="c@example.org", body="Hello there", seen_message_id=9),
        alice,
    )

    [row] = _drafts()
    assert (row.agent_id, row.body, row.to_addrs) == (
        desk.ids["agent1"],
        "Hello there",
        "c@example.org",
    )
    assert row.seen_message_id == 0  # what was seen when the draft began is kept
    assert drafts.of(interaction_id, alice).body == "Hello there"
    drafts.discard(interaction_id, alice)
    assert _drafts() == []


def test_a_draft_in_someone_elses_interaction_is_refused(desk: Desk) -> None:
    interaction_id = assigned(desk, desk.ids["agent1"])

    with pytest.raises(portal.NotAllowed):
        drafts.save(interaction_id, drafts.DraftFields("reply", body="x"), desk.user("agent2"))
    with pytest.raises(drafts.DraftError):
        drafts.save(interaction_id, drafts.DraftFields("bogus", body="x"), desk.user("agent1"))
    assert _drafts() == []


def _field(page: str, name: str) -> str:
    found = re.search(rf'id="composer-{name}" name="{name}" value="([^"]*)"', page)
    assert found, name
    return html.unescape(found.group(1))


def _body(page: str) -> str:
    found = re.search(r'<textarea id="composer-body" name="body">(.*?)</textarea>', page, re.S)
    assert found
    return html.unescape(found.group(1))


def test_a_draft_typed_on_one_device_is_there_on_another(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1, "Invoice")
    laptop = client_for("agent1")
    url = f"/ucmail/agent/interactions/{interaction_id}/draft"
    assert laptop.post(url, json={"kind": "reply", "body": "x"}).status_code == 400  # no CSRF

    saved = post_json(
        laptop,
        floor.app,
        url,
        {
            "kind": "reply",
            "to": "customer@example.org",
            "cc": "boss@example.org",
            "bcc": "audit@example.org",
            "subject": "Re: Invoice",
            "body": "Half-written answer",
            "seen_message_id": 1,
        },
    )
    assert saved.status_code == 200 and saved.get_json()["saved_at"]
    as_other_user()
    phone = floor.app.test_client()
    login(phone, floor.app, USERS["agent1"][0])

    page = phone.get(f"/ucmail/agent/?open={interaction_id}").get_data(True)

    assert _body(page) == "Half-written answer"
    assert (_field(page, "cc"), _field(page, "bcc")) == ("boss@example.org", "audit@example.org")
    assert "Draft restored" in page


def test_sending_removes_the_draft_and_discard_does_too(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    first, second = assigned(floor, floor.agent1, "One"), assigned(floor, floor.agent1, "Two")
    alice = client_for("agent1")
    for interaction_id in (first, second):
        post_json(
            alice,
            floor.app,
            f"/ucmail/agent/interactions/{interaction_id}/draft",
            {"kind": "reply", "to": "customer@example.org", "body": "Draft text"},
        )
    assert len(_drafts()) == 2

    sent = post(
        alice,
        floor.app,
        f"/ucmail/agent/interactions/{first}/send",
        {"kind": "reply", "to": "customer@example.org", "subject": "Re: One", "body": "Done."},
    )
    discarded = post(
        alice,
        floor.app,
        f"/ucmail/agent/interactions/{second}/draft/discard",
        {"kind": "reply", "body": "Draft text"},
    )

    assert (sent.status_code, discarded.status_code) == (302, 302)
    assert _drafts() == []
    assert "Draft text" not in alice.get(f"/ucmail/agent/?open={second}").get_data(True)
    smtp_sink.wait_for(1, timeout=30)


def test_a_restored_draft_still_catches_what_arrived_since_it_began(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1, "Invoice")
    alice = client_for("agent1")
    newest = max(m.id for m in session().get(Interaction, interaction_id).messages)
    post_json(
        alice,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/draft",
        {
            "kind": "reply",
            "to": "customer@example.org",
            "body": "Answer",
            "seen_message_id": newest,
        },
    )
    add_message(
        session().get(Interaction, interaction_id),
        text="One more thing",
        message_id="late@example.org",
    )
    session().commit()

    page = alice.get(f"/ucmail/agent/?open={interaction_id}").get_data(True)
    seen = re.search(r'name="seen_message_id" id="composer-seen" value="(\d+)"', page).group(1)
    warned = post(
        alice,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {
            "kind": "reply",
            "to": "customer@example.org",
            "subject": "Re: Invoice",
            "body": _body(page),
            "seen_message_id": seen,
        },
    )

    assert int(seen) == newest
    assert warned.status_code == 409 and "One more thing" in warned.get_data(True)
    assert smtp_sink.count == 0
