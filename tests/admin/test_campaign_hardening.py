"""Deleting a campaign with dialers, two campaigns on one mailbox, the list's status."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from tests.admin.conftest import Mailbox, api_headers, campaign_data, post_form
from tests.admin.helpers import make_campaign
from ucmail_ext.extension import get_state
from ucmail_ext.models import AuditEntry, Campaign, Dialer, DialerList, utcnow
from ucmail_ext.services.admin import campaigns
from ucmail_ext.services.dialer import dialers as dialer_service

API = "/ucmail/api"


def _dialer(campaign_id: int, name: str, list_state: str = "active") -> Dialer:
    session = get_state().session
    dialer = Dialer(name=name, campaign_id=campaign_id, state="running")
    session.add(dialer)
    session.flush()
    session.add(DialerList(dialer_id=dialer.id, name=f"{name}.csv", state=list_state))
    session.commit()
    return dialer


def test_deleting_a_campaign_with_dialers_is_refused_with_their_names(any_app: Flask) -> None:
    with any_app.app_context():
        campaign = make_campaign("Sales")
        _dialer(campaign.id, "Spring offer")
        _dialer(campaign.id, "Autumn offer")

        result = campaigns.delete_campaign(campaign.id, actor_id="1", confirmed=True)

        assert not result.ok
        assert result.dialers == ["Autumn offer", "Spring offer"]
        assert "Autumn offer, Spring offer" in result.errors["dialers"]
        session = get_state().session
        session.expire_all()
        assert session.get(Campaign, campaign.id).deleted_at is None
        assert all(d.deleted_at is None for d in session.scalars(select(Dialer)))


def test_choosing_to_disable_the_dialers_deletes_the_campaign_and_stops_them(
    any_app: Flask,
) -> None:
    with any_app.app_context():
        campaign = make_campaign("Sales")
        dialer = _dialer(campaign.id, "Spring offer")

        result = campaigns.delete_campaign(
            campaign.id, actor_id="1", confirmed=True, disable_dialers=True
        )

        assert result.ok and result.dialers == ["Spring offer"]
        session = get_state().session
        session.expire_all()
        stored = session.get(Dialer, dialer.id)
        assert stored.deleted_at is not None and stored.state == "stopped"
        assert {lst.state for lst in session.scalars(select(DialerList))} == {"inactive"}
        assert session.get(Campaign, campaign.id).deleted_at is not None
        actions = set(session.scalars(select(AuditEntry.action)))
        assert {"campaign.delete", "dialer.delete"} <= actions


def test_dialer_monitoring_never_shows_a_deleted_campaigns_lists(any_app: Flask) -> None:
    with any_app.app_context():
        kept = make_campaign("Kept")
        gone = make_campaign("Gone")
        _dialer(kept.id, "Kept dialer")
        # Deleted before deleting refused dialers: its dialer was left live.
        _dialer(gone.id, "Orphan dialer")
        gone.deleted_at = utcnow()
        get_state().session.commit()

        rows = dialer_service.monitor(None)

        assert [row.dialer_name for row in rows] == ["Kept dialer"]


def test_delete_page_lists_the_dialers_and_offers_to_disable_them(
    app: Flask, client_for: Any
) -> None:
    admin = client_for("admin")
    with app.app_context():
        campaign_id = make_campaign("Sales").id
        _dialer(campaign_id, "Spring <offer>")

    refused = post_form(admin, app, f"/ucmail/campaigns/{campaign_id}/delete", {"confirm": "yes"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert 'id="error-dialers"' in html and "Spring &lt;offer&gt;" in html
    assert 'name="disable_dialers"' in html

    done = post_form(
        admin,
        app,
        f"/ucmail/campaigns/{campaign_id}/delete",
        {"confirm": "yes", "disable_dialers": "yes"},
    )
    assert done.status_code == 302
    with app.app_context():
        assert get_state().session.get(Campaign, campaign_id).deleted_at is not None


def test_api_delete_answers_409_with_the_dialers_unless_asked_to_disable(
    app: Flask, client_for: Any
) -> None:
    admin = client_for("admin")
    with app.app_context():
        campaign_id = make_campaign("Sales").id
        _dialer(campaign_id, "Spring offer")
    headers = api_headers(admin, app)

    refused = admin.delete(f"{API}/campaigns/{campaign_id}?confirm=yes", headers=headers)
    assert refused.status_code == 409
    assert refused.get_json()["dialers"] == ["Spring offer"]

    done = admin.delete(
        f"{API}/campaigns/{campaign_id}?confirm=yes&disable_dialers=yes", headers=headers
    )
    assert done.status_code == 200
    assert done.get_json()["dialers_removed"] == ["Spring offer"]


@pytest.mark.integration
def test_a_second_campaign_on_the_same_mailbox_is_saved_with_a_warning(
    app_ctx: Flask, mailbox: Mailbox
) -> None:
    first = campaigns.save_campaign(campaign_data(mailbox), actor_id="1")
    assert first.ok and first.warnings == []

    second = campaigns.save_campaign(campaign_data(mailbox, name="Sales"), actor_id="1")

    assert second.ok
    assert second.campaign is not None and second.campaign.id
    (warning,) = second.warnings
    assert "'Support'" in warning and mailbox.account.host in warning


@pytest.mark.integration
def test_the_form_shows_the_shared_mailbox_warning_after_save(
    app: Flask, client_for: Any, mailbox: Mailbox
) -> None:
    from tests.admin.conftest import form_fields

    admin = client_for("admin")
    with app.app_context():
        assert campaigns.save_campaign(campaign_data(mailbox), actor_id="1").ok
    response = post_form(
        admin, app, "/ucmail/campaigns/", form_fields(campaign_data(mailbox, name="Sales"))
    )
    assert response.status_code == 302
    html = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "ucmail-flash-warning" in html and "also read by" in html


@pytest.mark.integration
def test_test_connection_on_the_saved_settings_updates_the_lists_status(
    app: Flask, client_for: Any, mailbox: Mailbox
) -> None:
    from tests.admin.conftest import form_fields

    admin = client_for("admin")
    with app.app_context():
        result = campaigns.save_campaign(campaign_data(mailbox), actor_id="1")
        assert result.campaign is not None
        campaign_id = result.campaign.id
        stored = get_state().session.get(Campaign, campaign_id)
        stored.smtp_status, stored.imap_status = "red", "red"
        get_state().session.commit()
    fields = form_fields(campaign_data(mailbox))
    fields.pop("password")

    response = post_form(
        admin, app, "/ucmail/campaigns/check", {**fields, "campaign_id": campaign_id}
    )

    body = response.get_json()
    assert body["stored"] is True and body["campaign_id"] == campaign_id
    html = admin.get("/ucmail/campaigns/").get_data(as_text=True)
    assert 'data-list-status="smtp" title="' in html
    assert 'class="status-red"' not in html
    with app.app_context():
        stored = get_state().session.get(Campaign, campaign_id)
        assert (stored.smtp_status, stored.imap_status) == ("green", "green")


@pytest.mark.integration
def test_test_connection_on_other_settings_leaves_the_stored_status_alone(
    app_ctx: Flask, mailbox: Mailbox
) -> None:
    result = campaigns.save_campaign(campaign_data(mailbox), actor_id="1")
    assert result.campaign is not None
    checked = campaigns.check_values(
        campaign_data(mailbox, password="wrong-password"), result.campaign.id, actor_id="1"
    )
    assert not checked.status_stored
    assert result.campaign.smtp_status == "green"
