"""The agent portal, supervision, recordings and dialer screens shown in Spanish have no
English left: every word is in the Spanish catalog, or is seeded data or a kept name."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.agent.conftest import Floor, post
from tests.agent.helpers import assigned
from tests.fixtures.app import USERS, login
from tests.fixtures.servers import SmtpSink
from tests.i18n.helpers import SPANISH, spanish_texts, words
from tests.i18n.test_pages_in_spanish import KEPT, _english_left
from tests.supervision.factories import (
    add_member,
    add_message,
    make_campaign,
    make_interaction,
    online,
)
from ucmail_ext.extension import get_state
from ucmail_ext.mail.rich import RichBodyError, rich_body
from ucmail_ext.models import BlacklistEntry, Dialer, DialerList, DialerRecord, Note

# The seeded rows' own words (a dialer's and a list's names, a close reason), key names
# on the keyboard, and the month names Babel supplies.
DATA = words(
    "Boletín Clientes Reembolso cliente Consulta nada nadie Ctrl Enter Esc "
    "ene feb mar abr may jun jul ago sept oct nov dic"
)


@dataclass(frozen=True)
class Seeded:
    agent_id: str
    interaction_id: int
    dialer_id: int
    list_id: int
    entry_id: int


@pytest.fixture
def seeded(app: Flask, users: dict[str, Any]) -> Iterator[Seeded]:
    agent_id = str(users["agent1"].id)
    with app.app_context():
        session = get_state().session
        campaign = make_campaign(
            "Sales", dispositions="Reembolso", disposition_required=True, language="es"
        )
        add_member(campaign, agent_id)
        online(agent_id)
        interaction = make_interaction(
            campaign, "cliente@example.org", "Consulta", state="assigned", agent_id=agent_id
        )
        add_message(interaction, "in", "Hola")
        add_message(interaction, "out", "Listo", status="failed", error="")
        add_message(interaction, "out", "Listo", status="queued")
        for kind in ("note", "transfer"):
            session.add(
                Note(
                    interaction_id=interaction.id,
                    kind=kind,
                    body="Consulta",
                    author_id=agent_id,
                    author_name="Alice Agent",
                )
            )
        dialer = Dialer(name="Boletín", campaign_id=campaign.id, state="paused")
        session.add(dialer)
        session.flush()
        dialer_list = DialerList(
            dialer_id=dialer.id, name="Clientes", accepted_rows=2, refused_rows=0
        )
        session.add(dialer_list)
        session.flush()
        for line, state in ((2, "sent"), (3, "interrupted")):
            session.add(
                DialerRecord(
                    list_id=dialer_list.id, line=line, email="cliente@example.org", state=state
                )
            )
        entry = BlacklistEntry(address="cliente@example.org", source="unsubscribe", reason="")
        session.add(entry)
        session.commit()
        yield Seeded(agent_id, interaction.id, dialer.id, dialer_list.id, entry.id)


def _as(app: Flask, who: str) -> FlaskClient:
    client = app.test_client()
    login(client, app, USERS[who][0])
    return client


def _english_in(client: FlaskClient, urls: list[str]) -> dict[str, list[str]]:
    left = {}
    for url in urls:
        response = client.get(url, headers=SPANISH)
        assert response.status_code == 200, url
        found = _english_left(response.get_data(True)) - DATA - KEPT
        if found:
            left[url] = sorted(found)
    return left


def test_the_agent_portal_has_no_english_left(app: Flask, seeded: Seeded) -> None:
    urls = [
        "/ucmail/agent/",
        f"/ucmail/agent/?open={seeded.interaction_id}",
        f"/ucmail/agent/?open={seeded.interaction_id}&compose=reply",
        f"/ucmail/agent/?open={seeded.interaction_id}&compose=forward",
        "/ucmail/agent/?q=Consulta",
        "/ucmail/agent/?q=nada",
        "/ucmail/agent/new",
    ]
    assert not _english_in(_as(app, "agent1"), urls)


def test_the_supervision_screens_have_no_english_left(app: Flask, seeded: Seeded) -> None:
    agent = f"/ucmail/supervision/agents/{seeded.agent_id}"
    urls = [
        "/ucmail/supervision/",
        f"{agent}/info",
        f"{agent}/spy",
        f"{agent}/screen",
        f"{agent}/interactions",
    ]
    assert not _english_in(_as(app, "supervisor"), urls)


def test_the_recordings_have_no_english_left(app: Flask, seeded: Seeded) -> None:
    urls = [
        "/ucmail/recordings/",
        "/ucmail/recordings/?start=nope",
        "/ucmail/recordings/?email=nadie",
        f"/ucmail/recordings/{seeded.interaction_id}",
    ]
    assert not _english_in(_as(app, "supervisor"), urls)


def test_the_dialer_screens_have_no_english_left(app: Flask, seeded: Seeded) -> None:
    urls = [
        "/ucmail/dialer/",
        f"/ucmail/dialer/{seeded.dialer_id}/edit",
        f"/ucmail/dialer/{seeded.dialer_id}",
        f"/ucmail/dialer/lists/{seeded.list_id}",
        f"/ucmail/dialer/lists/{seeded.list_id}?state=all",
        f"/ucmail/dialer/lists/{seeded.list_id}/delete",
        "/ucmail/dialer/monitor",
        "/ucmail/dialer/blacklist",
        f"/ucmail/dialer/blacklist/{seeded.entry_id}/remove",
    ]
    assert not _english_in(_as(app, "supervisor"), urls)


def test_the_catalog_is_what_these_tests_compare_with() -> None:
    """Guards the comparison itself: a word of one of these pages is in the catalog."""
    assert "supervisión" in words(" ".join(spanish_texts()))


def test_ucmail_templates_can_give_a_word_its_context(app: Flask) -> None:
    """``pgettext``: "Sent" over a message and "Sent" over a column of counts are two
    entries of the catalog (Spanish says "Enviado" and "Enviados")."""
    template = app.jinja_env.from_string('{{ pgettext("message", "Sent") }}')
    template.name = "ucmail/recordings/view.html"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert template.render() == "Sent"


def test_a_pasted_image_error_says_what_went_wrong_in_words_and_in_a_reason() -> None:
    with pytest.raises(RichBodyError) as caught:
        rich_body('<img src="data:image/png;base64,not*base64">', "ucmail.test", 1000)
    assert caught.value.reason == "unreadable"
    assert "could not be read" in str(caught.value)


def test_an_oversized_pasted_image_is_refused_in_the_agents_language(
    floor: Floor, client_for: Any, smtp_sink: SmtpSink
) -> None:
    floor.app.config["UCMAIL_MAX_ATTACHMENT_BYTES"] = 10
    interaction_id = assigned(floor, floor.agent1, "Consulta")
    pixel = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()
    answer = post(
        client_for("agent1"),
        floor.app,
        f"/ucmail/agent/interactions/{interaction_id}/send",
        {
            "kind": "reply",
            "to": "cliente@example.org",
            "subject": "Re: Consulta",
            "body": "Mire",
            "body_html": f'<p>Mire</p><img src="data:image/png;base64,{pixel}">',
        },
        headers=SPANISH,
    )
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert 'id="error-body"' in page
    assert "a pasted image is larger than" not in page


def test_the_dialer_activity_chart_reads_in_the_users_zone() -> None:
    from datetime import UTC, datetime

    from ucmail_ext.i18n import force_timezone
    from ucmail_ext.services.dialer.charts import _label

    ten_thirty_utc = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    with force_timezone("America/Montevideo"):
        assert _label(ten_thirty_utc, 300) == "07:30"
        assert _label(ten_thirty_utc, 86400) == "2 Mar"
