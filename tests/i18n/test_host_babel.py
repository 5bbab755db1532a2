"""A host that already runs Flask-Babel keeps its Babel and its catalogs; ucmail adds
its own domain beside them."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask import Flask, render_template_string

from tests.fixtures.app import USERS, create_users, login
from tests.i18n.helpers import SPANISH

HOST_SPANISH = {"Log out": "Cerrar sesión", "Campaigns": "Campañas del anfitrión"}


@pytest.fixture
def host_app(make_app, tmp_path: Path) -> Flask:  # type: ignore[no-untyped-def]
    """The example helpdesk with its own Flask-Babel and "messages" catalog, set up
    before ucmail.init_app."""
    catalog = Catalog(locale="es")
    for source, translated in HOST_SPANISH.items():
        catalog.add(source, translated)
    folder = tmp_path / "host-translations" / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.mo").open("wb") as out:
        write_mo(out, catalog)
    app = make_app(
        HELPDESK_BABEL=True, BABEL_TRANSLATION_DIRECTORIES=str(tmp_path / "host-translations")
    )
    create_users(app)
    return app


def test_ucmail_keeps_the_hosts_babel(host_app: Flask) -> None:
    babel = host_app.extensions["babel"]
    assert babel.locale_selector.__name__ == "host_locale"
    assert babel.default_domain == "messages"


def test_the_hosts_own_templates_keep_the_hosts_translations(host_app: Flask) -> None:
    import flask_babel

    with host_app.test_request_context(headers=SPANISH):
        assert render_template_string('{{ _("Campaigns") }}') == "Campañas del anfitrión"
        assert flask_babel.gettext("Log out") == "Cerrar sesión"


def test_ucmail_pages_speak_spanish_inside_the_hosts_translated_layout(host_app: Flask) -> None:
    client = host_app.test_client()
    login(client, host_app, USERS["admin"][0])

    page = client.get("/ucmail/campaigns/", headers=SPANISH).get_data(True)

    assert "Nueva campaña" in page and "<h1>Campañas</h1>" in page
    assert "Cerrar sesión" in page  # the host's layout, from the host's catalog
    assert "Campañas del anfitrión" not in page


def test_without_a_host_babel_ucmail_brings_one(app: Flask) -> None:
    from ucmail_ext import i18n

    assert app.extensions["babel"].locale_selector is i18n._selector_of_ucmail
    with app.test_request_context(headers=SPANISH):
        assert render_template_string('{{ _("Log out") }}') == "Log out"
