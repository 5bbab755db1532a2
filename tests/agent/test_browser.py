"""The portal in a real browser (Playwright, Debian Chromium): live tray, answer, close;
and hostile HTML that must neither run nor phone home."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.agent.conftest import Floor
from tests.agent.helpers import add_file, assigned
from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.http_server import QuietThreadingHTTPServer
from tests.fixtures.live import browser_login
from tests.fixtures.servers import SmtpSink
from tests.routing.helpers import arrive, session
from ucmail_ext.models import Campaign, Template
from ucmail_ext.services.desk import chat, routing

pytestmark = [pytest.mark.browser, pytest.mark.integration]

GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


class RemoteHost:
    """A second web server standing in for a tracker: it records every hit."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.send_header("Content-Length", str(len(GIF)))
                self.end_headers()
                self.wfile.write(GIF)

            def log_message(self, *args: Any) -> None:
                pass

        self.hits = hits
        self.server = QuietThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        # "localhost", not 127.0.0.1: another origin than the helpdesk, by name too.
        return f"http://localhost:{self.server.server_port}"


@pytest.fixture
def remote_host() -> Iterator[RemoteHost]:
    remote = RemoteHost()
    remote.thread.start()
    try:
        yield remote
    finally:
        remote.server.shutdown()
        remote.thread.join(10)
        remote.server.server_close()


def test_agent_sees_new_mail_live_replies_with_history_forwards_and_closes(
    page: Any, floor: Floor, live_server: str, smtp_sink: SmtpSink
) -> None:
    from playwright.sync_api import expect

    page.set_default_timeout(15_000)
    browser_login(page, live_server, USERS["agent1"][0], TEST_PASSWORD)
    page.goto(f"{live_server}/ucmail/agent/")
    expect(page.locator("#tray-empty")).to_be_visible()

    # A customer writes; routing gives it to the (now online) agent; no reload.
    campaign = session().get(Campaign, floor.campaign_id)
    arrived = arrive(campaign, "Broken screen", text="My screen is cracked.\nCan you fix it?")
    add_file(arrived.messages[0], "photo.png", GIF, "image/png")
    decisions = routing.route(floor.campaign_id)  # linear: agent1 comes first
    assert [(d.interaction_id, d.agent_id) for d in decisions] == [(arrived.id, floor.agent1)]
    url_before = page.url
    expect(page.locator("#ucmail-tray li")).to_have_count(1)
    expect(page.locator("#ucmail-tray")).to_contain_text("Broken screen")
    assert page.url == url_before

    # Open it: conversation and customer on the right.
    page.locator("#ucmail-tray a", has_text="Broken screen").click()
    expect(page.locator("#conversation-email")).to_have_text("customer@example.org")
    expect(page.locator("#conversation-campaign")).to_have_text("Support")

    # Reply with history.
    page.click("#action-history")
    expect(page.locator("#composer-body")).to_have_value(re.compile(r"> My screen is cracked\."))
    editor = page.locator("#composer-editor")  # the formatting editor over the textarea
    editor.press("Control+Home")
    editor.type("We will replace it tomorrow.")
    page.click("#composer-send")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("on its way")
    (first,) = smtp_sink.wait_for(1)
    reply = message_from_bytes(first.raw, policy=policy.default)
    text = reply.get_body(("plain",)).get_content()
    assert text.startswith("We will replace it tomorrow.")
    assert "> My screen is cracked." in text
    assert reply["In-Reply-To"] == f"<{arrived.messages[0].message_id}>"

    # Forward to two colleagues: the customer's photo goes along.
    page.click("#action-forward")
    expect(page.locator(".forwarded-file")).to_have_text("photo.png")
    page.fill("#composer-to", "repairs@example.org, stock@example.org")
    page.click("#composer-send")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("on its way")
    forwarded = smtp_sink.wait_for(2)[1]
    assert set(forwarded.rcpt_tos) == {"repairs@example.org", "stock@example.org"}
    mail = message_from_bytes(forwarded.raw, policy=policy.default)
    assert [p.get_filename() for p in mail.iter_attachments()] == ["photo.png"]

    # Close: the tray empties.
    page.click("#action-close")
    expect(page.locator(".ucmail-flash-success")).to_contain_text("closed")
    expect(page.locator("#ucmail-tray li")).to_have_count(0)


def test_hostile_html_runs_no_script_and_loads_nothing_remote_until_allowed(
    page: Any, floor: Floor, live_server: str, remote_host: RemoteHost
) -> None:
    from playwright.sync_api import expect

    campaign = session().get(Campaign, floor.campaign_id)
    item = arrive(campaign, "Totally legit invoice")
    item.state, item.agent_id = "assigned", floor.agent1
    message = item.messages[0]
    # Stored as an unsanitizing importer would have left it: display must not trust
    # storage. Every script phones the remote host, so one that ran would be a hit.
    remote = remote_host.base
    message.html = (
        "<p>Dear customer</p>"
        f"<script>fetch('{remote}/script'); alert('script')</script>"
        f'<img src="{remote}/broken.gif" onerror="fetch(\'{remote}/onerror\')">'
        f"<a href=\"javascript:fetch('{remote}/link')\">Pay now</a>"
        f'<img src="{remote}/pixel.gif" width="1" height="1">'
        f"<svg><script>fetch('{remote}/svg')</script></svg>"
        f"<body onload=\"fetch('{remote}/onload')\"></body>"
    )
    session().commit()
    dialogs: list[str] = []
    remote_requests: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on(
        "request",
        lambda request: (
            remote_requests.append(request.url)
            if request.url.startswith(remote_host.base)
            else None
        ),
    )
    page.set_default_timeout(15_000)
    browser_login(page, live_server, USERS["agent1"][0], TEST_PASSWORD)

    page.goto(f"{live_server}/ucmail/agent/?open={item.id}")
    frame = page.frame_locator("iframe.ucmail-mail")
    expect(frame.locator("p")).to_have_text("Dear customer")
    frame.locator("a", has_text="Pay now").click()
    page.wait_for_timeout(500)

    assert dialogs == []
    assert remote_requests == [] and remote_host.hits == []
    hrefs = frame.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert not any(h and h.lower().startswith("javascript") for h in hrefs)

    # The agent allows images: now, and only now, the remote host is asked.
    page.click(f"#show-images-{message.id}")
    expect(page.frame_locator("iframe.ucmail-mail").locator("p")).to_have_text("Dear customer")
    deadline = 50
    while not remote_host.hits and deadline:
        page.wait_for_timeout(100)
        deadline -= 1
    page.wait_for_timeout(300)
    assert sorted(remote_host.hits) == ["/broken.gif", "/pixel.gif"]  # images, no script
    assert dialogs == []


def test_inserting_the_signature_keeps_one_separator_and_one_signature(
    page: Any, floor: Floor, live_server: str
) -> None:
    from playwright.sync_api import expect

    campaign = session().get(Campaign, floor.campaign_id)
    team = Template(name="Team sig", body_text="--\nThe team", campaign_id=campaign.id)
    other = Template(name="Night sig", body_text="--\nThe night shift", campaign_id=campaign.id)
    session().add_all([team, other])
    session().flush()
    campaign.signature_template_id = team.id
    session().commit()
    interaction_id = assigned(floor, floor.agent1, "Printer")
    page.set_default_timeout(15_000)
    browser_login(page, live_server, USERS["agent1"][0], TEST_PASSWORD)
    page.goto(f"{live_server}/ucmail/agent/?open={interaction_id}&compose=reply")
    body = page.locator("#composer-body")
    expect(body).to_have_value(re.compile(r"-- \nThe team"))
    page.locator("#composer-editor").press("Control+Home")
    page.locator("#composer-editor").type("Fixed.")

    def insert(template: Template) -> str:
        page.select_option("#composer-template", str(template.id))
        expect(page.locator("#composer-template")).to_have_value("")
        value: str = body.input_value()
        return value

    before = body.input_value()
    assert before.endswith("-- \nThe team")
    assert insert(team) == before
    assert insert(other) == before.replace("The team", "The night shift")


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def test_the_open_supervisor_chat_never_covers_the_editor(
    browser: Any, floor: Floor, live_server: str
) -> None:
    from playwright.sync_api import expect

    long_text = "\n".join(f"Line {n} of a long customer mail." for n in range(60))
    interaction_id = assigned(floor, floor.agent1, "Printer", text=long_text)
    for n in range(8):
        chat.send_to_agent("supervisor", floor.agent1, f"Supervisor note {n}: check the printer.")
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    try:
        page.set_default_timeout(15_000)
        browser_login(page, live_server, USERS["agent1"][0], TEST_PASSWORD)
        page.goto(f"{live_server}/ucmail/agent/?open={interaction_id}&compose=history")
        panel = page.locator("#ucmail-chat")
        expect(page.locator("#chat-messages li")).to_have_count(8)
        if not panel.evaluate("el => el.open"):
            page.click("#ucmail-chat summary")
        expect(page.locator("#chat-body")).to_be_visible()
        editor = page.locator("#composer-editor")

        for where in ("top", "editor", "bottom"):
            if where == "editor":
                editor.scroll_into_view_if_needed()
            elif where == "bottom":
                page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            editor_box, panel_box = editor.bounding_box(), panel.bounding_box()
            assert editor_box and panel_box
            assert not _overlap(editor_box, panel_box), (where, editor_box, panel_box)
        editor.scroll_into_view_if_needed()
        editor.click()
        editor.press("Control+Home")
        editor.type("The technician comes tomorrow.")
        expect(page.locator("#chat-body")).to_be_visible()  # the chat stays at hand
        page.screenshot(path="/tmp/shots/agent-chat-open-1366x768.png")
    finally:
        context.close()


def test_the_agent_is_asked_before_unfilled_variables_leave_and_can_send_anyway(
    browser: Any, floor: Floor, live_server: str, smtp_sink: SmtpSink
) -> None:
    from playwright.sync_api import expect

    interaction_id = assigned(floor, floor.agent1, "Renewal")
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    try:
        page.set_default_timeout(15_000)
        browser_login(page, live_server, USERS["agent1"][0], TEST_PASSWORD)
        page.goto(f"{live_server}/ucmail/agent/?open={interaction_id}&compose=reply")
        body = page.locator("#composer-body")
        page.locator("#composer-editor").press("Control+Home")
        page.locator("#composer-editor").type("Hello ${name}, your plan renews on ${date}.")
        page.click("#composer-send")

        expect(page.locator("#unfilled-question")).to_contain_text("${name}, ${date}")
        expect(body).to_have_value(re.compile(r"^Hello \$\{name\}"))
        page.locator("#unfilled-question").scroll_into_view_if_needed()
        page.screenshot(path="/tmp/shots/agent-unfilled-question-1366x768.png")
        assert smtp_sink.count == 0
        page.click("#composer-send-anyway")

        expect(page.locator(".ucmail-flash-success")).to_contain_text("on its way")
        (sent,) = smtp_sink.wait_for(1)
        mail = message_from_bytes(sent.raw, policy=policy.default)
        assert "Hello ${name}" in mail.get_body(("plain",)).get_content()
    finally:
        context.close()
