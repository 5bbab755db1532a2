"""Campaign rules that need no mail server: validation, disable, delete, schedules."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.admin.helpers import STORED_PASSWORD, make_campaign, make_template
from ucmail_ext.crypto import decrypt_secret
from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign, Interaction
from ucmail_ext.services.admin import campaigns


def valid(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Support",
        "email_address": "support@example.com",
        "password": "pw",
        "smtp_host": "smtp.example.com",
        "imap_host": "imap.example.com",
    }
    data.update(overrides)
    return data


def errors_of(data: dict[str, Any], current: Campaign | None = None) -> dict[str, str]:
    return campaigns.validate_campaign(data, current)[1]


def test_a_complete_campaign_validates(app_ctx: Flask) -> None:
    values, errors = campaigns.validate_campaign(valid())
    assert errors == {}
    assert values is not None
    assert values.columns["smtp_port"] == 587 and values.columns["imap_security"] == "ssl"


def test_missing_fields_are_reported_each_under_its_own_name(app_ctx: Flask) -> None:
    errors = errors_of({})
    assert set(errors) == {"name", "email_address", "password", "smtp_host", "imap_host"}


def test_receive_emails_off_makes_the_imap_fields_optional(app_ctx: Flask) -> None:
    assert errors_of(valid(imap_host="", receive_emails=False)) == {}
    assert "imap_host" in errors_of(valid(imap_host="", receive_emails=True))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("strategy", "fastest"),
        ("timezone", "Mars/Olympus_Mons"),
        ("smtp_port", 70000),
        ("imap_port", "nine"),
        ("smtp_security", "tls1.3"),
        ("email_address", "not an address"),
        ("from_name", "Evil\r\nBcc: victim@example.com"),
        ("smtp_host", "smtp example com"),
        ("service_level_seconds", 0),
        ("max_per_agent", True),
        ("enabled", "maybe"),
        ("signature_template_id", "x1"),
        ("name", "n" * 121),
    ],
)
def test_a_bad_value_is_refused_with_a_message_for_its_field(
    app_ctx: Flask, field: str, value: Any
) -> None:
    errors = errors_of(valid(**{field: value}))
    assert list(errors) == [field]
    assert errors[field].endswith(".")


def test_an_unknown_field_is_reported_not_ignored(app_ctx: Flask) -> None:
    assert errors_of(valid(pasword="typo")) == {"pasword": "Unknown field."}


def test_a_live_campaign_name_is_unique_but_a_deleted_ones_name_is_free(app_ctx: Flask) -> None:
    sales = make_campaign("Sales")
    assert "name" in errors_of(valid(name="sales"))
    assert errors_of({"name": "Sales"}, sales) == {}

    campaigns.delete_campaign(sales.id, actor_id="1", confirmed=True)
    assert errors_of(valid(name="Sales")) == {}


def test_an_empty_password_on_edit_keeps_the_stored_one(app_ctx: Flask) -> None:
    sales = make_campaign("Sales")
    values, errors = campaigns.validate_campaign({"password": "", "name": "Sales 2"}, sales)
    assert errors == {}
    assert values is not None and values.password is None
    assert campaigns._probe(values, sales).password_encrypted == sales.password_encrypted


def test_a_password_error_never_quotes_the_password(app_ctx: Flask) -> None:
    errors = errors_of(valid(password="hunter2\nline"))
    assert "password" in errors and "hunter2" not in errors["password"]


def test_schedules_take_day_numbers_or_names_and_refuse_bad_rows(app_ctx: Flask) -> None:
    values, errors = campaigns.validate_campaign(
        valid(schedules=[{"days": ["mon", "Tuesday", 6], "start": "22:00", "end": "06:00"}])
    )
    assert errors == {}
    assert values is not None
    assert values.schedules[0].days_mask == 0b1000011

    assert (
        "day"
        in errors_of(valid(schedules=[{"days": [], "start": "9:00", "end": "10:00"}]))["schedules"]
    )
    assert (
        "Schedule 2"
        in errors_of(
            valid(
                schedules=[
                    {"days": [0], "start": "09:00", "end": "10:00"},
                    {"days": [0], "start": "25:00", "end": "10:00"},
                ]
            )
        )["schedules"]
    )
    assert (
        "differ"
        in errors_of(valid(schedules=[{"days": [1], "start": "9:00", "end": "9:00"}]))["schedules"]
    )


def test_auto_reply_needs_a_template_of_this_campaign_or_a_global_one(app_ctx: Flask) -> None:
    sales = make_campaign("Sales")
    other = make_campaign("Other")
    own = make_template(
        "Own", sales.id, body_text="We got ${subject}", body_html="<p>${ticket}</p>"
    )
    foreign = make_template("Foreign", other.id)
    shared = make_template("Shared")

    assert "autoreply_template_id" in errors_of({"autoreply_enabled": True}, sales)
    assert errors_of({"autoreply_enabled": True, "autoreply_template_id": own.id}, sales) == {}
    assert errors_of({"signature_template_id": str(shared.id)}, sales) == {}
    assert "signature_template_id" in errors_of({"signature_template_id": foreign.id}, sales)


def test_the_critical_threshold_is_not_below_the_warning(app_ctx: Flask) -> None:
    errors = errors_of(valid(threshold_warning_seconds=600, threshold_critical_seconds=60))
    assert list(errors) == ["threshold_critical_seconds"]


def test_an_invalid_campaign_saves_nothing_and_tries_no_login(app_ctx: Flask) -> None:
    result = campaigns.save_campaign(valid(timezone="Nowhere/Never"), actor_id="1")
    assert not result.ok and result.smtp is None and result.imap is None
    assert get_state().session.scalar(select(func.count(Campaign.id))) == 0


def test_presets_fill_in_gmail_and_outlook_servers() -> None:
    gmail, outlook = campaigns.PRESETS["gmail"], campaigns.PRESETS["outlook"]
    assert (gmail.smtp_host, gmail.smtp_port, gmail.smtp_security) == (
        "smtp.gmail.com",
        587,
        "starttls",
    )
    assert (gmail.imap_host, gmail.imap_port, gmail.imap_security) == ("imap.gmail.com", 993, "ssl")
    assert (outlook.smtp_host, outlook.imap_host) == ("smtp.office365.com", "outlook.office365.com")
    assert (outlook.smtp_port, outlook.imap_port) == (587, 993)


def test_disabling_keeps_everything_and_enabling_restores_it(app_ctx: Flask) -> None:
    sales = make_campaign("Sales", max_in_queue=7)
    campaigns.set_enabled(sales.id, False, actor_id="1")
    session = get_state().session
    session.expire_all()
    stored = session.get(Campaign, sales.id)
    assert stored is not None
    assert not stored.enabled and stored.max_in_queue == 7 and stored.deleted_at is None
    assert decrypt_secret(stored.password_encrypted) == STORED_PASSWORD
    assert len(stored.schedules) == 1
    assert campaigns.set_enabled(sales.id, True, actor_id="1").enabled


def test_delete_needs_confirmation_and_keeps_interactions_under_the_name(app_ctx: Flask) -> None:
    session = get_state().session
    sales = make_campaign("Sales")
    session.add(Interaction(campaign_id=sales.id, customer_email="c@example.com", subject="Hi"))
    session.commit()

    refused = campaigns.delete_campaign(sales.id, actor_id="1", confirmed=False)
    assert "confirm" in refused.errors and sales.deleted_at is None

    campaigns.delete_campaign(sales.id, actor_id="1", confirmed=True)
    session.expire_all()
    interaction = session.scalars(select(Interaction)).one()
    assert interaction.campaign.name == "Sales" and interaction.campaign.deleted_at is not None
    assert not interaction.campaign.enabled
    assert campaigns.list_campaigns().total == 0
    with pytest.raises(campaigns.CampaignNotFound):
        campaigns.get_campaign(sales.id)


def test_schedules_are_added_and_removed_one_at_a_time(app_ctx: Flask) -> None:
    sales = make_campaign("Sales")
    result = campaigns.add_schedule(
        sales.id, {"days": [5, 6], "start": "10:00", "end": "14:00"}, actor_id="1"
    )
    assert result.ok
    assert [campaigns.schedule_as_dict(s)["days"] for s in sales.schedules] == [[0], [5, 6]]
    assert "schedules" in campaigns.add_schedule(sales.id, {"days": [1]}, actor_id="1").errors

    first = sales.schedules[0].id
    assert campaigns.remove_schedule(sales.id, first, actor_id="1")
    assert not campaigns.remove_schedule(sales.id, first, actor_id="1")
    assert [s.days_mask for s in sales.schedules] == [0b1100000]


def test_json_shape_never_carries_the_password(app_ctx: Flask) -> None:
    body = campaigns.campaign_as_dict(make_campaign("Sales"))
    assert body["has_password"] is True
    assert not any("password" in key and key != "has_password" for key in body)
    assert STORED_PASSWORD not in repr(body)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_admins_saving_one_live_name_at_once_get_a_field_error(
    make_app, backend, monkeypatch
) -> None:
    """The check-then-write race: the database's partial unique index has the last word."""
    app = make_app(backend)
    with app.app_context():
        make_campaign("Support")
        green = campaigns.ConnectionStatus("green", "ok")
        monkeypatch.setattr(campaigns, "run_checks", lambda probe: (green, green))
        monkeypatch.setattr(campaigns, "_name_taken", lambda name, current: False)
        result = campaigns.save_campaign(valid(), actor_id="1")
        assert result.errors == {"name": "Another campaign already has this name."}
        session = get_state().session
        assert session.scalar(select(func.count(Campaign.id))) == 1


def test_a_deleted_campaigns_name_can_be_reused(app_ctx: Flask) -> None:
    old = make_campaign("Support")
    old.deleted_at = old.created_at
    get_state().session.commit()
    make_campaign("Support")
    session = get_state().session
    assert session.scalar(select(func.count(Campaign.id)).where(Campaign.name == "Support")) == 2
