"""Which ``${variables}`` an auto-reply, a signature and an agent reply can fill.

The lists live once, in services/admin/templates; the template screen shows them,
a campaign refuses an auto-reply or signature template that uses others, and a
template in such use cannot gain them. The last tests render each list through
the real senders, so the lists cannot drift from what is actually filled.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask_login import login_user
from sqlalchemy import select

from example_host_app.extensions import db
from tests.admin.conftest import post_form
from tests.admin.helpers import make_campaign, make_template
from tests.inbound.helpers import connect, fill, mail, poll
from tests.inbound.helpers import make_campaign as make_mailbox_campaign
from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign, Interaction, Message, Template
from ucmail_ext.services.admin import campaigns, templates
from ucmail_ext.services.admin.templates import (
    AUTOREPLY_VARIABLES,
    REPLY_VARIABLES,
    SIGNATURE_VARIABLES,
)
from ucmail_ext.services.desk import compose


def every(names: tuple[str, ...]) -> str:
    return " ".join(f"${{{name}}}" for name in names)


def test_a_campaign_refuses_an_auto_reply_template_with_variables_it_cannot_fill(
    any_app: Flask,
) -> None:
    with any_app.app_context():
        sales = make_campaign("Sales")
        welcome = make_template(
            "Welcome", subject="Welcome", body_text="Your ${plan} plan", body_html=""
        )

        values, errors = campaigns.validate_campaign(
            {"autoreply_enabled": True, "autoreply_template_id": welcome.id}, sales
        )

        assert values is None
        assert list(errors) == ["autoreply_template_id"]
        assert "${plan}" in errors["autoreply_template_id"]
        assert "${customer_name}" in errors["autoreply_template_id"]  # what it can fill


def test_a_campaign_refuses_a_signature_that_names_the_customer(any_app: Flask) -> None:
    with any_app.app_context():
        sales = make_campaign("Sales")
        signature = make_template("Sig", body_text="Thanks ${customer_name}", body_html="")
        fine = make_template("Sig 2", subject="${anything}", body_text="${agent_name}")

        _, errors = campaigns.validate_campaign({"signature_template_id": signature.id}, sales)
        assert "${customer_name}" in errors["signature_template_id"]
        # A signature is only its body: the subject is never sent.
        assert campaigns.validate_campaign({"signature_template_id": fine.id}, sales)[1] == {}


def test_a_template_in_use_as_an_auto_reply_cannot_gain_other_variables(any_app: Flask) -> None:
    with any_app.app_context():
        template = make_template(
            "Got it", subject="Re: ${subject}", body_text="Ticket ${ticket}", body_html=""
        )
        make_campaign("Sales", autoreply_template_id=template.id, autoreply_enabled=True)

        result = templates.save_template(
            {"body_text": "Ticket ${ticket}, plan ${plan}"}, template.id, actor_id="1"
        )

        assert not result.ok
        assert "'Sales'" in result.errors["body_text"] and "${plan}" in result.errors["body_text"]
        get_state().session.expire_all()
        assert get_state().session.get(Template, template.id).body_text == "Ticket ${ticket}"
        # Unused by any auto-reply or signature, the same text is fine (a dialer fills it).
        other = make_template("Offer")
        assert templates.save_template(
            {"body_text": "Ticket ${ticket}, plan ${plan}"}, other.id, actor_id="1"
        ).ok


def test_the_template_screen_shows_what_each_use_can_fill(app: Flask, client_for: Any) -> None:
    with app.app_context():
        template_id = make_template(
            "Welcome", body_text="Hi ${name}, your ${plan}", body_html=""
        ).id
    html = client_for("admin").get(f"/ucmail/templates/{template_id}").get_data(as_text=True)

    assert 'id="template-kinds"' in html
    for kind in ("autoreply", "signature", "reply", "dialer"):
        assert f'data-kind="{kind}"' in html
    row = html.split('data-kind="autoreply"')[1].split("</tr>")[0]
    assert "${customer_email}" in row and "cannot fill <code>${plan}</code>" in row
    dialer = html.split('data-kind="dialer"')[1].split("</tr>")[0]
    assert "fits" in dialer


def test_the_form_marks_the_auto_reply_field(app: Flask, client_for: Any) -> None:
    admin = client_for("admin")
    with app.app_context():
        campaign = make_campaign("Sales")
        welcome = make_template("Welcome", body_text="Your ${plan} plan", body_html="")
        campaign_id, welcome_id = campaign.id, welcome.id
    response = post_form(
        admin,
        app,
        f"/ucmail/campaigns/{campaign_id}",
        {
            "name": "Sales",
            "email_address": "sales@example.com",
            "username": "login",
            "smtp_host": "smtp.invalid",
            "smtp_port": "587",
            "smtp_security": "starttls",
            "imap_host": "imap.invalid",
            "imap_port": "993",
            "imap_security": "ssl",
            "receive_emails": "on",
            "autoreply_enabled": "on",
            "autoreply_template_id": str(welcome_id),
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="error-autoreply_template_id"' in html and "${plan}" in html


def test_the_signature_and_reply_lists_are_what_the_agent_editor_fills(
    app: Flask, users: dict[str, Any]
) -> None:
    with app.test_request_context():
        login_user(users["agent1"])
        campaign = make_campaign("Sales")
        interaction = Interaction(
            id=41,
            campaign_id=campaign.id,
            customer_email="ana@example.com",
            customer_name="Ana",
            subject="Broken",
        )
        signature = make_template("Sig", body_text=every(SIGNATURE_VARIABLES), body_html="")
        campaign.signature_template_id = signature.id
        get_state().session.commit()

        assert "${" not in compose.signature(campaign, None)
        filled = compose._variables(campaign, interaction)
        assert set(REPLY_VARIABLES) <= {k for k, v in filled.items() if v is not None}


@pytest.mark.integration
def test_the_auto_reply_list_is_what_an_auto_reply_fills(make_app, dovecot, imap_account) -> None:
    app = make_app(UCMAIL_DISPATCH="off")
    campaign_id = make_mailbox_campaign(app, imap_account)
    with app.app_context():
        template = Template(
            name="Every variable",
            subject=every(AUTOREPLY_VARIABLES),
            body_text=every(AUTOREPLY_VARIABLES),
            body_html=f"<p>{every(AUTOREPLY_VARIABLES)}</p>",
        )
        db.session.add(template)
        db.session.flush()
        campaign = db.session.get(Campaign, campaign_id)
        campaign.autoreply_enabled = True
        campaign.autoreply_template_id = template.id
        db.session.commit()
    connect(app, campaign_id)
    fill(dovecot, imap_account, [mail(1, sender="ana@example.com", subject="Broken")])

    poll(app, campaign_id)

    with app.app_context():
        reply = db.session.scalars(select(Message).where(Message.kind == "autoreply")).one()
        assert "ana@example.com" in reply.text and "Broken" in reply.subject
        for text in (reply.subject, reply.text, reply.html):
            assert "${" not in text


def test_the_api_lists_the_variables_of_each_use(app: Flask, client_for: Any) -> None:
    body = client_for("supervisor").get("/ucmail/api/templates/variables").get_json()
    assert body["autoreply"]["variables"] == list(AUTOREPLY_VARIABLES)
    assert body["signature"]["variables"] == list(SIGNATURE_VARIABLES)
    assert body["reply"]["variables"] == list(REPLY_VARIABLES)
    assert body["dialer"]["open_ended"] is True
