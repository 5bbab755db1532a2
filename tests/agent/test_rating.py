"""Rating: the motivation title and 1-5 signed links in the answer; a click keeps the score."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from urllib.parse import urlsplit

from tests.agent.conftest import Floor, post
from tests.agent.helpers import assigned
from tests.fixtures.servers import SmtpSink
from tests.routing.helpers import session
from ucmail_ext.crypto import make_token
from ucmail_ext.models import Campaign, Interaction, Rating, utcnow
from ucmail_ext.services.desk import rating


def rated_reply(floor: Floor, client_for, smtp_sink: SmtpSink) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    campaign = session().get(Campaign, floor.campaign_id)
    campaign.rating_enabled = True
    campaign.rating_motivation = "Rate our service"
    campaign.rating_thanks = "Thanks, your opinion makes us better!"
    session().commit()
    interaction_id = assigned(floor, floor.agent1)
    post(
        client_for("agent1"),
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {"kind": "reply", "to": "customer@example.org", "subject": "Re: Help", "body": "Done."},
    )
    mail = message_from_bytes(smtp_sink.wait_for(1)[0].raw, policy=policy.default)
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    links = re.findall(r'href="(http://helpdesk\.test/ucmail/tracking/rate/[^"]+)"', html)
    assert "Rate our service" in html and "Rate our service" in text
    return html, links


def test_a_rated_campaigns_answer_carries_five_signed_links(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    _, links = rated_reply(floor, client_for, smtp_sink)

    assert [link.rsplit("/", 1)[1] for link in links] == ["1", "2", "3", "4", "5"]


def test_a_click_records_the_score_and_a_later_click_updates_it(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    _, links = rated_reply(floor, client_for, smtp_sink)
    anonymous = floor.app.test_client()

    first = anonymous.get(urlsplit(links[4]).path)
    again = anonymous.get(urlsplit(links[1]).path)

    assert first.status_code == again.status_code == 200
    assert "Thanks, your opinion makes us better!" in again.get_data(True)
    (only,) = session().query(Rating).all()
    assert only.score == 2
    assert only.agent_id == floor.agent1
    summary = rating.campaign_rating_summary(floor.campaign_id)
    assert (summary.count, summary.average, summary.by_score) == (1, 2.0, {2: 1})


def test_a_forged_or_foreign_token_records_nothing(floor: Floor) -> None:
    interaction_id = assigned(floor, floor.agent1)
    customers_message = session().get(Interaction, interaction_id).messages[0].id

    assert not rating.record_rating("garbage", 5).ok
    assert not rating.record_rating(make_token("pixel", {"m": customers_message}), 5).ok
    assert not rating.record_rating(make_token("rating", {"m": customers_message}), 5).ok
    assert not rating.record_rating(make_token("rating", {"m": True}), 5).ok
    assert session().query(Rating).count() == 0


def test_a_score_outside_one_to_five_is_refused(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    _, links = rated_reply(floor, client_for, smtp_sink)
    token = urlsplit(links[0]).path.split("/")[-2]

    outcome = rating.record_rating(token, 9)

    assert (outcome.ok, outcome.error) == (False, "A rating goes from 1 to 5.")
    response = floor.app.test_client().get(f"/ucmail/tracking/rate/{token}/0")
    assert response.status_code == 400
    assert session().query(Rating).count() == 0


def test_without_rating_the_answer_has_no_links(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1)
    post(
        client_for("agent1"),
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {"kind": "reply", "to": "customer@example.org", "subject": "Re: Help", "body": "Done."},
    )

    assert b"/rate/" not in smtp_sink.wait_for(1)[0].raw


def test_ratings_since_a_moment(floor: Floor, client_for, smtp_sink: SmtpSink) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    _, links = rated_reply(floor, client_for, smtp_sink)
    floor.app.test_client().get(urlsplit(links[3]).path)

    later = rating.campaign_rating_summary(floor.campaign_id, since=utcnow() + timedelta(hours=1))

    assert (later.count, later.average) == (0, None)
