"""Close reasons (issue 12, point 7): per campaign, optional or required; recordings
filter by them; supervision counts today's closes per reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.agent.conftest import Floor, post
from tests.agent.desk_fixtures import Desk, as_other_user
from tests.agent.helpers import assigned, reload
from tests.routing.helpers import session
from ucmail_ext.models import Campaign, Interaction, utcnow
from ucmail_ext.services.admin.campaigns import campaign_as_dict, validate_campaign
from ucmail_ext.services.desk import dispositions, portal
from ucmail_ext.services.supervision import feed

REASONS = "solved\nno answer needed\n  escalated  \nsolved\n"


def _reasons(campaign_id: int, required: bool) -> None:
    campaign = session().get(Campaign, campaign_id)
    campaign.dispositions, campaign.disposition_required = (
        "solved\nno answer needed\nescalated",
        required,
    )
    session().commit()


def test_the_campaign_form_keeps_one_reason_per_line_and_checks_the_required_flag(
    desk: Desk,
) -> None:
    campaign = session().get(Campaign, desk.campaign_id)
    data = campaign_as_dict(campaign)
    data.update(dispositions=REASONS, disposition_required="on", offline_requeue_minutes="15")
    data["password"] = "sink-has-no-login"

    values, errors = validate_campaign(data, campaign)

    assert errors == {}
    assert values is not None
    assert values.columns["dispositions"] == "solved\nno answer needed\nescalated"
    assert values.columns["disposition_required"] is True
    assert values.columns["offline_requeue_minutes"] == 15
    data.update(dispositions="", disposition_required=True)
    _, errors = validate_campaign(data, campaign)
    assert errors["disposition_required"] == "List the close reasons to require one."
    data.update(dispositions="x" * 81, disposition_required=False)
    _, errors = validate_campaign(data, campaign)
    assert "at most 80 characters" in errors["dispositions"]


def test_a_required_reason_must_be_chosen_and_is_stored(desk: Desk) -> None:
    _reasons(desk.campaign_id, required=True)
    interaction_id = assigned(desk, desk.ids["agent1"])
    alice = desk.user("agent1")

    with pytest.raises(dispositions.DispositionError, match="requires one"):
        portal.close(interaction_id, "", user=alice)
    with pytest.raises(dispositions.DispositionError, match="one of the campaign"):
        portal.close(interaction_id, "made up", user=alice)
    assert reload(Interaction, interaction_id).state == "assigned"  # left open

    portal.close(interaction_id, "escalated", user=alice)
    closed = reload(Interaction, interaction_id)
    assert (closed.state, closed.disposition) == ("closed", "escalated")


def test_an_optional_reason_may_be_left_out(desk: Desk) -> None:
    _reasons(desk.campaign_id, required=False)
    interaction_id = assigned(desk, desk.ids["agent1"])

    portal.close(interaction_id, "", user=desk.user("agent1"))

    closed = reload(Interaction, interaction_id)
    assert (closed.state, closed.disposition) == ("closed", "")


def test_supervision_counts_todays_closes_per_reason(desk: Desk) -> None:
    _reasons(desk.campaign_id, required=False)
    alice = desk.user("agent1")
    for reason in ("solved", "solved", "escalated", ""):
        portal.close(assigned(desk, desk.ids["agent1"]), reason, user=alice)
    yesterday = assigned(desk, desk.ids["agent1"])
    portal.close(yesterday, "solved", user=alice)
    old = session().get(Interaction, yesterday)
    old.closed_at = utcnow() - timedelta(days=2)
    session().commit()

    [figures] = feed.campaign_figures([session().get(Campaign, desk.campaign_id)], utcnow())

    assert figures.dispositions == {"solved": 2, "escalated": 1, "": 1}


def test_the_portal_asks_for_the_reason_and_recordings_filter_by_it(
    floor: Floor, client_for
) -> None:  # type: ignore[no-untyped-def]
    _reasons(floor.campaign_id, required=True)
    solved, escalated = (
        assigned(floor, floor.agent1, "Solved one"),
        assigned(floor, floor.agent1, "Hot one"),
    )
    alice = client_for("agent1")
    page = alice.get(f"/ucmail/agent/?open={solved}").get_data(True)
    assert 'id="close-disposition" name="disposition" required' in page

    refused = post(alice, floor.app, f"/ucmail/agent/interactions/{solved}/close", {})
    assert refused.status_code == 400
    assert "choose a close reason" in refused.get_data(True)
    assert reload(Interaction, solved).state == "assigned"
    for interaction_id, reason in ((solved, "solved"), (escalated, "escalated")):
        done = post(
            alice,
            floor.app,
            f"/ucmail/agent/interactions/{interaction_id}/close",
            {"disposition": reason},
        )
        assert done.status_code == 302

    as_other_user()
    supervisor = client_for("supervisor")
    found = supervisor.get("/ucmail/recordings/?disposition=escalated").get_data(True)
    assert "Hot one" in found and "Solved one" not in found
    assert '<option value="escalated" selected>' in found
    live = supervisor.get("/ucmail/supervision/feed").get_json()
    assert live["campaigns"][0]["dispositions"] == {"solved": 1, "escalated": 1}
