"""Which language ucmail speaks: the host's hook, else Accept-Language, else English;
customers read their campaign's language whatever their browser says."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.admin.helpers import make_campaign
from tests.i18n.helpers import (
    ENGLISH,
    SPANISH,
    answered_interaction,
    dialer_record,
    rating_path,
    spanish_campaign,
    unsubscribe_path,
)
from ucmail_ext import i18n
from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign
from ucmail_ext.services.desk import rating

HOOKED: dict[str, Any] = {"locale": None, "zone": None}


def chosen_locale() -> str | None:
    return HOOKED["locale"]


def chosen_zone() -> str | None:
    return HOOKED["zone"]


def test_a_spanish_browser_gets_the_admin_screens_in_spanish(client_for) -> None:  # type: ignore[no-untyped-def]
    page = client_for("admin").get("/ucmail/campaigns/", headers=SPANISH).get_data(True)

    assert "Nueva campaña" in page and "Datos de la campaña" in page
    assert "New campaign" not in page


def test_an_english_or_unknown_browser_gets_english(client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for("admin")
    for headers in (ENGLISH, {"Accept-Language": "de-DE,de;q=0.9"}, {}):
        page = client.get("/ucmail/campaigns/", headers=headers).get_data(True)
        assert "New campaign" in page and "Nueva campaña" not in page


def test_the_hosts_locale_selector_wins_over_the_browser(make_app, users) -> None:  # type: ignore[no-untyped-def]
    app = make_app(UCMAIL_LOCALE_SELECTOR=f"{__name__}:chosen_locale")
    from tests.fixtures.app import USERS, create_users, login

    create_users(app)
    client = app.test_client()
    login(client, app, USERS["admin"][0])
    HOOKED["locale"] = "es"
    try:
        page = client.get("/ucmail/campaigns/", headers=ENGLISH).get_data(True)
    finally:
        HOOKED["locale"] = None
    assert "Nueva campaña" in page

    page = client.get("/ucmail/campaigns/", headers=ENGLISH).get_data(True)
    assert "New campaign" in page  # the hook said nothing: Accept-Language again


def test_flash_messages_and_form_errors_follow_the_language(client_for, app: Flask) -> None:  # type: ignore[no-untyped-def]
    from tests.fixtures.app import csrf_token

    client = client_for("admin")
    response = client.post(
        "/ucmail/campaigns/",
        data={"name": "", "csrf_token": csrf_token(client, app)},
        headers=SPANISH,
    )
    page = response.get_data(True)
    assert "La campaña no se creó: corrige los campos marcados abajo." in page
    assert "El nombre es obligatorio." in page


def test_times_are_shown_in_the_zone_the_host_picks(make_app) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    app = make_app(UCMAIL_TIMEZONE_SELECTOR=f"{__name__}:chosen_zone")
    stored = datetime(2026, 3, 10, 1, 30, tzinfo=UTC)
    HOOKED["zone"] = "America/Montevideo"
    try:
        with app.test_request_context(headers=SPANISH):
            shown = i18n.format_datetime(stored, "short")
            zone = i18n.current_timezone().key
    finally:
        HOOKED["zone"] = None
    assert zone == "America/Montevideo"
    assert shown.startswith("9/3/26") and "22:30" in shown  # the evening before, local
    with app.test_request_context(headers=ENGLISH):
        assert i18n.current_timezone().key == "UTC"
        assert "1:30" in i18n.format_datetime(stored, "short")


def test_numbers_are_formatted_for_the_locale(app: Flask) -> None:
    with app.test_request_context(headers=SPANISH):
        assert i18n.format_number(1234567.5) == "1.234.567,5"
        assert i18n.format_percent(0.95).replace("\xa0", " ") == "95 %"
    with app.test_request_context(headers=ENGLISH):
        assert i18n.format_number(1234567.5) == "1,234,567.5"


def test_a_spanish_campaigns_customer_gets_the_rating_page_in_spanish(app_ctx: Flask) -> None:
    answer = answered_interaction(spanish_campaign())
    client = app_ctx.test_client()

    page = client.get(rating_path(answer, 5), headers=ENGLISH).get_data(True)

    assert "<h1>Gracias</h1>" in page and "Gracias por tu calificación." in page
    assert 'lang="es"' in page
    assert "Thank you" not in page


def test_an_english_campaigns_customer_gets_the_rating_page_in_english(app_ctx: Flask) -> None:
    answer = answered_interaction(make_campaign("Sales"))
    page = app_ctx.test_client().get(rating_path(answer, 4), headers=SPANISH).get_data(True)
    assert "Thank you for your rating." in page and "Gracias" not in page


def test_a_broken_rating_link_speaks_the_browsers_language(app_ctx: Flask) -> None:
    client = app_ctx.test_client()
    page = client.get("/ucmail/tracking/rate/broken/5", headers=SPANISH)
    assert page.status_code == 400
    assert "Este enlace de calificación no es válido." in page.get_data(True)


def test_a_spanish_campaigns_customer_unsubscribes_in_spanish(app_ctx: Flask) -> None:
    record = dialer_record(spanish_campaign())
    client: FlaskClient = app_ctx.test_client()

    asked = client.get(unsubscribe_path(record), headers=ENGLISH).get_data(True)
    done = client.post(
        unsubscribe_path(record), data={"List-Unsubscribe": "One-Click"}, headers=ENGLISH
    ).get_data(True)

    assert "¿Dejar de enviar estos correos a c***@example.org?" in asked
    assert ">Darse de baja</button>" in asked
    assert "Te diste de baja" in done and "c***@example.org no volverá a recibir" in done


def test_the_rating_block_of_an_answer_is_in_the_campaigns_language(app_ctx: Flask) -> None:
    campaign = spanish_campaign(rating_enabled=True)
    answer = answered_interaction(campaign)
    with app_ctx.test_request_context(headers=ENGLISH):
        text, html = rating.email_block(campaign, answer.id)
    assert "¿Cómo lo hicimos?" in text and "¿Cómo lo hicimos?" in html
    assert 'title="5 de 5"' in html


def test_the_campaign_form_saves_the_customers_language(app_ctx: Flask) -> None:
    from ucmail_ext.services.admin import campaigns

    campaign = make_campaign("Soporte")
    values, errors = campaigns.validate_campaign({"language": "pt"}, campaign)
    assert not errors and values is not None and values.columns["language"] == "pt"
    _, errors = campaigns.validate_campaign({"language": "fr"}, campaign)
    assert "language" in errors
    assert get_state().session.get(Campaign, campaign.id).language == "en"


def test_the_customer_language_is_on_the_campaign_form(client_for, app: Flask) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        campaign_id = spanish_campaign().id
    page = client_for("admin").get(f"/ucmail/campaigns/{campaign_id}").get_data(True)
    assert '<option value="es" lang="es" selected>Español</option>' in page


def test_csv_exports_keep_iso_dates_plain_numbers_and_english_codes(app: Flask) -> None:
    """A CSV is data for another program: the page's language changes nothing in it."""
    from datetime import UTC, datetime

    from ucmail_ext.models import DialerList
    from ucmail_ext.services.dialer import lists

    with app.test_request_context(headers=SPANISH):
        record = dialer_record(spanish_campaign())
        record.state, record.attempts, record.line = "rejected", 1234, 12345
        record.sent_at = datetime(2026, 3, 10, 1, 30, tzinfo=UTC)
        record.status_code, record.error = "550", "mailbox unavailable"
        get_state().session.commit()
        dialer_list = get_state().session.get(DialerList, record.list_id)

        lines = "".join(lists.problem_records_csv(dialer_list, "")).splitlines()

    assert lines[0].startswith("line;email;state;")
    assert "12345;cliente@example.org;rejected;550;mailbox unavailable;1234;" in lines[1]
    assert "2026-03-10 01:30:00" in lines[1]
    assert "12.345" not in lines[1] and "rechazado" not in lines[1]
