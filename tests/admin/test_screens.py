"""The HTML screens: list + form, statuses, field errors, read-only for supervisors."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from tests.admin.conftest import Mailbox, campaign_data, form_fields, post_form
from tests.admin.helpers import make_campaign, make_template
from ucmail_ext.crypto import decrypt_secret
from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign, Member, Template


def _campaign(app: Flask, name: str) -> Campaign | None:
    with app.app_context():
        session = get_state().session
        campaign = session.query(Campaign).filter_by(name=name).one_or_none()
        if campaign is not None:
            session.expunge(campaign)
        return campaign


def test_empty_screens_say_so(app: Flask, client_for: Any) -> None:
    admin = client_for("admin")
    assert "No campaigns yet" in admin.get("/ucmail/campaigns/").get_data(as_text=True)
    assert "No templates yet" in admin.get("/ucmail/templates/").get_data(as_text=True)
    assert "No campaigns yet" in admin.get("/ucmail/members/").get_data(as_text=True)


def test_supervisor_sees_the_form_read_only_and_agents_are_turned_away(
    app: Flask, client_for: Any
) -> None:
    with app.app_context():
        campaign_id = make_campaign("Sales").id
    page = client_for("supervisor").get(f"/ucmail/campaigns/{campaign_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<fieldset disabled>" in html and 'id="save-campaign"' not in html
    assert 'value="Sales"' in html
    assert client_for("agent1").get("/ucmail/campaigns/").status_code == 403
    assert client_for("agent1").get("/ucmail/templates/").status_code == 403
    assert client_for("agent1").get("/ucmail/members/").status_code == 403


def test_selecting_a_campaign_loads_it_into_the_form_without_its_password(
    app: Flask, client_for: Any
) -> None:
    with app.app_context():
        campaign_id = make_campaign("Sales", from_name="Sales Desk", max_in_queue=9).id
    html = client_for("admin").get(f"/ucmail/campaigns/{campaign_id}").get_data(as_text=True)
    assert 'value="Sales Desk"' in html and 'name="max_in_queue" min="0" value="9"' in html
    assert re.search(r'<tr class="selected"[^>]*>\s*<td><a [^>]*>Sales</a>', html)
    assert 'name="password" value=""' in html
    assert "stored-secret" not in html


def test_validation_errors_are_shown_next_to_their_field(app: Flask, client_for: Any) -> None:
    admin = client_for("admin")
    response = post_form(
        admin,
        app,
        "/ucmail/campaigns/",
        {"name": "", "email_address": "nope", "smtp_host": "", "receive_emails": "on"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for field in ("name", "email_address", "password", "smtp_host", "imap_host"):
        assert f'id="error-{field}"' in html
    assert _campaign(app, "") is None


@pytest.mark.integration
def test_admin_creates_a_campaign_and_sees_both_statuses_green(
    app: Flask, client_for: Any, mailbox: Mailbox
) -> None:
    admin = client_for("admin")
    response = post_form(admin, app, "/ucmail/campaigns/", form_fields(campaign_data(mailbox)))
    assert response.status_code == 302, response.get_data(as_text=True)
    html = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="smtp-status" data-status="green"' in html
    assert 'id="imap-status" data-status="green"' in html
    assert "created; connection check passed" in html
    assert mailbox.account.password not in html


@pytest.mark.integration
def test_wrong_imap_password_in_the_form_shows_red_with_dovecots_answer(
    app: Flask, client_for: Any, imap_account: Any, make_sink: Any
) -> None:
    wrong = "wrong-imap-pass"
    mailbox = Mailbox(imap_account, make_sink(imap_account.user, wrong))
    response = post_form(
        client_for("admin"),
        app,
        "/ucmail/campaigns/",
        form_fields(campaign_data(mailbox, password=wrong)),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="imap-status" data-status="red"' in html
    assert "[AUTHENTICATIONFAILED] Authentication failed." in html
    assert 'id="smtp-status" data-status="green"' in html
    assert "The campaign was not created" in html
    assert wrong not in html
    assert _campaign(app, "Support") is None


@pytest.mark.integration
def test_editing_with_an_empty_password_keeps_the_stored_one(
    app: Flask, client_for: Any, mailbox: Mailbox
) -> None:
    admin = client_for("admin")
    post_form(admin, app, "/ucmail/campaigns/", form_fields(campaign_data(mailbox)))
    campaign = _campaign(app, "Support")
    assert campaign is not None
    fields = form_fields(campaign_data(mailbox, password="", service_level_seconds=120))
    fields.pop("enabled")
    response = post_form(admin, app, f"/ucmail/campaigns/{campaign.id}", fields)
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        stored = get_state().session.get(Campaign, campaign.id)
        assert stored.service_level_seconds == 120 and not stored.enabled
        assert decrypt_secret(stored.password_encrypted) == mailbox.account.password


@pytest.mark.integration
def test_test_connection_checks_the_form_values_without_saving(
    app: Flask, client_for: Any, mailbox: Mailbox
) -> None:
    admin = client_for("admin")
    response = post_form(admin, app, "/ucmail/campaigns/check", form_fields(campaign_data(mailbox)))
    body = response.get_json()
    assert response.status_code == 200 and body["ok"] is True
    assert body["smtp"]["status"] == body["imap"]["status"] == "green"
    assert _campaign(app, "Support") is None


def test_delete_asks_for_confirmation_first(app: Flask, client_for: Any) -> None:
    with app.app_context():
        campaign_id = make_campaign("Sales").id
    admin = client_for("admin")
    unconfirmed = post_form(admin, app, f"/ucmail/campaigns/{campaign_id}/delete", {})
    assert unconfirmed.status_code == 400
    assert 'name="confirm" value="yes"' in unconfirmed.get_data(as_text=True)
    assert _campaign(app, "Sales").deleted_at is None

    confirmed = post_form(admin, app, f"/ucmail/campaigns/{campaign_id}/delete", {"confirm": "yes"})
    assert confirmed.status_code == 302
    assert _campaign(app, "Sales").deleted_at is not None
    assert admin.get(f"/ucmail/campaigns/{campaign_id}").status_code == 404


def test_disable_and_enable_buttons(app: Flask, client_for: Any) -> None:
    with app.app_context():
        campaign_id = make_campaign("Sales").id
    admin = client_for("admin")
    post_form(admin, app, f"/ucmail/campaigns/{campaign_id}/disable", {})
    html = admin.get(f"/ucmail/campaigns/{campaign_id}").get_data(as_text=True)
    assert 'id="enable-campaign"' in html and "disabled</span>" in html
    post_form(admin, app, f"/ucmail/campaigns/{campaign_id}/enable", {})
    assert _campaign(app, "Sales").enabled


def test_template_is_created_and_previewed_with_its_variables(app: Flask, client_for: Any) -> None:
    admin = client_for("admin")
    response = post_form(
        admin,
        app,
        "/ucmail/templates/",
        {
            "name": "Welcome",
            "campaign_id": "",
            "subject": "Welcome ${first_name}",
            "body_html": "<p>Hello ${first_name}<script>x()</script></p>",
            "body_text": "Hello ${first_name} from ${company}",
        },
    )
    assert response.status_code == 302
    html = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "<code" in html and "${first_name}" in html and "${company}" in html
    assert 'id="preview-subject">Welcome Jane</span>' in html
    assert 'srcdoc="&lt;p&gt;Hello Jane&lt;/p&gt;"' in html
    assert "Hello Jane from Example Ltd" in html


def test_unsaved_template_preview_keeps_the_form(app: Flask, client_for: Any) -> None:
    response = post_form(
        client_for("admin"),
        app,
        "/ucmail/templates/preview",
        {"name": "", "subject": "Hi ${who}", "body_html": "", "body_text": "Dear ${who}"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Dear [who]" in html and 'value="Hi ${who}"' in html
    with app.app_context():
        assert get_state().session.query(Template).count() == 0


def test_members_screen_adds_two_agents_and_shows_them(
    app: Flask, client_for: Any, users: dict[str, Any]
) -> None:
    with app.app_context():
        campaign_id = make_campaign("Sales").id
    admin = client_for("admin")
    agents = [str(users["agent1"].id), str(users["agent2"].id)]
    response = post_form(
        admin, app, "/ucmail/members/add", {"campaign_ids": [str(campaign_id)], "agent_ids": agents}
    )
    assert response.status_code == 302
    html = admin.get(response.headers["Location"]).get_data(as_text=True)
    table = html[html.index('id="member-list"') :]
    assert "Alice Agent" in table and "Bob Agent" in table and "Carol Agent" not in table
    assert "2 memberships added" in html

    refused = post_form(
        admin,
        app,
        "/ucmail/members/add",
        {"campaign_ids": [str(campaign_id)], "agent_ids": [str(users["admin"].id)]},
    )
    assert refused.status_code == 422
    assert 'id="error-agent_ids"' in refused.get_data(as_text=True)
    with app.app_context():
        assert get_state().session.query(Member).count() == 2


def test_template_form_keeps_signatures_choosable_per_campaign(app: Flask, client_for: Any) -> None:
    with app.app_context():
        sales = make_campaign("Sales")
        make_template("Sales signature", sales.id)
        make_template("Other signature", make_campaign("Other").id)
        sales_id = sales.id
    html = client_for("admin").get(f"/ucmail/campaigns/{sales_id}").get_data(as_text=True)
    assert "Sales signature" in html and "Other signature" not in html
