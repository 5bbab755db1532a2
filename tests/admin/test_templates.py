"""Templates: sanitized HTML that keeps its ${variables}, previews, campaign scope."""

from __future__ import annotations

from flask import Flask

from tests.admin.helpers import make_campaign, make_template
from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign, Dialer, Template
from ucmail_ext.services.admin import templates
from ucmail_ext.services.admin.campaigns import delete_campaign


def test_html_body_is_sanitized_on_save_but_keeps_its_variables(app_ctx: Flask) -> None:
    result = templates.save_template(
        {
            "name": "Offer",
            "subject": "Hello ${first_name}",
            "body_html": (
                '<p onclick="steal()">Hi ${first_name},</p><script>alert(1)</script>'
                '<a href="${unsubscribe_url}">unsubscribe</a>'
                '<a href="https://shop.example/?u=${customer_id}&amp;x=1">shop</a>'
                '<a href="javascript:alert(1)">bad</a>'
            ),
            "body_text": "Hi ${first_name}",
        },
        actor_id="1",
    )
    assert result.ok, result.errors
    html = result.template.body_html
    assert "<script" not in html and "onclick" not in html and "javascript:" not in html
    assert "Hi ${first_name}," in html
    assert 'href="${unsubscribe_url}"' in html
    assert 'href="https://shop.example/?u=${customer_id}&amp;x=1"' in html
    assert templates.template_as_dict(result.template)["variables"] == [
        "first_name",
        "unsubscribe_url",
        "customer_id",
    ]


def test_literal_dollars_survive_sanitizing(app_ctx: Flask) -> None:
    assert templates.sanitize_template_html("<p>$$5 or $5 for ${item}</p>") == (
        "<p>$$5 or $5 for ${item}</p>"
    )


def test_preview_renders_sample_values_and_lists_the_variables(app_ctx: Flask) -> None:
    preview, errors = templates.preview_data(
        {
            "subject": "Order ${ticket} for ${customer_name}",
            "body_html": "<p>Dear ${customer_name}, your ${widget} ships.</p>",
            "body_text": "Dear ${customer_name}",
        }
    )
    assert errors == {} and preview is not None
    assert preview.variables == ["ticket", "customer_name", "widget"]
    assert preview.subject == "Order 1042 for Jane Doe"
    assert preview.body_html == "<p>Dear Jane Doe, your [widget] ships.</p>"
    assert preview.body_text == "Dear Jane Doe"


def test_preview_escapes_given_values_in_html(app_ctx: Flask) -> None:
    preview, _ = templates.preview_data(
        {"body_html": "<p>${name}</p>", "variables": {"name": "<img src=x onerror=alert(1)>"}}
    )
    assert preview is not None
    assert "<img" not in preview.body_html and "&lt;img" in preview.body_html


def test_name_and_some_body_are_required_and_subject_is_one_line(app_ctx: Flask) -> None:
    _, errors = templates.validate_template({"subject": "a\r\nBcc: x@example.com"})
    assert set(errors) == {"name", "subject", "body_text"}


def test_template_campaign_must_be_a_live_campaign(app_ctx: Flask) -> None:
    gone = make_campaign("Gone")
    gone_id = gone.id
    delete_campaign(gone_id, actor_id="1", confirmed=True)
    _, errors = templates.validate_template({"name": "x", "body_text": "y", "campaign_id": gone_id})
    assert "campaign_id" in errors


def test_a_campaign_sees_its_own_templates_and_the_global_ones(app_ctx: Flask) -> None:
    sales = make_campaign("Sales")
    other = make_campaign("Other")
    make_template("b-global")
    make_template("a-sales", sales.id)
    make_template("c-other", other.id)
    assert [t.name for t in templates.templates_for_campaign(sales.id)] == ["a-sales", "b-global"]
    assert [t.name for t in templates.templates_for_campaign(None)] == ["b-global"]
    assert templates.list_templates(campaign_id=other.id).total == 2


def test_deleting_a_template_unhooks_it_from_campaigns_and_dialers(app_ctx: Flask) -> None:
    session = get_state().session
    signature = make_template("Signature")
    sales = make_campaign(
        "Sales",
        signature_template_id=signature.id,
        autoreply_template_id=signature.id,
        autoreply_enabled=True,
    )
    dialer = Dialer(name="Spring", campaign_id=sales.id, template_id=signature.id)
    session.add(dialer)
    session.commit()

    assert (
        "confirm" in templates.delete_template(signature.id, actor_id="1", confirmed=False).errors
    )
    assert templates.delete_template(signature.id, actor_id="1", confirmed=True).ok

    session.expire_all()
    campaign = session.get(Campaign, sales.id)
    assert campaign is not None
    assert campaign.signature_template_id is None and campaign.autoreply_template_id is None
    assert not campaign.autoreply_enabled
    assert session.get(Dialer, dialer.id).template_id is None
    assert session.get(Template, signature.id) is None


def test_moving_a_template_to_one_campaign_unhooks_it_elsewhere(app_ctx: Flask) -> None:
    shared = make_template("Shared")
    sales = make_campaign("Sales", signature_template_id=shared.id)
    other = make_campaign("Other", signature_template_id=shared.id)
    assert templates.save_template({"campaign_id": sales.id}, shared.id, actor_id="1").ok
    session = get_state().session
    session.expire_all()
    assert session.get(Campaign, sales.id).signature_template_id == shared.id
    assert session.get(Campaign, other.id).signature_template_id is None
