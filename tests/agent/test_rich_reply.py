"""Formatted replies (issue 12, point 8): bold, italic, lists, links and pasted images,
sanitized on the server like inbound mail, always with a text part, images as cid: parts."""

from __future__ import annotations

import base64
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from tests.agent.conftest import Floor, post
from tests.agent.helpers import assigned
from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.live import browser_login
from tests.fixtures.servers import SmtpSink
from tests.routing.helpers import session
from ucmail_ext.mail.rich import RichBodyError, html_reply_text, rich_body
from ucmail_ext.models import Message

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()

HOSTILE = (
    "<p>Hello <b>Carla</b>, <i>sorry</i> for the wait.</p>"
    "<ul><li>refund sent</li><li>label attached</li></ul>"
    "<ol><li>open the box</li><li>print the label</li></ol>"
    '<p>See <a href="https://example.org/returns">our returns page</a>.</p>'
    f'<p><img src="{PNG_URL}" alt="label"></p>'
    '<script>alert("x")</script><p onclick="steal()">Bye</p>'
    '<a href="javascript:alert(1)">click</a><iframe src="https://evil.example"></iframe>'
    "<div>-- </div><div>Support Team</div>"
)


# --------------------------------------------------------------------------- mail/rich.py


def test_the_editors_html_is_sanitized_like_inbound_mail() -> None:
    rich = rich_body(HOSTILE, "ucmail.test", 1_000_000)

    assert "<b>Carla</b>" in rich.html and "<i>sorry</i>" in rich.html
    assert "<ul><li>refund sent</li>" in rich.html and "<ol>" in rich.html
    assert 'href="https://example.org/returns"' in rich.html
    for bad in ("<script", "onclick", "javascript:", "<iframe", "steal()"):
        assert bad not in rich.html


def test_pasted_images_become_cid_parts() -> None:
    rich = rich_body(HOSTILE, "ucmail.test", 1_000_000)

    [image] = rich.images
    assert image.data == PNG and image.content_type == "image/png"
    assert image.content_id.endswith("@ucmail.test")
    assert f'src="cid:{image.content_id}"' in rich.html
    assert "data:" not in rich.html


def test_the_text_part_keeps_lists_links_and_the_signature_separator() -> None:
    text = rich_body(HOSTILE, "ucmail.test", 1_000_000).text

    assert text.startswith("Hello Carla, sorry for the wait.")
    assert "- refund sent\n- label attached" in text
    assert "1. open the box\n2. print the label" in text
    assert "our returns page <https://example.org/returns>" in text
    assert "[label]" in text
    assert "\n-- \nSupport Team" in text
    assert "alert" not in text and "steal" not in text


def test_a_link_whose_text_is_its_address_is_not_repeated() -> None:
    assert html_reply_text('<a href="https://example.org">https://example.org</a>') == (
        "https://example.org"
    )
    assert html_reply_text('<a href="mailto:a@example.org">a@example.org</a>') == "a@example.org"


def test_an_oversized_or_broken_pasted_image_is_a_clear_error() -> None:
    with pytest.raises(RichBodyError, match="larger than"):
        rich_body(f'<img src="{PNG_URL}">', "ucmail.test", 10)
    with pytest.raises(RichBodyError, match="could not be read"):
        rich_body('<img src="data:image/png;base64,not*base64">', "ucmail.test", 1000)


# --------------------------------------------------------------------------- sending


def _parts(mail: EmailMessage) -> dict[str, list[EmailMessage]]:
    found: dict[str, list[EmailMessage]] = {}
    for part in mail.walk():
        found.setdefault(part.get_content_type(), []).append(part)
    return found


def test_a_formatted_reply_goes_out_with_html_text_and_inline_image(
    floor: Floor, client_for: Any, smtp_sink: SmtpSink
) -> None:
    interaction_id = assigned(floor, floor.agent1, "Broken parcel")
    client = client_for("agent1")

    answer = post(
        client,
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {
            "kind": "reply",
            "to": "customer@example.org",
            "subject": "Re: Broken parcel",
            "body": "Hello Carla, sorry for the wait.",
            "body_html": HOSTILE,
        },
    )

    assert answer.status_code == 302
    (received,) = smtp_sink.wait_for(1, timeout=60)
    mail = message_from_bytes(received.raw, policy=policy.default)
    parts = _parts(mail)
    [text] = parts["text/plain"]
    [html] = parts["text/html"]
    [image] = parts["image/png"]
    assert "multipart/alternative" in parts
    # The image goes with the HTML, so mail clients do not list it as an attachment.
    assert image in list(mail.get_body(("related",)).iter_attachments())
    assert list(mail.iter_attachments()) == []
    assert image.get_content_disposition() == "inline"
    assert "- refund sent" in text.get_content()
    assert "<b>Carla</b>" in html.get_content()
    assert "<script" not in html.get_content() and "onclick" not in html.get_content()
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html.get_content()
    assert image.get_content() == PNG
    stored = session().scalars(select(Message).where(Message.direction == "out")).one()
    assert "<b>Carla</b>" in stored.html and "- refund sent" in stored.text
    assert [(a.inline, a.content_type) for a in stored.attachments] == [(True, "image/png")]


def test_a_new_interaction_can_be_formatted_too(
    floor: Floor, client_for: Any, smtp_sink: SmtpSink
) -> None:
    answer = post(
        client_for("agent1"),
        floor.app,
        f"/ucmail/agent/new?campaign={floor.campaign_id}",
        {
            "to": "lead@example.org",
            "subject": "Your quote",
            "body": "Hello",
            "body_html": f'<p><i>Hello</i></p><img src="{PNG_URL}"><p onclick="x()">Bye</p>',
        },
    )

    assert answer.status_code == 302
    (received,) = smtp_sink.wait_for(1, timeout=60)
    mail = message_from_bytes(received.raw, policy=policy.default)
    parts = _parts(mail)
    html = parts["text/html"][0].get_content()
    assert "<i>Hello</i>" in html and "onclick" not in html
    assert parts["text/plain"][0].get_content().replace("\r\n", "\n").startswith("Hello\n")
    assert parts["image/png"][0].get_content() == PNG


def test_a_plain_reply_without_the_editor_still_works(
    floor: Floor, client_for: Any, smtp_sink: SmtpSink
) -> None:
    interaction_id = assigned(floor, floor.agent1, "Plain")

    post(
        client_for("agent1"),
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {"kind": "reply", "to": "customer@example.org", "subject": "Re: Plain", "body": "Fine <b>"},
    )

    (received,) = smtp_sink.wait_for(1, timeout=60)
    mail = message_from_bytes(received.raw, policy=policy.default)
    assert mail.get_body(("plain",)).get_content().startswith("Fine <b>")
    assert "Fine &lt;b&gt;" in mail.get_body(("html",)).get_content()


def test_an_oversized_pasted_image_is_a_form_error_that_keeps_the_formatting(
    floor: Floor, client_for: Any, smtp_sink: SmtpSink
) -> None:
    floor.app.config["UCMAIL_MAX_ATTACHMENT_BYTES"] = 10
    interaction_id = assigned(floor, floor.agent1, "Too big")

    answer = post(
        client_for("agent1"),
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {
            "kind": "reply",
            "to": "customer@example.org",
            "subject": "Re: Too big",
            "body": "Look",
            "body_html": f'<p><b>Look</b></p><img src="{PNG_URL}"><script>x()</script>',
        },
    )

    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "a pasted image is larger than" in page
    restored = re.search(r'id="composer-restored-html" value="([^"]*)"', page)
    assert restored is not None
    assert "&lt;b&gt;Look&lt;/b&gt;" in restored.group(1)
    assert "script" not in restored.group(1)
    assert session().scalars(select(Message).where(Message.direction == "out")).all() == []
    assert smtp_sink.count == 0


# --------------------------------------------------------------------------- in the browser


@pytest.mark.browser
@pytest.mark.integration
def test_the_agent_formats_a_reply_pastes_an_image_and_sends_it(
    page: Any, floor: Floor, live_server: str, smtp_sink: SmtpSink
) -> None:
    from playwright.sync_api import expect

    page.set_default_timeout(15_000)
    interaction_id = assigned(floor, floor.agent1, "Formatting")
    browser_login(page, live_server, USERS["agent1"][0], TEST_PASSWORD)
    page.goto(f"{live_server}/ucmail/agent/?open={interaction_id}&compose=reply")

    editor = page.locator("#composer-editor")
    expect(editor).to_be_visible()
    expect(page.locator("#composer-body")).to_be_hidden()
    editor.click()
    page.keyboard.press("Control+Home")
    page.locator(".rich-toolbar button[aria-label=Bold]").click()
    page.keyboard.type("Thanks for waiting")
    expect(page.locator(".rich-toolbar button[aria-label=Bold]")).to_have_attribute(
        "aria-pressed", "true"
    )
    page.locator(".rich-toolbar button[aria-label=Bold]").click()
    page.keyboard.press("Enter")
    page.locator(".rich-toolbar button[aria-label='Bulleted list']").click()
    page.keyboard.type("first step")
    page.keyboard.press("Enter")
    page.keyboard.type("second step")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    # A screenshot pasted from the clipboard.
    page.evaluate(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const data = new DataTransfer();
            data.items.add(new File([bytes], "shot.png", { type: "image/png" }));
            const editor = document.getElementById("composer-editor");
            editor.dispatchEvent(new ClipboardEvent(
                "paste", { clipboardData: data, bubbles: true, cancelable: true }));
        }""",
        base64.b64encode(PNG).decode(),
    )
    expect(editor.locator("img")).to_have_count(1)
    expect(page.locator("#composer-body")).to_have_value(re.compile("Thanks for waiting"))
    page.click("#composer-send")
    expect(page.locator(".ucmail-flash-success")).to_be_visible()

    (received,) = smtp_sink.wait_for(1, timeout=60)
    mail = message_from_bytes(received.raw, policy=policy.default)
    parts = _parts(mail)
    html = parts["text/html"][0].get_content()
    text = parts["text/plain"][0].get_content().replace("\r\n", "\n")
    assert re.search(r"<b>Thanks for waiting</b>", html)
    assert "<ul><li>first step</li><li>second step</li></ul>" in html
    assert "- first step\n- second step" in text
    assert "Thanks for waiting" in text
    [image] = parts["image/png"]
    assert image.get_content() == PNG
    assert f"cid:{image['Content-ID'].strip('<>')}" in html
