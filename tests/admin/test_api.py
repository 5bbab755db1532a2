"""The JSON API: same operations, same validation, JSON errors, pagination."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.admin.conftest import Mailbox, api_headers, campaign_data
from tests.admin.helpers import make_campaign, make_template
from tests.fixtures.app import USERS, create_users, login
from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign, Member

API = "/ucmail/api"


@pytest.fixture
def admin(client_for: Any) -> Any:
    return client_for("admin")


def test_campaign_list_is_paginated(app: Flask, admin: Any) -> None:
    with app.app_context():
        for n in range(5):
            make_campaign(f"Campaign {n}")
    body = admin.get(f"{API}/campaigns?per_page=2&page=2").get_json()
    assert [c["name"] for c in body["items"]] == ["Campaign 2", "Campaign 3"]
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (2, 2, 5, 3)


def test_validation_errors_come_back_as_fields(app: Flask, admin: Any) -> None:
    response = admin.post(
        f"{API}/campaigns",
        json={"name": "", "smtp_port": "x", "receive_emails": False},
        headers=api_headers(admin, app),
    )
    body = response.get_json()
    assert response.status_code == 422
    assert body["error"] == "validation"
    assert {"name", "smtp_port", "email_address", "password", "smtp_host"} <= set(body["fields"])
    assert "imap_host" not in body["fields"]


def test_not_found_and_bad_bodies_answer_in_json(app: Flask, admin: Any) -> None:
    missing = admin.get(f"{API}/campaigns/999")
    assert missing.status_code == 404 and missing.get_json()["error"] == "No campaign 999."
    bad = admin.post(
        f"{API}/campaigns",
        data="[1, 2]",
        content_type="application/json",
        headers=api_headers(admin, app),
    )
    assert bad.status_code == 400 and bad.get_json()["fields"] == {}


@pytest.mark.integration
def test_campaign_lifecycle_through_the_api(app: Flask, admin: Any, mailbox: Mailbox) -> None:
    headers = api_headers(admin, app)
    created = admin.post(f"{API}/campaigns", json=campaign_data(mailbox), headers=headers)
    body = created.get_json()
    assert created.status_code == 201, body
    campaign = body["campaign"]
    assert body["smtp"]["status"] == body["imap"]["status"] == "green"
    assert campaign["smtp_status"]["status"] == "green" and campaign["has_password"] is True
    assert campaign["schedules"] == [
        {
            "id": campaign["schedules"][0]["id"],
            "days": [0, 1, 2, 3, 4],
            "start": "09:00",
            "end": "18:00",
        }
    ]
    url = f"{API}/campaigns/{campaign['id']}"

    patched = admin.patch(url, json={"max_in_queue": 5}, headers=headers)
    assert patched.status_code == 200 and patched.get_json()["campaign"]["max_in_queue"] == 5

    checked = admin.post(f"{url}/check", headers=headers).get_json()
    assert checked["ok"] and checked["imap"]["status"] == "green"

    assert admin.post(f"{url}/disable", headers=headers).get_json()["enabled"] is False
    refused = admin.delete(url, headers=headers)
    assert refused.status_code == 400 and "confirm" in refused.get_json()["fields"]
    assert admin.delete(f"{url}?confirm=yes", headers=headers).status_code == 200
    assert admin.get(url).status_code == 404


@pytest.mark.integration
def test_wrong_imap_password_through_the_api_is_red_and_not_saved(
    app: Flask, admin: Any, imap_account: Any, make_sink: Any
) -> None:
    wrong = "wrong-imap-pass"
    mailbox = Mailbox(imap_account, make_sink(imap_account.user, wrong))
    response = admin.post(
        f"{API}/campaigns",
        json=campaign_data(mailbox, password=wrong),
        headers=api_headers(admin, app),
    )
    body = response.get_json()
    assert response.status_code == 422
    assert body["imap"]["status"] == "red" and body["smtp"]["status"] == "green"
    assert "[AUTHENTICATIONFAILED] Authentication failed." in body["fields"]["imap"]
    assert wrong not in response.get_data(as_text=True)
    with app.app_context():
        assert get_state().session.query(Campaign).count() == 0


@pytest.mark.integration
def test_check_of_unsaved_values_through_the_api(app: Flask, admin: Any, mailbox: Mailbox) -> None:
    body = admin.post(
        f"{API}/campaigns/check",
        json=campaign_data(mailbox, receive_emails=False),
        headers=api_headers(admin, app),
    ).get_json()
    assert body["ok"] is True and body["smtp"]["status"] == "green"
    assert body["imap"]["status"] == "unknown"


def test_schedules_through_the_api(app: Flask, admin: Any) -> None:
    with app.app_context():
        campaign_id = make_campaign("Sales").id
    headers = api_headers(admin, app)
    url = f"{API}/campaigns/{campaign_id}/schedules"
    added = admin.post(
        url, json={"days": ["sat"], "start": "10:00", "end": "13:00"}, headers=headers
    )
    assert added.status_code == 201
    schedules = added.get_json()
    assert [s["days"] for s in schedules] == [[0], [5]]
    assert admin.post(url, json={"days": []}, headers=headers).status_code == 422
    assert admin.delete(f"{url}/{schedules[0]['id']}", headers=headers).status_code == 204
    assert admin.delete(f"{url}/{schedules[0]['id']}", headers=headers).status_code == 404


def test_templates_through_the_api(app: Flask, admin: Any) -> None:
    with app.app_context():
        sales_id = make_campaign("Sales").id
        make_template("Global")
    headers = api_headers(admin, app)
    created = admin.post(
        f"{API}/templates",
        json={
            "name": "Auto",
            "campaign_id": sales_id,
            "body_html": "<b>${x}</b><script>1</script>",
        },
        headers=headers,
    )
    template = created.get_json()
    assert created.status_code == 201 and template["body_html"] == "<b>${x}</b>"
    assert template["variables"] == ["x"]
    listed = admin.get(f"{API}/templates?campaign_id={sales_id}").get_json()
    assert [t["name"] for t in listed["items"]] == ["Auto", "Global"]
    preview = admin.get(f"{API}/templates/{template['id']}/preview").get_json()
    assert preview["body_html"] == "<b>[x]</b>"
    posted = admin.post(
        f"{API}/templates/preview",
        json={"body_text": "Hi ${x}", "variables": {"x": "Ann"}},
        headers=headers,
    ).get_json()
    assert posted["body_text"] == "Hi Ann"
    bad = admin.put(f"{API}/templates/{template['id']}", json={"name": ""}, headers=headers)
    assert bad.status_code == 422 and "name" in bad.get_json()["fields"]
    url = f"{API}/templates/{template['id']}"
    assert admin.delete(url, json={"confirm": True}, headers=headers).status_code == 200


def test_members_through_the_api(app: Flask, admin: Any, users: dict[str, Any]) -> None:
    with app.app_context():
        sales_id = make_campaign("Sales").id
    headers = api_headers(admin, app)
    agents = admin.get(f"{API}/agents").get_json()
    assert [a["name"] for a in agents] == ["Alice Agent", "Bob Agent", "Carol Agent"]
    ids = [agents[0]["id"], agents[1]["id"]]
    added = admin.post(
        f"{API}/members", json={"campaign_ids": [sales_id], "agent_ids": ids}, headers=headers
    )
    assert added.get_json() == {"changed": 2}
    listed = admin.get(f"{API}/members?campaign_id={sales_id}").get_json()
    assert [m["agent_name"] for m in listed] == ["Alice Agent", "Bob Agent"]
    refused = admin.post(
        f"{API}/members",
        json={"campaign_ids": [sales_id], "agent_ids": [str(users["supervisor"].id)]},
        headers=headers,
    )
    assert refused.status_code == 422 and "agent_ids" in refused.get_json()["fields"]
    removed = admin.delete(
        f"{API}/members", json={"campaign_ids": [sales_id], "agent_ids": ids[:1]}, headers=headers
    )
    assert removed.get_json() == {"changed": 1}


def test_a_supervisor_scoped_to_members_sees_only_their_campaigns(make_app: Any) -> None:
    scoped = make_app("sqlite", UCMAIL_SUPERVISOR_SCOPE="members")
    people = create_users(scoped)
    with scoped.app_context():
        sales, other = make_campaign("Sales"), make_campaign("Other")
        make_template("Other's own", other.id)
        make_template("Everyone's")
        session = get_state().session
        session.add(Member(campaign_id=sales.id, agent_id=str(people["supervisor"].id)))
        session.commit()
        sales_id, other_id = sales.id, other.id
    client = scoped.test_client()
    login(client, scoped, USERS["supervisor"][0])

    listed = client.get(f"{API}/campaigns").get_json()
    assert [c["name"] for c in listed["items"]] == ["Sales"]
    assert client.get(f"{API}/campaigns/{other_id}").status_code == 404
    assert client.get(f"/ucmail/campaigns/{other_id}").status_code == 404
    assert client.get(f"/ucmail/campaigns/{sales_id}").status_code == 200
    names = [t["name"] for t in client.get(f"{API}/templates").get_json()["items"]]
    assert names == ["Everyone's"]
    assert client.get(f"{API}/members?campaign_id={other_id}").get_json() == []
    page = client.get("/ucmail/members/").get_data(as_text=True)
    assert "Sales" in page and "Other" not in page
