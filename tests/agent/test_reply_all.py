"""Reply all, Cc and Bcc (issue 12, point 5): reply all keeps the original To/Cc minus
the campaign's own addresses; Bcc reaches its recipients without showing them; every
address is validated as before."""

from __future__ import annotations

import html
import re
from email import message_from_bytes, policy

from tests.agent.conftest import Floor, post
from tests.agent.helpers import assigned
from tests.fixtures.servers import SmtpSink
from tests.routing.helpers import session
from ucmail_ext.models import Interaction, Message


def _field(page: str, name: str) -> str:
    found = re.search(rf'id="composer-{name}" name="{name}" value="([^"]*)"', page)
    assert found, name
    return html.unescape(found.group(1))


def _group_mail(floor: Floor) -> int:
    """A customer wrote to the campaign, a colleague of theirs and a manager in Cc."""
    interaction_id = assigned(floor, floor.agent1, "Group question", customer="carla@example.org")
    first = session().get(Interaction, interaction_id).messages[0]
    first.to_addrs = "Support <SUPPORT@helpdesk.test>, Dan <dan@example.org>"
    first.cc_addrs = "manager@example.org, support@helpdesk.test, carla@example.org"
    session().commit()
    return interaction_id


def test_reply_all_keeps_to_and_cc_without_the_campaigns_own_address(
    floor: Floor, client_for
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = _group_mail(floor)

    page = (
        client_for("agent1")
        .get(f"/ucmail/agent/?open={interaction_id}&compose=replyall")
        .get_data(True)
    )

    assert "<h2>Reply all</h2>" in page
    assert _field(page, "to") == "carla@example.org, dan@example.org"
    assert _field(page, "cc") == "manager@example.org"
    assert _field(page, "bcc") == ""


def test_cc_and_bcc_reach_their_recipients_and_bcc_stays_hidden(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = _group_mail(floor)
    alice = client_for("agent1")

    sent = post(
        alice,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {
            "kind": "replyall",
            "to": "carla@example.org, dan@example.org",
            "cc": "manager@example.org",
            "bcc": "audit@example.org",
            "subject": "Re: Group question",
            "body": "Answer for everyone.",
        },
    )

    assert sent.status_code == 302
    [mail] = smtp_sink.wait_for(1, timeout=30)
    assert sorted(mail.rcpt_tos) == [
        "audit@example.org",
        "carla@example.org",
        "dan@example.org",
        "manager@example.org",
    ]
    parsed = message_from_bytes(mail.raw, policy=policy.default)
    assert parsed["Cc"] == "manager@example.org"
    assert parsed["Bcc"] is None and b"audit@example.org" not in mail.raw
    stored = session().query(Message).filter(Message.direction == "out").one()
    assert (stored.kind, stored.bcc_addrs) == ("reply", "audit@example.org")


def test_a_bad_bcc_address_is_a_form_error_and_nothing_is_stored(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = _group_mail(floor)

    refused = post(
        client_for("agent1"),
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {
            "kind": "reply",
            "to": "carla@example.org",
            "bcc": "audit@example.org\r\nX: y",
            "subject": "Re: Group question",
            "body": "Typed text stays.",
        },
    )

    assert refused.status_code == 400
    page = refused.get_data(True)
    assert 'id="error-bcc"' in page and "not a valid email address" in page
    assert "Typed text stays." in page
    assert session().query(Message).filter(Message.direction == "out").count() == 0
    assert smtp_sink.count == 0
