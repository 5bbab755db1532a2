"""Security headers on every ucmail response (and only ucmail's), cookies of the host,
and no page broken by the Content-Security-Policy in a real browser."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.dialer.helpers import csv_text, make_dialer, simple_rows, upload
from tests.dialer.helpers import make_campaign as make_dialer_campaign
from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.live import browser_login
from tests.supervision.factories import (
    add_member,
    add_message,
    make_campaign,
    make_interaction,
    session,
)

PAGES = [
    "/ucmail/agent/",
    "/ucmail/supervision/",
    "/ucmail/campaigns/",
    "/ucmail/members/",
    "/ucmail/templates/",
    "/ucmail/dialer/",
    "/ucmail/dialer/monitor",
    "/ucmail/recordings/",
    "/ucmail/agent/tray.json",
    "/ucmail/api/campaigns",
    "/ucmail/recordings/999999",
]
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
MAIL_HTML = (
    '<p style="color:#333">Hello <b>there</b></p><img src="cid:logo@x" alt="logo">'
    '<img src="http://tracker.invalid/pixel.gif" width="1">'
)


@pytest.fixture
def floor(app: Any, users: dict[str, Any]) -> dict[str, int]:
    """A campaign with a conversation (inline image, remote image) and a dialer list."""
    with app.app_context():
        sales = make_campaign("Sales")
        add_member(sales, str(users["agent1"].id))
        chat = make_interaction(sales, "c@example.org", "Order question", state="closed")
        message = add_message(
            chat, "in", "Hello there", html=MAIL_HTML, attachments=[("logo.png", "image/png", PNG)]
        )
        logo = message.attachments[0]
        logo.content_id = "<logo@x>"
        logo.inline = True
        session().commit()
        dialer = make_dialer(make_dialer_campaign(2525))
        report = upload(dialer, csv_text(simple_rows(3)))
        return {"interaction": chat.id, "dialer": dialer, "list": report.list_id}


def test_every_ucmail_response_carries_the_headers(app, client_for, floor):
    admin = client_for("admin")
    for path in PAGES:
        response = admin.get(path)
        csp = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
        assert "frame-ancestors 'self'" in csp, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", path


def test_error_answers_carry_them_too(app, client_for):
    agent = client_for("agent1")
    for response in (agent.get("/ucmail/supervision/"), agent.post("/ucmail/agent/status")):
        assert response.status_code in (400, 403)
        assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"]


def test_the_message_frame_and_files_keep_their_stricter_policy(app, client_for, floor):
    admin = client_for("admin")
    with app.app_context():
        from ucmail_ext.models import Attachment

        attachment_id = session().scalars(Attachment.__table__.select()).first()
    response = admin.get(f"/ucmail/recordings/attachments/{attachment_id}")
    response.close()
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    viewer = admin.get(f"/ucmail/recordings/{floor['interaction']}").get_data(as_text=True)
    assert "Content-Security-Policy" in viewer and "default-src &#39;none&#39;" in viewer


def test_tokens_in_urls_are_not_sent_as_referer(app, users):
    client = app.test_client()
    for path in ("/ucmail/tracking/p/not-a-token.gif", "/ucmail/tracking/u/not-a-token"):
        response = client.get(path)
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        assert "Content-Security-Policy" in response.headers


def test_the_hosts_own_pages_are_left_alone(app, users):
    response = app.test_client().get("/login")
    assert "Content-Security-Policy" not in response.headers
    assert "Referrer-Policy" not in response.headers


def test_a_host_that_sends_its_own_turns_them_off(make_app):
    app = make_app(UCMAIL_SECURITY_HEADERS=False)
    from tests.fixtures.app import create_users, login

    create_users(app)
    client = app.test_client()
    login(client, app, USERS["admin"][0])
    response = client.get("/ucmail/campaigns/")
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response.headers
    assert "Referrer-Policy" not in response.headers


def login_cookies(app: Any) -> dict[str, str]:
    """Every cookie a "Remember me" login sets, by name: the session, the remember-me
    cookie and ucmail's epoch cookie."""
    from tests.fixtures.app import create_users, login

    create_users(app)
    response = login(app.test_client(), app, USERS["agent1"][0], remember=True)
    cookies = response.headers.getlist("Set-Cookie")
    return {cookie.partition("=")[0]: cookie for cookie in cookies}


def test_host_cookies_are_lax_and_secure_on_https(make_app):
    cookies = login_cookies(make_app(UCMAIL_PUBLIC_URL="https://helpdesk.example"))
    assert set(cookies) == {"session", "remember_token", "ucmail_epoch"}
    for cookie in cookies.values():
        assert "SameSite=Lax" in cookie and "Secure" in cookie and "HttpOnly" in cookie
    app = make_app(UCMAIL_PUBLIC_URL="https://helpdesk.example")
    assert app.config["REMEMBER_COOKIE_SECURE"] is True


def test_host_cookies_are_lax_but_not_secure_on_plain_http(make_app):
    cookies = login_cookies(make_app(UCMAIL_PUBLIC_URL="http://127.0.0.1:5000"))
    assert set(cookies) == {"session", "remember_token", "ucmail_epoch"}
    for cookie in cookies.values():
        assert "SameSite=Lax" in cookie and "Secure" not in cookie and "HttpOnly" in cookie


# --------------------------------------------------------------------------- browser

CSP_MESSAGE = re.compile(r"Content Security Policy|Content-Security-Policy", re.IGNORECASE)


@pytest.mark.browser
def test_no_page_breaks_under_the_policy(app, live_server, page, floor):
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.set_viewport_size({"width": 1366, "height": 768})
    browser_login(page, live_server, USERS["admin"][0], TEST_PASSWORD)
    pages = [
        "/ucmail/agent/",
        "/ucmail/agent/new",
        "/ucmail/supervision/",
        "/ucmail/campaigns/",
        "/ucmail/templates/",
        "/ucmail/members/",
        "/ucmail/dialer/",
        f"/ucmail/dialer/{floor['dialer']}",
        f"/ucmail/dialer/lists/{floor['list']}",
        "/ucmail/dialer/monitor",
        "/ucmail/dialer/blacklist",
        "/ucmail/recordings/",
        f"/ucmail/recordings/{floor['interaction']}",
        f"/ucmail/recordings/{floor['interaction']}?images=1",
    ]
    for path in pages:
        response = page.goto(f"{live_server}{path}")
        assert response is not None and response.status == 200, (path, response)
        assert "frame-ancestors" in (response.headers.get("content-security-policy") or "")
        page.wait_for_load_state("networkidle", timeout=60_000)
    page.goto(f"{live_server}/ucmail/recordings/{floor['interaction']}")
    page.wait_for_load_state("networkidle", timeout=60_000)
    page.screenshot(path="/tmp/shots/csp-recordings-viewer.png")
    violations = [text for text in console if CSP_MESSAGE.search(text) or "pageerror" in text]
    assert violations == []
