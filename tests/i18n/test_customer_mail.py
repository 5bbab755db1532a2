"""What a customer reads in a mail ucmail writes is in the campaign's language."""

from __future__ import annotations

from html import unescape

from tests.agent.conftest import Floor
from tests.agent.helpers import assigned
from tests.i18n.helpers import ENGLISH
from tests.routing.helpers import session
from ucmail_ext.models import Campaign


def _forward_draft(floor: Floor, client_for) -> str:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1)
    page = client_for("agent1").get(
        f"/ucmail/agent/?open={interaction_id}&compose=forward", headers=ENGLISH
    )
    body = page.get_data(True).split('id="composer-body"', 1)[1].split("</textarea>", 1)[0]
    return unescape(body.split(">", 1)[1])


def test_the_forwarded_message_header_is_in_the_campaigns_language(
    floor: Floor, client_for
) -> None:  # type: ignore[no-untyped-def]
    campaign = session().get(Campaign, floor.campaign_id)
    campaign.language, campaign.timezone = "es", "America/Montevideo"
    session().commit()

    body = _forward_draft(floor, client_for)

    assert "---------- Mensaje reenviado ----------" in body
    assert "\nDe: " in body and "\nFecha: " in body and "\nAsunto: Help" in body
    assert "\nPara: " in body and "Forwarded message" not in body


def test_an_english_campaign_forwards_with_the_english_header(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    body = _forward_draft(floor, client_for)
    assert "---------- Forwarded message ----------" in body
    assert "\nFrom: " in body and "\nSubject: Help" in body
