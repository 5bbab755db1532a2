"""Every write refuses a missing CSRF token and a non-admin; the password never leaks."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from example_host_app import create_app
from example_host_app.extensions import db
from tests.admin.conftest import Mailbox, api_headers, campaign_data, form_fields, post_form
from tests.admin.helpers import make_campaign, make_template
from tests.fixtures.app import USERS, base_config, create_users, csrf_token, login
from ucmail_ext.extension import get_state
from ucmail_ext.models import Base, Campaign, Member, Template

ADMIN_BLUEPRINTS = ("ucmail_campaigns", "ucmail_templates", "ucmail_members", "ucmail_api")
# The API's catch-all answers a JSON 404 for URLs no route matches: it writes nothing.
NOT_ENDPOINTS = {"ucmail_api.not_an_endpoint"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

# (method, url, is JSON); {c}, {t}, {s} are a campaign, a template and a schedule.
WRITES = [
    ("POST", "/ucmail/campaigns/", False),
    ("POST", "/ucmail/campaigns/{c}", False),
    ("POST", "/ucmail/campaigns/check", False),
    ("POST", "/ucmail/campaigns/{c}/check", False),
    ("POST", "/ucmail/campaigns/{c}/enable", False),
    ("POST", "/ucmail/campaigns/{c}/disable", False),
    ("POST", "/ucmail/campaigns/{c}/delete", False),
    ("POST", "/ucmail/campaigns/{c}/oauth/connect", False),
    ("POST", "/ucmail/campaigns/{c}/oauth/disconnect", False),
    ("POST", "/ucmail/campaigns/{c}/dkim/generate", False),
    ("POST", "/ucmail/campaigns/{c}/dkim/enable", False),
    ("POST", "/ucmail/campaigns/{c}/dkim/disable", False),
    ("POST", "/ucmail/campaigns/{c}/deliverability", False),
    ("POST", "/ucmail/templates/", False),
    ("POST", "/ucmail/templates/{t}", False),
    ("POST", "/ucmail/templates/preview", False),
    ("POST", "/ucmail/templates/{t}/delete", False),
    ("POST", "/ucmail/members/add", False),
    ("POST", "/ucmail/members/remove", False),
    ("POST", "/ucmail/api/campaigns", True),
    ("PUT", "/ucmail/api/campaigns/{c}", True),
    ("PATCH", "/ucmail/api/campaigns/{c}", True),
    ("DELETE", "/ucmail/api/campaigns/{c}", True),
    ("POST", "/ucmail/api/campaigns/check", True),
    ("POST", "/ucmail/api/campaigns/{c}/check", True),
    ("POST", "/ucmail/api/campaigns/{c}/enable", True),
    ("POST", "/ucmail/api/campaigns/{c}/disable", True),
    ("POST", "/ucmail/api/campaigns/{c}/schedules", True),
    ("POST", "/ucmail/api/campaigns/{c}/oauth/connect", True),
    ("POST", "/ucmail/api/campaigns/{c}/oauth/disconnect", True),
    ("POST", "/ucmail/api/campaigns/{c}/dkim/generate", True),
    ("POST", "/ucmail/api/campaigns/{c}/dkim/enable", True),
    ("POST", "/ucmail/api/campaigns/{c}/dkim/disable", True),
    ("POST", "/ucmail/api/campaigns/{c}/deliverability", True),
    ("DELETE", "/ucmail/api/campaigns/{c}/schedules/{s}", True),
    ("POST", "/ucmail/api/templates", True),
    ("PUT", "/ucmail/api/templates/{t}", True),
    ("PATCH", "/ucmail/api/templates/{t}", True),
    ("DELETE", "/ucmail/api/templates/{t}", True),
    ("POST", "/ucmail/api/templates/preview", True),
    ("POST", "/ucmail/api/members", True),
    ("DELETE", "/ucmail/api/members", True),
]
# Posts that read only (the members selection): CSRF-checked, open to supervisors.
READING_POSTS = [("POST", "/ucmail/members/show", False)]

READS = [
    "/ucmail/campaigns/",
    "/ucmail/campaigns/{c}",
    "/ucmail/templates/",
    "/ucmail/templates/{t}",
    "/ucmail/members/",
    "/ucmail/api/health",
    "/ucmail/api/campaigns",
    "/ucmail/api/campaigns/presets",
    "/ucmail/api/campaigns/{c}",
    "/ucmail/api/templates",
    "/ucmail/api/templates/{t}",
    "/ucmail/api/templates/{t}/preview",
    "/ucmail/api/agents",
    "/ucmail/api/members",
]
ADMIN_ONLY_READS = ["/ucmail/campaigns/{c}/delete", "/ucmail/templates/{t}/delete"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One app for the whole matrix: every request in it is refused, so none changes
    the data, and each test checks that it did not."""
    tmp = tmp_path_factory.mktemp("admin-security")
    app = create_app(base_config(f"sqlite:///{tmp / 'helpdesk.db'}", tmp))
    with app.app_context():
        db.create_all()
        Base.metadata.create_all(db.engine)
    users = create_users(app)
    with app.app_context():
        campaign = make_campaign("Sales")
        template = make_template("Signature", campaign.id)
        get_state().session.add(Member(campaign_id=campaign.id, agent_id=str(users["agent2"].id)))
        get_state().session.commit()
        ids = {"c": campaign.id, "t": template.id, "s": campaign.schedules[0].id}
    clients = {}
    for who in ("admin", "supervisor", "agent1"):
        clients[who] = app.test_client()
        login(clients[who], app, USERS[who][0])
    hostile = {
        "name": "Hacked",
        "email_address": "x@example.com",
        "password": "p",
        "smtp_host": "127.0.0.1",
        "imap_host": "127.0.0.1",
        "body_text": "x",
        "confirm": "yes",
        "campaign_ids": [ids["c"]],
        "agent_ids": [str(users["agent1"].id), str(users["agent2"].id)],
    }
    yield {"app": app, "ids": ids, "body": hostile, "clients": clients}
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _send(
    client: Any, method: str, url: str, is_json: bool, body: dict[str, Any], headers: dict[str, str]
) -> Any:
    if is_json:
        return client.open(url, method=method, json=body, headers=headers)
    form = {k: v if isinstance(v, list) else str(v) for k, v in body.items()}
    return client.open(url, method=method, data=form, headers=headers)


def _unchanged(world: dict[str, Any]) -> None:
    with world["app"].app_context():
        session = get_state().session
        campaign = session.get(Campaign, world["ids"]["c"])
        assert campaign is not None and campaign.name == "Sales"
        assert campaign.enabled and campaign.deleted_at is None
        assert len(campaign.schedules) == 1 and campaign.smtp_status == "unknown"
        assert session.query(Campaign).count() == 1
        assert session.get(Template, world["ids"]["t"]).name == "Signature"
        assert session.query(Template).count() == 1
        assert [m.agent_id for m in session.query(Member)] == [world["body"]["agent_ids"][1]]


def test_the_lists_cover_every_write_endpoint(shared: dict[str, Any]) -> None:
    app = shared["app"]
    listed = {(m, u.format(c=1, t=1, s=1)) for m, u, _ in WRITES + READING_POSTS}
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ADMIN_BLUEPRINTS or rule.endpoint in NOT_ENDPOINTS:
            continue
        url = rule.rule.replace("<int:campaign_id>", "1").replace("<int:template_id>", "1")
        url = url.replace("<int:schedule_id>", "1")
        for method in (rule.methods or set()) & UNSAFE:
            found.add((method, url))
    assert found == listed


@pytest.mark.parametrize(("method", "url", "is_json"), WRITES + READING_POSTS)
def test_write_without_csrf_token_is_refused(
    shared: dict[str, Any], method: str, url: str, is_json: bool
) -> None:
    admin = shared["clients"]["admin"]
    url = url.format(**shared["ids"])
    response = _send(admin, method, url, is_json, shared["body"], {"Accept": "application/json"})
    assert response.status_code == 400
    if is_json:
        assert "CSRF" in response.get_json()["error"]
    _unchanged(shared)


@pytest.mark.parametrize("who", ["supervisor", "agent1"])
@pytest.mark.parametrize(("method", "url", "is_json"), WRITES)
def test_write_by_a_non_admin_is_forbidden(
    shared: dict[str, Any], who: str, method: str, url: str, is_json: bool
) -> None:
    client = shared["clients"][who]
    headers = {"X-CSRFToken": csrf_token(client, shared["app"])}
    response = _send(client, method, url.format(**shared["ids"]), is_json, shared["body"], headers)
    assert response.status_code == 403
    if is_json:
        assert response.get_json()["error"] == "forbidden"
    _unchanged(shared)


@pytest.mark.parametrize("url", READS)
def test_supervisors_read_and_agents_are_forbidden(shared: dict[str, Any], url: str) -> None:
    url = url.format(**shared["ids"])
    assert shared["clients"]["supervisor"].get(url).status_code == 200
    assert shared["clients"]["agent1"].get(url).status_code == 403


@pytest.mark.parametrize("url", ADMIN_ONLY_READS)
def test_delete_confirmation_pages_are_for_admins(shared: dict[str, Any], url: str) -> None:
    url = url.format(**shared["ids"])
    assert shared["clients"]["admin"].get(url).status_code == 200
    assert shared["clients"]["supervisor"].get(url).status_code == 403


def test_anonymous_api_call_is_told_to_log_in(shared: dict[str, Any]) -> None:
    response = (
        shared["app"]
        .test_client()
        .get("/ucmail/api/campaigns", headers={"Accept": "application/json"})
    )
    assert response.status_code == 401


@pytest.mark.integration
def test_password_is_in_no_page_json_answer_or_log_line(
    app: Flask, client_for: Any, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = mailbox.account.password
    admin = client_for("admin")
    headers = api_headers(admin, app)
    bodies: list[str] = []

    def keep(response: Any) -> Any:
        bodies.append(response.get_data(as_text=True))
        return response

    data = campaign_data(mailbox)
    created = keep(post_form(admin, app, "/ucmail/campaigns/", form_fields(data)))
    assert created.status_code == 302, bodies[-1]
    campaign_id = int(created.headers["Location"].rsplit("/", 1)[1])
    keep(admin.get(f"/ucmail/campaigns/{campaign_id}"))
    edited = keep(
        post_form(
            admin, app, f"/ucmail/campaigns/{campaign_id}", form_fields({**data, "max_in_queue": 8})
        )
    )
    assert edited.status_code == 302, bodies[-1]
    keep(post_form(admin, app, f"/ucmail/campaigns/{campaign_id}/check", {}))
    keep(admin.get(f"/ucmail/campaigns/{campaign_id}"))
    keep(post_form(admin, app, "/ucmail/campaigns/check", form_fields(data)))
    keep(
        post_form(
            admin, app, "/ucmail/campaigns/", form_fields({**data, "name": "Bad", "imap_port": 1})
        )
    )
    api_created = keep(
        admin.post("/ucmail/api/campaigns", json={**data, "name": "Api"}, headers=headers)
    )
    assert api_created.status_code == 201, bodies[-1]
    keep(admin.post(f"/ucmail/api/campaigns/{campaign_id}/check", headers=headers))
    keep(
        admin.patch(
            f"/ucmail/api/campaigns/{campaign_id}", json={"password": secret}, headers=headers
        )
    )
    keep(admin.get("/ucmail/api/campaigns"))
    keep(admin.get(f"/ucmail/api/campaigns/{campaign_id}"))
    keep(admin.get("/ucmail/campaigns/"))

    assert len(bodies) == 13
    for body in bodies:
        assert secret not in body
    assert caplog.records, "the cycle logged nothing: DEBUG capture is not working"
    # AUTH PLAIN carries the password in base64; the SMTP sink's own log
    # ("mail.log", aiosmtpd) is the server's, not ours.
    user = mailbox.account.user
    encoded = base64.b64encode(f"\0{user}\0{secret}".encode()).decode()
    for record in caplog.records:
        assert secret not in record.getMessage()
        if record.name != "mail.log":
            assert encoded not in record.getMessage()
    assert secret not in caplog.text
