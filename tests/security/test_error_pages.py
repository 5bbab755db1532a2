"""403 and 404 inside ucmail are pages in the host's layout with a way back, not
Werkzeug's bare page; JSON callers keep JSON errors."""

from __future__ import annotations

import pytest

from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.live import browser_login


def test_forbidden_is_a_page_in_the_layout_with_a_way_back(client_for):
    response = client_for("agent1").get("/ucmail/supervision/")
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "Example Helpdesk" in html  # the host's layout
    assert "You cannot open this page" in html
    assert 'href="/ucmail/agent/">Back to Portal</a>' in html
    assert "<title>403 Forbidden</title>" not in html  # Werkzeug's bare page


def test_not_found_is_a_page_in_the_layout_with_a_way_back(client_for):
    response = client_for("supervisor").get("/ucmail/recordings/999999")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Example Helpdesk" in html
    assert "Not found" in html
    assert "Back to Supervision</a>" in html
    assert "<title>404 Not Found</title>" not in html


def test_bad_csrf_is_a_page_too(client_for):
    response = client_for("supervisor").post("/ucmail/supervision/agents/1/pause")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Example Helpdesk" in html and "CSRF" in html


def test_json_callers_keep_json_errors(client_for):
    agent = client_for("agent1")
    response = agent.get("/ucmail/supervision/", headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"
    api = client_for("admin").get("/ucmail/api/campaigns/999999")
    assert api.status_code == 404
    assert set(api.get_json()) == {"error", "fields"}


@pytest.mark.browser
def test_error_pages_look_like_the_helpdesk(live_server, page):
    page.set_viewport_size({"width": 1366, "height": 768})
    browser_login(page, live_server, USERS["agent1"][0], TEST_PASSWORD)
    response = page.goto(f"{live_server}/ucmail/supervision/")
    assert response is not None and response.status == 403
    page.screenshot(path="/tmp/shots/error-403.png")
    response = page.goto(f"{live_server}/ucmail/recordings/999999")
    assert response is not None and response.status == 404
    page.screenshot(path="/tmp/shots/error-404.png")
    page.get_by_role("link", name="Back to Portal").click()
    page.wait_for_url(f"{live_server}/ucmail/agent/")
