"""The recording viewer: the whole conversation, safe to show, printable."""

from __future__ import annotations

import html as htmllib
import re

import pytest

from tests.supervision.factories import add_message, make_campaign, make_interaction, session

RECORDINGS = "/ucmail/recordings"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
HOSTILE_HTML = (
    '<p onclick="steal()">Hi <script>alert(1)</script></p>'
    '<img src="http://tracker.example/pixel.gif" width="1">'
    '<a href="javascript:alert(2)">click</a>'
    '<img src="cid:logo@x">'
)


@pytest.fixture
def conversation(app, users):
    with app.app_context():
        campaign = make_campaign("Sales")
        interaction = make_interaction(
            campaign,
            "<b>eve</b>@example.org",
            "<script>alert('subject')</script>",
            state="closed",
            agent_id=str(users["agent1"].id),
        )
        inbound = add_message(
            interaction,
            "in",
            "Hi (text part)",
            html=HOSTILE_HTML,
            from_name="<img src=x onerror=alert(3)>",
            attachments=[
                ("<svg onload=alert(4)>.svg", "image/svg+xml", b"<svg onload='alert(4)'/>"),
                ("page.html", "text/html", b"<script>alert(5)</script>"),
                ("logo.png", "image/png", PNG),
            ],
        )
        logo = inbound.attachments[2]
        logo.content_id = "<logo@x>"
        logo.inline = True
        add_message(interaction, "out", "Thanks, fixed.\n-- \nSupport")
        session().commit()
        return {
            "id": interaction.id,
            "svg": inbound.attachments[0].id,
            "html": inbound.attachments[1].id,
            "logo": logo.id,
        }


@pytest.fixture
def page(client_for, conversation):
    return client_for("supervisor").get(f"{RECORDINGS}/{conversation['id']}").get_data(as_text=True)


def srcdocs(html: str) -> list[str]:
    return [htmllib.unescape(m) for m in re.findall(r'srcdoc="([^"]*)"', html)]


def test_the_whole_conversation_is_shown_in_order(page):
    assert page.index("Hi (text part)") < page.index("Thanks, fixed.")


def test_subject_sender_and_file_names_are_escaped(page):
    assert "<script>alert('subject')</script>" not in page
    assert "&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;" in page
    assert "<img src=x onerror=alert(3)>" not in page
    assert "<b>eve</b>" not in page
    assert "<svg onload=alert(4)>" not in page
    assert "&lt;svg onload=alert(4)&gt;.svg" in page


def test_inbound_html_is_sanitized_inside_a_sandbox_without_scripts(page):
    (frame,) = re.findall(r"<iframe[^>]*>", page)
    sandbox = re.search(r'sandbox="([^"]*)"', frame).group(1)
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    (document,) = srcdocs(page)
    assert "<script" not in document
    assert "onclick" not in document
    assert "javascript:" not in document
    assert "Content-Security-Policy" in document


def test_remote_images_are_blocked_until_asked_for(client_for, conversation, page):
    (document,) = srcdocs(page)
    assert not re.search(r'\ssrc="http://tracker', document)
    assert "Show images" in page
    shown = client_for("supervisor").get(f"{RECORDINGS}/{conversation['id']}?images=1")
    (document,) = srcdocs(shown.get_data(as_text=True))
    assert re.search(r'\ssrc="http://tracker', document)


def test_inline_images_load_through_a_signed_link_without_cookies(app, page):
    (document,) = srcdocs(page)
    link = re.search(r'src="http://localhost(/ucmail/recordings/inline/[^"]+)"', document)
    assert link, document
    anonymous = app.test_client()
    response = anonymous.get(link.group(1))
    assert response.status_code == 200
    assert response.data == PNG
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()
    assert anonymous.get("/ucmail/recordings/inline/forged").status_code == 401


def test_only_safe_image_types_have_inline_links(app, conversation, users):
    from ucmail_ext.services.mail_view import inline_token

    with app.test_request_context():
        svg = inline_token(conversation["svg"], users["supervisor"])
        logo = inline_token(conversation["logo"], users["supervisor"])
    assert app.test_client().get(f"{RECORDINGS}/inline/{svg}").status_code == 401
    response = app.test_client().get(f"{RECORDINGS}/inline/{logo}")
    assert response.status_code == 200
    response.close()


@pytest.mark.parametrize("which", ["svg", "html"])
def test_active_attachments_always_download_as_plain_bytes(client_for, conversation, which):
    response = client_for("agent1").get(f"{RECORDINGS}/attachments/{conversation[which]}")
    assert response.status_code == 404  # agent1 is not a member of Sales
    response.close()
    response = client_for("supervisor").get(f"{RECORDINGS}/attachments/{conversation[which]}")
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    response.close()


def test_the_viewer_prints(page):
    assert 'data-print id="rec-print"' in page
    assert "@media print" in page
    assert "recordings.js" in page


def test_search_results_link_to_the_viewer_with_escaped_subjects(client_for, conversation):
    html = client_for("supervisor").get(f"{RECORDINGS}/").get_data(as_text=True)
    assert f'href="/ucmail/recordings/{conversation["id"]}"' in html
    assert "<script>alert('subject')</script>" not in html
