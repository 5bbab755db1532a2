"""Mail appended to Dovecot -> routed -> answered in the portal -> the customer's answer threads."""

from __future__ import annotations

import html
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest

from tests.agent.conftest import post
from tests.fixtures.live import mail_server_settings
from tests.fixtures.servers import DovecotServer, ImapAccount, SmtpSink
from tests.routing.helpers import session
from ucmail_ext.models import Campaign, Interaction, Member, Message, Template, utcnow
from ucmail_ext.services.inbound import ingest

pytestmark = pytest.mark.integration


def customer_mail(subject: str, body: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carla Customer <carla@example.org>"
    msg["To"] = "support@helpdesk.test"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain="example.org")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return bytes(msg)


def field(page: str, pattern: str) -> str:
    match = re.search(pattern, page, re.DOTALL)
    assert match, pattern
    return html.unescape(match.group(1))


def test_mail_is_routed_answered_in_the_portal_and_the_answer_threads(
    app, users, client_for, dovecot: DovecotServer, imap_account: ImapAccount
) -> None:  # type: ignore[no-untyped-def]
    agent_id = str(users["agent1"].id)
    with SmtpSink(credentials=(imap_account.user, imap_account.password)) as sink:
        with app.app_context():
            signature = Template(name="Signature", body_text="Kind regards,\n${agent}\nSupport")
            session().add(signature)
            session().flush()
            campaign = Campaign(
                name="Support",
                email_address="support@helpdesk.test",
                from_name="Support Team",
                signature_template_id=signature.id,
                **mail_server_settings(imap_account, sink),
            )
            session().add(campaign)
            session().flush()
            session().add(Member(campaign_id=campaign.id, agent_id=agent_id))
            session().commit()
            campaign_id = campaign.id
            assert ingest.poll_mailbox(campaign_id).status == "ok"  # connects the empty box

        agent = client_for("agent1")
        assert agent.get("/ucmail/agent/").status_code == 200  # online and free
        question = customer_mail("Printer on fire", "It smokes. Help!")
        dovecot.append(imap_account.user, question)

        with app.app_context():
            assert ingest.poll_mailbox(campaign_id).imported == 1
            interaction = (
                session()
                .scalars(session().query(Interaction).filter_by(campaign_id=campaign_id).statement)
                .one()
            )
            assert (interaction.state, interaction.agent_id) == ("assigned", agent_id)
            interaction_id = interaction.id
            question_id = interaction.messages[0].message_id

        tray = agent.get("/ucmail/agent/tray.json").get_json()["items"]
        assert [item["id"] for item in tray] == [interaction_id]
        page = agent.get(f"/ucmail/agent/?open={interaction_id}&compose=reply").get_data(True)
        body = field(page, r'<textarea id="composer-body" name="body">(.*?)</textarea>')
        assert "Kind regards,\nAlice Agent\nSupport" in body
        response = post(
            agent,
            app,
            f"/ucmail/agent/interactions/{interaction_id}/send",
            {
                "kind": "reply",
                "to": field(page, r'id="composer-to" name="to" value="([^"]*)"'),
                "subject": field(page, r'id="composer-subject" name="subject" value="([^"]*)"'),
                "body": "Please unplug it now." + body,
            },
        )
        assert response.status_code == 302

        (sent,) = sink.wait_for(1)
        reply = message_from_bytes(sent.raw, policy=policy.default)
        assert sent.rcpt_tos == ("carla@example.org",)
        assert sent.auth_user == imap_account.user
        assert reply["In-Reply-To"] == f"<{question_id}>"
        assert reply["References"] == f"<{question_id}>"
        assert reply["Subject"] == f"Re: Printer on fire [#{interaction_id}]"
        assert reply["From"] == "Support Team <support@helpdesk.test>"
        text = reply.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert text.startswith("Please unplug it now.")
        assert "-- \nKind regards,\nAlice Agent\nSupport" in text

        answer = customer_mail(
            f"Re: Printer on fire [#{interaction_id}]",
            "Unplugged, thanks!",
            In_Reply_To=reply["Message-ID"],
            References=f"<{question_id}> {reply['Message-ID']}",
        )
        dovecot.append(imap_account.user, answer)
        with app.app_context():
            assert ingest.poll_mailbox(campaign_id).imported == 1
            session().expire_all()
            joined = session().get(Interaction, interaction_id)
            assert [(m.direction, m.status) for m in joined.messages] == [
                ("in", "received"),
                ("out", "sent"),
                ("in", "received"),
            ]
            assert joined.messages[-1].text.strip() == "Unplugged, thanks!"
            assert (joined.state, joined.agent_id) == ("assigned", agent_id)
            assert session().query(Interaction).count() == 1
            assert session().query(Message).count() == 3
