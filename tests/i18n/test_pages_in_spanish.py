"""A page shown in Spanish has no English left: every word a person reads is in the
Spanish catalog, or is data (names, addresses) or a name that is not translated."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.admin.helpers import make_campaign, make_template
from tests.fixtures.app import USERS, create_users, login
from tests.i18n.helpers import (
    SPANISH,
    answered_interaction,
    dialer_record,
    rating_path,
    spanish_campaign,
    spanish_texts,
    unsubscribe_path,
    visible_text,
    words,
)
from ucmail_ext.extension import get_state
from ucmail_ext.models import Member

# Not translated: product, protocol and provider names, routing strategies (uContact's
# own names), language names, the weekday/month names Babel supplies, and seeded data.
KEPT = words(
    "SMTP IMAP TLS STARTTLS SSL OAuth2 DKIM SPF DMARC TXT DNS RSA Ed25519 HTML CSV Gmail "
    "Outlook Microsoft Google Workspace ucmail linear rrmemory leastrecent fewestcalls "
    "random English Español Português lun mar mié jue vie sáb dom "
    "UTC Europe Madrid America Montevideo Sales Ventas Firma Regards "
    "Jane Doe Alex Example Ltd Support Alice Bob Carol Agent Ada Admin Sam Supervisor "
    "test login invalid org com "
    "cliente Consulta"
)


@pytest.fixture
def seeded(app: Flask) -> Iterator[dict[str, int]]:
    create_users(app)
    with app.app_context():
        sales = make_campaign("Sales", rating_enabled=True)
        spanish = spanish_campaign("Ventas")
        template = make_template("Firma", campaign_id=sales.id)
        agent = get_state().session.query(Member).count()
        session = get_state().session
        from example_host_app.models import User

        alice = session.query(User).filter_by(email=USERS["agent1"][0]).one()
        session.add(Member(campaign_id=sales.id, agent_id=str(alice.id)))
        session.commit()
        yield {
            "sales": sales.id,
            "spanish": spanish.id,
            "template": template.id,
            "members": agent,
            "answer": answered_interaction(spanish).id,
            "record": dialer_record(spanish).id,
        }


def _english_left(html: str) -> set[str]:
    text = re.sub(r"\$\{\w+\}", " ", visible_text(html))  # ${variable} names are code
    return words(text) - words(" ".join(spanish_texts())) - KEPT


def _as(app: Flask, who: str) -> FlaskClient:
    client = app.test_client()
    login(client, app, USERS[who][0])
    return client


def test_the_admin_screens_have_no_english_left(app: Flask, seeded: dict[str, int]) -> None:
    admin = _as(app, "admin")
    pages = [
        "/ucmail/campaigns/",
        f"/ucmail/campaigns/{seeded['sales']}",
        f"/ucmail/campaigns/{seeded['sales']}/delete",
        "/ucmail/templates/",
        f"/ucmail/templates/{seeded['template']}",
        f"/ucmail/templates/{seeded['template']}/delete",
        "/ucmail/members/",
        f"/ucmail/members/?campaign_ids={seeded['sales']}",
        "/ucmail/campaigns/999999",
    ]
    for url in pages:
        response = admin.get(url, headers=SPANISH)
        assert response.status_code in (200, 404), url
        left = _english_left(response.get_data(True))
        assert not left, f"{url}: English left {sorted(left)}"


def test_a_refused_page_has_no_english_left(app: Flask, seeded: dict[str, int]) -> None:
    page = _as(app, "agent1").get("/ucmail/campaigns/", headers=SPANISH)
    assert page.status_code == 403
    assert not _english_left(page.get_data(True))


def test_the_customer_pages_have_no_english_left(app: Flask, seeded: dict[str, int]) -> None:
    from ucmail_ext.models import DialerRecord, Message

    with app.app_context():
        session = get_state().session
        answer = session.get(Message, seeded["answer"])
        record = session.get(DialerRecord, seeded["record"])
        rate, unsubscribe = rating_path(answer, 5), unsubscribe_path(record)
    customer = app.test_client()
    pages = [
        customer.get(rate),
        customer.get("/ucmail/tracking/rate/broken/3", headers=SPANISH),
        customer.get(unsubscribe),
        customer.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}),
        customer.get(unsubscribe),  # already unsubscribed
        customer.get("/ucmail/tracking/u/broken", headers=SPANISH),
    ]
    for response in pages:
        left = _english_left(response.get_data(True))
        assert not left, f"{response.request.path}: English left {sorted(left)}"
