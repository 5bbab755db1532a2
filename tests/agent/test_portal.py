"""The agent portal: the tray, one conversation, search, answering and closing."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

from tests.agent.conftest import Floor, post, post_json
from tests.agent.helpers import add_file, assigned, reload
from tests.fixtures.app import USERS, login
from tests.fixtures.servers import SmtpSink
from tests.routing.helpers import arrive, session
from ucmail_ext.models import (
    AgentState,
    Campaign,
    Interaction,
    Message,
    Template,
    utcnow,
)
from ucmail_ext.services.desk import chat, presence, routing


def test_the_tray_holds_only_my_assigned_interactions(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    mine = assigned(floor, floor.agent1, "Mine")
    assigned(floor, floor.agent2, "Not mine")
    arrive(session().get(Campaign, floor.campaign_id), "Queued")

    client = client_for("agent1")
    data = client.get("/ucmail/agent/tray.json").get_json()

    assert [item["id"] for item in data["items"]] == [mine]
    assert data["items"][0]["subject"] == "Mine"
    assert data["items"][0]["awaiting_answer"] is True


def test_a_new_arrival_shows_in_the_tray_feed(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for("agent1")
    assert client.get("/ucmail/agent/tray.json").get_json()["items"] == []

    waiting = arrive(session().get(Campaign, floor.campaign_id), "Fresh question")
    routing.route(floor.campaign_id)

    items = client.get("/ucmail/agent/tray.json").get_json()["items"]
    assert [item["id"] for item in items] == [waiting.id]


def test_opening_the_portal_puts_the_agent_online(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    state = session().get(AgentState, floor.agent1)
    state.status, state.last_heartbeat_at = "offline", None
    session().commit()

    page = client_for("agent1").get("/ucmail/agent/")

    assert page.status_code == 200
    assert presence.is_routable(reload(AgentState, floor.agent1))


def test_an_open_interaction_shows_the_conversation_and_customer(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(
        floor, floor.agent1, "<b>Broken</b> printer", customer="carla@example.org"
    )

    html = client_for("agent1").get(f"/ucmail/agent/?open={interaction_id}").get_data(True)

    assert "&lt;b&gt;Broken&lt;/b&gt; printer" in html
    assert "<b>Broken</b>" not in html
    assert "carla@example.org" in html
    assert "Carla Customer" in html
    assert "Support" in html
    assert "Hello, I need help." in html


def test_an_agent_cannot_open_another_campaigns_interaction(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    other = Campaign(name="Secret", email_address="secret@example.com")
    session().add(other)
    session().commit()
    hidden = arrive(other, "Private matter")

    client = client_for("agent1")

    assert client.get(f"/ucmail/agent/?open={hidden.id}").status_code == 404
    assert client.get("/ucmail/agent/?q=Private").get_data(True).count("Private matter") == 0
    response = post(client, floor.app, f"/ucmail/agent/interactions/{hidden.id}/close")
    assert response.status_code == 404


def test_search_finds_by_campaign_email_subject_and_name(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    campaign = session().get(Campaign, floor.campaign_id)
    item = arrive(campaign, "Invoice 2024-17", customer="zed@shop.example")
    item.customer_name = "Zoe Zebra"
    session().commit()
    client = client_for("agent2")

    for query in ("support", "ZED@SHOP", "invoice 2024", "zoe zeb"):
        html = client.get("/ucmail/agent/", query_string={"q": query}).get_data(True)
        assert "Invoice 2024-17" in html, query
    html = client.get("/ucmail/agent/", query_string={"q": "100%_"}).get_data(True)
    assert "Invoice 2024-17" not in html


def test_the_reply_editor_starts_with_the_signature(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    signature = Template(name="Sig", body_text="Regards,\n${agent} - ${campaign}")
    session().add(signature)
    session().flush()
    session().get(Campaign, floor.campaign_id).signature_template_id = signature.id
    session().commit()
    interaction_id = assigned(floor, floor.agent1)

    html = (
        client_for("agent1")
        .get(f"/ucmail/agent/?open={interaction_id}&compose=reply")
        .get_data(True)
    )

    assert "-- \nRegards,\nAlice Agent - Support" in html
    assert f"Re: Help [#{interaction_id}]" in html


def _team_signature(floor: Floor) -> Template:
    """A signature written the way admins write them: with its own "--" line."""
    signature = Template(
        name="Team sig",
        body_text="--\nThe team",
        body_html="<p>--<br>The team</p>",
        campaign_id=floor.campaign_id,
    )
    session().add(signature)
    session().flush()
    session().get(Campaign, floor.campaign_id).signature_template_id = signature.id
    session().commit()
    return signature


def test_the_editor_starts_with_one_separator_and_one_signature(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    _team_signature(floor)
    interaction_id = assigned(floor, floor.agent1)
    client = client_for("agent1")

    for kind in ("reply", "history", "forward"):
        html = client.get(f"/ucmail/agent/?open={interaction_id}&compose={kind}").get_data(True)
        body = html.split('id="composer-body"', 1)[1].split("</textarea>", 1)[0]
        assert re.findall(r"^--\s*$", body, re.M) == ["-- "], (kind, body)
        assert "-- \nThe team" in body, kind
    new = client.get(f"/ucmail/agent/new?campaign={floor.campaign_id}").get_data(True)
    body = new.split('id="composer-body"', 1)[1].split("</textarea>", 1)[0]
    assert re.findall(r"^--\s*$", body, re.M) == ["-- "]
    assert "-- \nThe team" in body


def test_inserting_the_signature_template_brings_one_separator(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    signature = _team_signature(floor)
    interaction_id = assigned(floor, floor.agent1)

    data = (
        client_for("agent1")
        .get(
            f"/ucmail/agent/templates/{signature.id}.json",
            query_string={"campaign": floor.campaign_id, "interaction": interaction_id},
        )
        .get_json()
    )

    assert data["signature"] is True
    assert data["body"] == "-- \nThe team"


def test_a_reply_is_stored_then_sent_with_threading_headers(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1, "Printer")
    question = reload(Interaction, interaction_id).messages[0]
    client = client_for("agent1")

    response = post(
        client,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {
            "kind": "reply",
            "to": "customer@example.org",
            "subject": f"Re: Printer [#{interaction_id}]",
            "body": "Turn it off and on.",
        },
    )

    assert response.status_code == 302
    (received,) = smtp_sink.wait_for(1)
    mail = message_from_bytes(received.raw, policy=policy.default)
    assert mail["In-Reply-To"] == f"<{question.message_id}>"
    assert mail["References"] == f"<{question.message_id}>"
    assert mail["Subject"] == f"Re: Printer [#{interaction_id}]"
    assert "Turn it off and on." in mail.get_body(("plain",)).get_content()
    interaction = reload(Interaction, interaction_id)
    reply = interaction.messages[-1]
    assert (reply.direction, reply.status, reply.kind) == ("out", "sent", "reply")
    assert interaction.first_response_at is not None


def test_a_refused_reply_keeps_the_text_and_shows_the_servers_answer(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1)
    smtp_sink.mode = "reject"
    client = client_for("agent1")

    post(
        client,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {"kind": "reply", "to": "nobody@example.org", "subject": "Re", "body": "Precious words"},
    )
    html = client.get(f"/ucmail/agent/?open={interaction_id}").get_data(True)

    assert "Precious words" in html
    assert "Not sent: " in html
    assert "550 5.1.1 Recipient address rejected: no such user" in html
    assert "Send again" in html


def test_a_subject_with_a_line_break_is_refused_and_nothing_typed_is_lost(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1)
    client = client_for("agent1")

    response = post(
        client,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {
            "kind": "reply",
            "to": "customer@example.org",
            "subject": "Hi\r\nBcc: victim@example.org",
            "body": "Long careful answer",
        },
    )

    html = response.get_data(True)
    assert response.status_code == 400
    assert "line breaks" in html
    assert "Long careful answer" in html
    assert smtp_sink.count == 0
    assert len(reload(Interaction, interaction_id).messages) == 1


def test_a_reply_with_unfilled_variables_asks_before_it_leaves(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1)
    client = client_for("agent1")
    form = {
        "kind": "reply",
        "to": "customer@example.org",
        "subject": "Your ${ plan } plan",
        "body": "Hello ${name},\nyour ${plan} plan renews on ${date}. ${name}!",
    }

    response = post(client, floor.app, f"/ucmail/agent/interactions/{interaction_id}/send", form)

    html = response.get_data(True)
    assert response.status_code == 400
    assert "these variables are not filled in: ${plan}, ${name}, ${date}" in html
    assert 'name="confirm_unfilled" value="yes"' in html
    assert "Hello ${name}," in html  # what was typed stays in the editor
    assert len(reload(Interaction, interaction_id).messages) == 1
    assert smtp_sink.count == 0

    response = post(
        client,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {**form, "confirm_unfilled": "yes"},
    )

    assert response.status_code == 302
    (received,) = smtp_sink.wait_for(1)
    mail = message_from_bytes(received.raw, policy=policy.default)
    assert "your ${plan} plan" in mail.get_body(("plain",)).get_content()


def test_a_new_interaction_with_unfilled_variables_asks_too(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    client = client_for("agent1")
    form = {"to": "someone@example.org", "subject": "Offer", "body": "Dear ${customer_name}"}
    url = f"/ucmail/agent/new?campaign={floor.campaign_id}"

    refused = post(client, floor.app, url, form)
    sent = post(client, floor.app, url, {**form, "confirm_unfilled": "yes"})

    assert refused.status_code == 400
    assert "${customer_name}" in refused.get_data(True)
    assert 'id="composer-send-anyway"' in refused.get_data(True)
    assert sent.status_code == 302
    (received,) = smtp_sink.wait_for(1)
    assert list(received.rcpt_tos) == ["someone@example.org"]


def test_a_reply_without_placeholders_is_not_questioned(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1)

    response = post(
        client_for("agent1"),
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {
            "kind": "reply",
            "to": "customer@example.org",
            "subject": "Re",
            "body": "It costs $5 {ok}",
        },
    )

    assert response.status_code == 302


def test_reply_with_history_quotes_the_conversation(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1, text="First line\nSecond line")

    html = (
        client_for("agent1")
        .get(f"/ucmail/agent/?open={interaction_id}&compose=history")
        .get_data(True)
    )

    assert (
        "Carla Customer &lt;customer@example.org&gt; wrote:\n&gt; First line\n&gt; Second line"
        in html
    )


def test_forward_to_several_addresses_includes_the_original_attachments(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1, "Contract")
    original = reload(Interaction, interaction_id).messages[0]
    add_file(original, "contract.pdf", b"%PDF-1.4 signed", "application/pdf")
    client = client_for("agent1")
    draft = client.get(f"/ucmail/agent/?open={interaction_id}&compose=forward").get_data(True)
    assert "contract.pdf" in draft

    post(
        client,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {
            "kind": "forward",
            "to": "legal@example.org, boss@example.org",
            "subject": f"Fwd: Contract [#{interaction_id}]",
            "body": "FYI",
            "source_message_id": str(original.id),
        },
    )

    (received,) = smtp_sink.wait_for(1)
    assert set(received.rcpt_tos) == {"legal@example.org", "boss@example.org"}
    mail = message_from_bytes(received.raw, policy=policy.default)
    files = {part.get_filename(): part.get_content() for part in mail.iter_attachments()}
    assert files == {"contract.pdf": b"%PDF-1.4 signed"}
    assert mail["In-Reply-To"] is None


def _thanks_after_a_file(floor: Floor, interaction_id: int) -> tuple[int, int]:
    """A customer mail with a file, then the customer's plain "thank you"."""
    interaction = reload(Interaction, interaction_id)
    original = interaction.messages[0]
    add_file(original, "invoice.pdf", b"%PDF-1.4 invoice", "application/pdf")
    thanks = Message(
        campaign_id=floor.campaign_id,
        direction="in",
        status="received",
        message_id=f"thanks-{interaction_id}@example.org",
        from_addr="customer@example.org",
        to_addrs="support@helpdesk.test",
        subject="Re: Invoice",
        text="Thanks a lot!",
    )
    interaction.messages.append(thanks)
    session().commit()
    return original.id, thanks.id


def _forward(floor: Floor, client, interaction_id: int, source: str) -> None:  # type: ignore[no-untyped-def]
    response = post(
        client,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {
            "kind": "forward",
            "to": "accounts@example.org",
            "subject": f"Fwd: Invoice [#{interaction_id}]",
            "body": "FYI",
            "source_message_id": source,
        },
    )
    assert response.status_code == 302


def test_the_default_forward_carries_the_newest_files_not_the_last_thank_you(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1, "Invoice")
    original_id, _ = _thanks_after_a_file(floor, interaction_id)
    client = client_for("agent1")

    draft = client.get(f"/ucmail/agent/?open={interaction_id}&compose=forward").get_data(True)
    assert f'name="source_message_id" value="{original_id}"' in draft
    assert "invoice.pdf" in draft
    _forward(floor, client, interaction_id, str(original_id))

    (received,) = smtp_sink.wait_for(1)
    mail = message_from_bytes(received.raw, policy=policy.default)
    files = {part.get_filename(): part.get_content() for part in mail.iter_attachments()}
    assert files == {"invoice.pdf": b"%PDF-1.4 invoice"}


def test_a_forward_without_a_chosen_message_still_carries_the_files(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1, "Invoice")
    _thanks_after_a_file(floor, interaction_id)

    _forward(floor, client_for("agent1"), interaction_id, "")

    (received,) = smtp_sink.wait_for(1)
    mail = message_from_bytes(received.raw, policy=policy.default)
    assert [part.get_filename() for part in mail.iter_attachments()] == ["invoice.pdf"]


def test_each_message_has_its_own_forward_which_forwards_that_message(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1, "Invoice")
    original_id, thanks_id = _thanks_after_a_file(floor, interaction_id)
    client = client_for("agent1")

    page = client.get(f"/ucmail/agent/?open={interaction_id}").get_data(True)
    assert f'id="forward-{original_id}"' in page
    assert f'id="forward-{thanks_id}"' in page
    draft = client.get(
        f"/ucmail/agent/?open={interaction_id}&compose=forward&source={thanks_id}"
    ).get_data(True)
    assert f'name="source_message_id" value="{thanks_id}"' in draft
    assert "Thanks a lot!" in draft
    assert "forwarded-file" not in draft
    _forward(floor, client, interaction_id, str(thanks_id))

    (received,) = smtp_sink.wait_for(1)
    mail = message_from_bytes(received.raw, policy=policy.default)
    assert list(mail.iter_attachments()) == []


def test_a_new_interaction_with_an_upload_lands_in_my_tray(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    import io

    client = client_for("agent1")
    response = post(
        client,
        floor.app,
        f"/ucmail/agent/new?campaign={floor.campaign_id}",
        {
            "to": "lead@example.org",
            "subject": "Our offer",
            "body": "See attached.",
            "files": (io.BytesIO(b"price list"), "prices.txt", "text/plain"),
        },
        content_type="multipart/form-data",
    )

    assert response.status_code == 302
    (received,) = smtp_sink.wait_for(1)
    mail = message_from_bytes(received.raw, policy=policy.default)
    new = session().query(Interaction).filter_by(origin="outbound").one()
    assert mail["Subject"] == f"Our offer [#{new.id}]"
    assert [p.get_filename() for p in mail.iter_attachments()] == ["prices.txt"]
    items = client.get("/ucmail/agent/tray.json").get_json()["items"]
    assert [item["id"] for item in items] == [new.id]


def test_a_new_interaction_needs_a_campaign_of_mine(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    other = Campaign(name="Other", email_address="other@example.com")
    session().add(other)
    session().commit()

    response = post(
        client_for("agent1"),
        floor.app,
        f"/ucmail/agent/new?campaign={other.id}",
        {"to": "x@example.org", "subject": "Hi", "body": "."},
    )

    assert response.status_code == 404


def test_a_new_interaction_needs_an_enabled_campaign(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    session().get(Campaign, floor.campaign_id).enabled = False
    session().commit()

    response = post(
        client_for("agent1"),
        floor.app,
        f"/ucmail/agent/new?campaign={floor.campaign_id}",
        {"to": "x@example.org", "subject": "Hi", "body": "."},
    )

    assert response.status_code == 404


def test_closing_frees_the_agent_for_the_next_in_queue(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    campaign = session().get(Campaign, floor.campaign_id)
    campaign.max_per_agent = 1
    session().get(AgentState, floor.agent2).status = "break"
    session().commit()
    first = arrive(campaign, "first")
    second = arrive(campaign, "second")
    routing.route(campaign.id)
    assert reload(Interaction, first.id).agent_id == floor.agent1

    response = post(client_for("agent1"), floor.app, f"/ucmail/agent/interactions/{first.id}/close")

    assert response.status_code == 302
    assert reload(Interaction, first.id).state == "closed"
    assert reload(Interaction, second.id).agent_id == floor.agent1


def test_another_agents_interaction_cannot_be_closed(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    theirs = assigned(floor, floor.agent2)

    response = post(client_for("agent1"), floor.app, f"/ucmail/agent/interactions/{theirs}/close")

    assert response.status_code == 403
    assert reload(Interaction, theirs).state == "assigned"


def test_a_reply_to_a_closed_interaction_reopens_it_for_me(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent2)
    closed = reload(Interaction, interaction_id)
    closed.state, closed.closed_at = "closed", utcnow()
    session().commit()

    post(
        client_for("agent1"),
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {
            "kind": "reply",
            "to": "customer@example.org",
            "subject": "Re: Help",
            "body": "One more thing",
        },
    )

    reopened = reload(Interaction, interaction_id)
    assert (reopened.state, reopened.agent_id, reopened.closed_at) == (
        "assigned",
        floor.agent1,
        None,
    )


def test_break_and_back_to_work(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for("agent1")

    post(client, floor.app, "/ucmail/agent/status", {"status": "break", "reason": "Lunch"})
    state = reload(AgentState, floor.agent1)
    assert (state.status, state.break_reason) == ("break", "Lunch")
    assert presence.display_status(state) == "Free on break"

    post(client, floor.app, "/ucmail/agent/status", {"status": "free"})
    assert reload(AgentState, floor.agent1).status == "free"


def test_the_heartbeat_mirrors_the_screen_and_delivers_chat(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    import json

    supervisor_note = chat.send_to_agent("99", floor.agent1, "Please check #12")
    client = client_for("agent1")

    answer = post_json(
        client,
        floor.app,
        "/ucmail/agent/heartbeat",
        {
            "screen": {
                "open_interaction_id": 12,
                "view": "compose",
                "draft_subject": "Re: x",
                "draft_body": "typing...",
                "recipients": "c@example.org",
                "extra": "dropped",
            }
        },
    ).get_json()

    assert answer["logged_out"] is False
    assert [m["body"] for m in answer["chat"]] == ["Please check #12"]
    screen = json.loads(reload(AgentState, floor.agent1).screen)
    assert screen == {
        "open_interaction_id": 12,
        "view": "compose",
        "draft_subject": "Re: x",
        "draft_body": "typing...",
        "recipients": "c@example.org",
    }
    post_json(client, floor.app, "/ucmail/agent/chat/read", {"up_to": supervisor_note.id})
    reply = post_json(client, floor.app, "/ucmail/agent/chat", {"body": "On it"}).get_json()
    assert reply["message"]["direction"] == "to_supervisor"
    assert chat.unread_for_agent(floor.agent1) == []


def test_the_portal_shows_the_newest_chat_messages(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    for n in range(1, 261):
        chat.send_to_agent("99", floor.agent1, f"note number {n}.")

    html = client_for("agent1").get("/ucmail/agent/").get_data(True)

    assert "note number 260." in html
    assert "note number 211." in html
    assert "note number 210." not in html
    assert html.index("note number 211.") < html.index("note number 260.")


def test_the_heartbeat_beats_three_times_per_timeout_within_1_to_5_seconds(floor: Floor) -> None:
    config = floor.app.config
    for timeout, expected in ((60, 5000), (9, 3000), (1, 1000)):
        config["UCMAIL_HEARTBEAT_TIMEOUT"] = timeout
        assert presence.heartbeat_interval_ms() == expected, timeout


def test_a_forced_logout_ends_the_portal_session(floor: Floor, app, client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for("agent1")
    assert client.get("/ucmail/agent/").status_code == 200

    presence.force_logout(floor.agent1, by="99")

    beat = post_json(client, floor.app, "/ucmail/agent/heartbeat", {"screen": {}})
    assert beat.status_code == 401
    assert beat.get_json()["logged_out"] is True
    page = client.get("/ucmail/agent/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    login(client, app, USERS["agent1"][0])
    assert client.get("/ucmail/agent/").status_code == 200


def test_downloads_are_attachments_never_sniffed_and_svg_never_renders(
    floor: Floor, client_for
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1)
    message = reload(Interaction, interaction_id).messages[0]
    svg = add_file(message, "logo.svg", b"<svg onload='alert(1)'/>", "image/svg+xml")
    report = add_file(message, "résumé.pdf", b"%PDF", "application/pdf")
    client = client_for("agent1")

    response = client.get(f"/ucmail/agent/attachments/{svg.id}")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()
    response = client.get(f"/ucmail/agent/attachments/{report.id}")
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9.pdf" in response.headers["Content-Disposition"]
    response.close()
    other = client_for("agent3").get(f"/ucmail/agent/attachments/{report.id}")
    assert other.status_code == 404


def test_mail_html_is_sanitized_and_framed_without_scripts(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1)
    message = reload(Interaction, interaction_id).messages[0]
    message.html = (
        '<p onclick="steal()">Hi</p><script>alert(1)</script>'
        '<a href="javascript:alert(2)">x</a><img src="https://tracker.example/p.gif">'
    )
    session().commit()

    html = client_for("agent1").get(f"/ucmail/agent/?open={interaction_id}").get_data(True)

    frame = html[html.index("<iframe") : html.index("</iframe>")]
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame
    assert "allow-scripts" not in frame and "allow-same-origin" not in frame
    assert "script" not in frame.lower().replace("allow-scripts", "")
    assert "onclick" not in frame and "javascript:" not in frame
    assert "https://tracker.example/p.gif" not in frame.split("data-remote-src")[0]
    assert "default-src &#39;none&#39;" in frame or "default-src 'none'" in frame
    assert "Show images" in html


def test_the_new_interaction_page_keeps_the_agent_online(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    html = (
        client_for("agent1").get(f"/ucmail/agent/new?campaign={floor.campaign_id}").get_data(True)
    )

    assert 'id="ucmail-agent"' in html
    assert 'data-heartbeat-url="/ucmail/agent/heartbeat"' in html
    assert "agent.js" in html
