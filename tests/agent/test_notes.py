"""Internal notes (issue 12, point 3): in the conversation for agents and supervisors,
with their own look, and on no customer-facing path: send, rating mail, reply with
history, forward, auto-reply, .eml/mbox exports."""

from __future__ import annotations

import html
import io
import mailbox
import re
import tempfile
import zipfile
from email import message_from_bytes, policy

from sqlalchemy import select

from tests.agent.conftest import Floor, post
from tests.agent.desk_fixtures import as_other_user
from tests.agent.helpers import assigned
from tests.fixtures.servers import SmtpSink
from tests.routing.helpers import session
from ucmail_ext.mail.parse import parse_message
from ucmail_ext.models import Campaign, Interaction, Message, Note, Template, utcnow
from ucmail_ext.services.desk import notes, send
from ucmail_ext.services.inbound.autoreply import queue_autoreply

SECRET = "Customer is on the refund watch list; do not promise anything"


def _with_note(floor: Floor, client) -> int:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1, "Refund please")
    done = post(
        client, floor.app, f"/ucmail/agent/interactions/{interaction_id}/notes", {"note": SECRET}
    )
    assert done.status_code == 302
    return interaction_id


def _decoded(raw: bytes) -> str:
    """Every text part as the customer's mail client shows it (no transfer encoding)."""
    mail = message_from_bytes(raw, policy=policy.default)
    return "\n".join(
        part.get_content() for part in mail.walk() if part.get_content_maintype() == "text"
    )


def _composer_body(page: str) -> str:
    found = re.search(r'<textarea id="composer-body" name="body">(.*?)</textarea>', page, re.S)
    assert found, "no composer on the page"
    return html.unescape(found.group(1))


def test_a_note_is_kept_in_the_conversation_with_its_own_look(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    alice = client_for("agent1")
    interaction_id = _with_note(floor, alice)

    page = alice.get(f"/ucmail/agent/?open={interaction_id}").get_data(True)

    assert 'class="ucmail-card desk-note note"' in page
    assert "Internal note" in page and SECRET in page
    [note] = session().scalars(select(Note)).all()
    assert (note.kind, note.author_name) == ("note", "Alice Agent")
    assert session().scalar(select(Message.id).where(Message.text.contains(SECRET))) is None


def test_supervisors_see_notes_marked_in_recordings(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    interaction_id = _with_note(floor, client_for("agent1"))
    as_other_user()

    page = client_for("supervisor").get(f"/ucmail/recordings/{interaction_id}").get_data(True)

    assert 'class="ucmail-card rec-note note"' in page
    assert "Internal note — not sent to the customer" in page
    assert SECRET in page


def test_an_empty_note_is_refused_with_a_message(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    interaction_id = assigned(floor, floor.agent1)
    refused = post(
        client_for("agent1"),
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/notes",
        {"note": "   "},
    )
    assert refused.status_code == 400
    assert "write the note first" in refused.get_data(True)
    assert session().scalars(select(Note)).all() == []


def test_a_note_never_reaches_the_customer_nor_the_rating_mail(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    campaign = session().get(Campaign, floor.campaign_id)
    campaign.rating_enabled = True
    session().commit()
    alice = client_for("agent1")
    interaction_id = _with_note(floor, alice)
    assert smtp_sink.count == 0  # writing a note sends nothing

    page = alice.get(f"/ucmail/agent/?open={interaction_id}&compose=reply").get_data(True)
    sent = post(
        alice,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {
            "kind": "reply",
            "to": "customer@example.org",
            "subject": "Re: Refund",
            "body": _composer_body(page) + "\nWe are on it.",
        },
    )

    assert sent.status_code == 302
    [mail] = smtp_sink.wait_for(1, timeout=30)
    text = _decoded(mail.raw)
    assert "We are on it." in text
    assert "★" in text  # the rating block is there
    assert "refund watch list" not in text


def test_reply_with_history_and_forward_leave_notes_out(
    floor: Floor, client_for, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    alice = client_for("agent1")
    interaction_id = _with_note(floor, alice)

    history = alice.get(f"/ucmail/agent/?open={interaction_id}&compose=history").get_data(True)
    forward_page = alice.get(f"/ucmail/agent/?open={interaction_id}&compose=forward").get_data(True)

    assert "Hello, I need help." in _composer_body(history)  # the customer's mail is quoted
    assert SECRET not in _composer_body(history)
    assert SECRET not in _composer_body(forward_page)
    forwarded = post(
        alice,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {
            "kind": "forward",
            "to": "billing@example.org",
            "subject": "Fwd: Refund",
            "body": _composer_body(forward_page),
        },
    )
    assert forwarded.status_code == 302
    [mail] = smtp_sink.wait_for(1, timeout=30)
    assert "Hello, I need help." in _decoded(mail.raw)
    assert "refund watch list" not in _decoded(mail.raw)


def test_the_auto_reply_of_a_conversation_with_notes_carries_none(
    floor: Floor, smtp_sink: SmtpSink
) -> None:
    campaign = session().get(Campaign, floor.campaign_id)
    template = Template(
        name="Thanks", subject="We got it", body_text="Thanks for writing, ${name}."
    )
    session().add(template)
    session().flush()
    campaign.autoreply_enabled, campaign.autoreply_template_id = True, template.id
    interaction_id = assigned(floor, floor.agent1)
    interaction = session().get(Interaction, interaction_id)
    notes.add_line(interaction, "note", SECRET, floor.agent1, "Alice Agent")
    raw = (
        b"From: Carla <carla@example.org>\r\nTo: support@helpdesk.test\r\n"
        b"Subject: Another thing\r\nMessage-ID: <again-1@example.org>\r\n\r\nHi again.\r\n"
    )
    reply = queue_autoreply(campaign, interaction, parse_message(raw), utcnow())
    assert reply is not None
    session().commit()

    send.deliver(reply.id)

    [mail] = smtp_sink.wait_for(1, timeout=30)
    assert "Thanks for writing" in _decoded(mail.raw)
    assert "refund watch list" not in _decoded(mail.raw)


def _mbox_messages(data: bytes) -> list[mailbox.mboxMessage]:
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/export.mbox"
        with open(path, "wb") as handle:
            handle.write(data)
        box = mailbox.mbox(path, create=False)
        try:
            return list(box)
        finally:
            box.close()


def test_mail_exports_leave_notes_out_and_the_notes_export_has_them(
    floor: Floor, client_for
) -> None:  # type: ignore[no-untyped-def]
    interaction_id = _with_note(floor, client_for("agent1"))
    as_other_user()
    supervisor = client_for("supervisor")

    eml = supervisor.get(f"/ucmail/recordings/{interaction_id}/export.zip")
    mbox = supervisor.get(f"/ucmail/recordings/{interaction_id}/export.mbox")
    notes_file = supervisor.get(f"/ucmail/recordings/{interaction_id}/notes.txt")

    assert eml.status_code == mbox.status_code == notes_file.status_code == 200
    with zipfile.ZipFile(io.BytesIO(eml.data)) as archive:
        contents = "".join(_decoded(archive.read(name)) for name in archive.namelist())
    assert "Hello, I need help." in contents and "refund watch list" not in contents
    boxed = "".join(_decoded(m.as_bytes()) for m in _mbox_messages(mbox.data))
    assert "Hello, I need help." in boxed and "refund watch list" not in boxed
    assert SECRET in notes_file.get_data(True)
    assert "attachment" in notes_file.headers["Content-Disposition"]
