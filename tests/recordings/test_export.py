"""Exporting a conversation: .eml files in a zip, or one mbox."""

from __future__ import annotations

import io
import mailbox
import zipfile
from email import message_from_bytes, policy

import pytest

from tests.supervision.factories import add_message, make_campaign, make_interaction, session

RAW = (
    b"From: Customer <customer@example.org>\r\n"
    b"To: sales@support.test\r\n"
    b"Subject: =?utf-8?q?Caf=C3=A9?= order\r\n"
    b"Message-ID: <in-1@example.org>\r\n"
    b"\r\n"
    b"From the start, I want two.\r\n"
)


@pytest.fixture
def thread(app, users):
    with app.app_context():
        campaign = make_campaign("Sales")
        interaction = make_interaction(campaign, "customer@example.org", "Café order")
        add_message(interaction, "in", "From the start, I want two.", raw=RAW)
        add_message(
            interaction,
            "out",
            "Two it is.",
            html="<p>Two it is.</p>",
            subject="Re: Café order\r\nBcc: victim@example.org",
            from_name="Sales\nTeam",
            message_id="<out-1@ucmail.test>",
            in_reply_to="<in-1@example.org>",
            references="<in-1@example.org>",
            attachments=[("../../invoice.pdf", "application/pdf", b"%PDF-1.4 fake")],
        )
        session().commit()
        return interaction.id


def download(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Disposition"].startswith("attachment")
    data = response.data
    response.close()
    return data


def test_zip_holds_one_eml_per_message_inbound_byte_for_byte(client_for, thread):
    data = download(client_for("supervisor"), f"/ucmail/recordings/{thread}/export.zip")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert [n.split("-")[1] for n in names] == ["in", "out"]
        assert all(n.endswith(".eml") for n in names)
        assert archive.read(names[0]) == RAW
        built = message_from_bytes(archive.read(names[1]), policy=policy.default)
    assert built["Subject"] == "Re: Café order Bcc: victim@example.org"
    assert built["Bcc"] is None
    assert built["Message-ID"] == "<out-1@ucmail.test>"
    assert built["In-Reply-To"] == "<in-1@example.org>"
    assert built["To"] == "customer@example.org"
    assert built.get_body(("plain",)).get_content().strip() == "Two it is."
    assert built.get_body(("html",)).get_content().strip() == "<p>Two it is.</p>"
    (attachment,) = built.iter_attachments()
    assert attachment.get_content() == b"%PDF-1.4 fake"
    assert attachment.get_filename() == "../../invoice.pdf"


def test_an_outgoing_message_with_stored_source_is_exported_as_stored(app, client_for, thread):
    from ucmail_ext.models import Interaction, MessageRaw

    source = b"From: sales@support.test\r\nSubject: as sent\r\n\r\nexactly this\r\n"
    with app.app_context():
        outgoing = session().get(Interaction, thread).messages[1]
        outgoing.raw = MessageRaw(raw=source)
        session().commit()
    data = download(client_for("supervisor"), f"/ucmail/recordings/{thread}/export.zip")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read(archive.namelist()[1]) == source


def test_mbox_holds_the_conversation_in_order(client_for, thread, tmp_path):
    data = download(client_for("supervisor"), f"/ucmail/recordings/{thread}/export.mbox")
    path = tmp_path / "export.mbox"
    path.write_bytes(data)
    box = mailbox.mbox(path)
    try:
        first, second = list(box)
        assert first.get_from().startswith("customer@example.org ")
        assert first["Message-ID"] == "<in-1@example.org>"
        # A body line starting "From " is quoted, so it cannot start a new message.
        assert first.get_payload().strip() == ">From the start, I want two."
        assert second["Message-ID"] == "<out-1@ucmail.test>"
    finally:
        box.close()


def test_an_unknown_export_kind_is_not_found(client_for, thread):
    response = client_for("supervisor").get(f"/ucmail/recordings/{thread}/export.pst")
    assert response.status_code == 404
