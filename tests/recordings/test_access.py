"""Who sees which recordings: agents their campaigns, supervisors theirs, admins all."""

from __future__ import annotations

import pytest

from tests.supervision.factories import (
    add_member,
    add_message,
    make_campaign,
    make_interaction,
    session,
)
from ucmail_ext.models import Campaign, utcnow

RECORDINGS = "/ucmail/recordings"


@pytest.fixture
def two_campaigns(app, users):
    """agent1 works in Sales only; Secret has a conversation with an attachment."""
    with app.app_context():
        sales = make_campaign("Sales")
        secret = make_campaign("Secret")
        add_member(sales, str(users["agent1"].id))
        add_member(secret, str(users["agent2"].id))
        mine = make_interaction(sales, "mine@example.org", "Sales question")
        add_message(mine, "in", "hello", attachments=[("a.txt", "text/plain", b"a")])
        theirs = make_interaction(secret, "theirs@example.org", "Secret question")
        hidden = add_message(theirs, "in", "psst", attachments=[("b.txt", "text/plain", b"b")])
        session().commit()
        return {
            "mine": mine.id,
            "mine_attachment": mine.messages[0].attachments[0].id,
            "theirs": theirs.id,
            "theirs_attachment": hidden.attachments[0].id,
            "sales": sales.id,
            "secret": secret.id,
        }


def subjects(client, query=""):
    html = client.get(f"{RECORDINGS}/{query}").get_data(as_text=True)
    return {s for s in ("Sales question", "Secret question") if s in html}


def urls(ids, which):
    return [
        f"{RECORDINGS}/{ids[which]}",
        f"{RECORDINGS}/{ids[which]}/export.zip",
        f"{RECORDINGS}/{ids[which]}/export.mbox",
        f"{RECORDINGS}/attachments/{ids[which + '_attachment']}",
    ]


def statuses(client, paths):
    codes = []
    for path in paths:
        response = client.get(path)
        codes.append(response.status_code)
        response.close()
    return codes


def test_an_agent_sees_only_their_campaigns_recordings(two_campaigns, client_for):
    agent = client_for("agent1")
    assert subjects(agent) == {"Sales question"}
    assert subjects(agent, f"?campaign={two_campaigns['secret']}") == set()
    assert statuses(agent, urls(two_campaigns, "mine")) == [200, 200, 200, 200]
    assert statuses(agent, urls(two_campaigns, "theirs")) == [404, 404, 404, 404]


def test_an_agent_is_offered_only_their_campaigns(two_campaigns, client_for):
    html = client_for("agent1").get(f"{RECORDINGS}/").get_data(as_text=True)
    assert ">Sales</option>" in html
    assert ">Secret</option>" not in html


def test_a_supervisor_sees_every_campaign_by_default(two_campaigns, client_for):
    boss = client_for("supervisor")
    assert subjects(boss) == {"Sales question", "Secret question"}
    assert statuses(boss, urls(two_campaigns, "theirs")) == [200, 200, 200, 200]


def test_a_supervisor_scoped_to_members_sees_only_their_campaigns(
    app, users, two_campaigns, client_for
):
    app.config["UCMAIL_SUPERVISOR_SCOPE"] = "members"
    with app.app_context():
        secret = session().get(Campaign, two_campaigns["secret"])
        add_member(secret, str(users["supervisor"].id))
        session().commit()
    boss = client_for("supervisor")
    assert subjects(boss) == {"Secret question"}
    assert statuses(boss, urls(two_campaigns, "mine")) == [404, 404, 404, 404]
    assert statuses(boss, urls(two_campaigns, "theirs")) == [200, 200, 200, 200]


def test_an_admin_sees_everything(app, two_campaigns, client_for):
    app.config["UCMAIL_SUPERVISOR_SCOPE"] = "members"
    admin = client_for("admin")
    assert subjects(admin) == {"Sales question", "Secret question"}
    assert statuses(admin, urls(two_campaigns, "theirs")) == [200, 200, 200, 200]


def test_deleted_campaigns_recordings_stay_searchable(app, two_campaigns, client_for):
    with app.app_context():
        session().get(Campaign, two_campaigns["secret"]).deleted_at = utcnow()
        session().commit()
    html = client_for("admin").get(f"{RECORDINGS}/").get_data(as_text=True)
    assert "Secret question" in html
    assert "Secret (deleted)" in html


def test_anonymous_visitors_are_sent_to_log_in(app, two_campaigns):
    client = app.test_client()
    assert statuses(client, [f"{RECORDINGS}/", *urls(two_campaigns, "mine")]) == [302] * 5


def test_an_unknown_recording_is_not_found(two_campaigns, client_for):
    assert statuses(client_for("admin"), [f"{RECORDINGS}/999999"]) == [404]
