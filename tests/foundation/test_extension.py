from __future__ import annotations

import pytest
from flask import Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy

from tests.fixtures.app import USERS, login
from ucmail_ext import UCMail
from ucmail_ext.config import SETTINGS, UnknownSettingWarning
from ucmail_ext.crypto import ConfigurationError
from ucmail_ext.extension import current_agent, get_state


def bare_app(tmp_path, **config) -> tuple[Flask, SQLAlchemy]:
    app = Flask("host")
    app.config.update(
        SECRET_KEY="k",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'bare.db'}",
        **config,
    )
    db = SQLAlchemy()
    db.init_app(app)
    LoginManager().init_app(app)
    return app, db


def test_state_lives_on_the_app_not_the_extension(tmp_path):
    app, db = bare_app(tmp_path)
    ucmail = UCMail()
    ucmail.init_app(app, db=db)
    assert get_state(app).db is db
    assert get_state(app).extension is ucmail
    assert not hasattr(ucmail, "app")


def test_second_registration_is_refused(tmp_path):
    app, db = bare_app(tmp_path)
    ucmail = UCMail()
    ucmail.init_app(app, db=db)
    with pytest.raises(RuntimeError, match="already been registered"):
        ucmail.init_app(app, db=db)


def test_one_extension_serves_two_apps(tmp_path):
    ucmail = UCMail()
    first, db1 = bare_app(tmp_path / "a", UCMAIL_URL_PREFIX="/one")
    second, db2 = bare_app(tmp_path / "b", UCMAIL_URL_PREFIX="/two")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ucmail.init_app(first, db=db1)
    ucmail.init_app(second, db=db2)
    assert get_state(first).db is db1 and get_state(second).db is db2
    assert any(r.rule.startswith("/one/") for r in first.url_map.iter_rules())
    assert any(r.rule.startswith("/two/") for r in second.url_map.iter_rules())


def test_every_setting_gets_its_default_and_host_values_win(tmp_path):
    app, db = bare_app(tmp_path, UCMAIL_PAGE_SIZE=7)
    UCMail(app, db=db)
    for key in SETTINGS:
        assert "UCMAIL_" + key in app.config
    assert app.config["UCMAIL_PAGE_SIZE"] == 7


def test_misspelt_setting_is_reported_with_a_suggestion(tmp_path):
    app, db = bare_app(tmp_path, UCMAIL_PAGESIZE=10)
    with pytest.warns(UnknownSettingWarning, match="did you mean UCMAIL_PAGE_SIZE"):
        UCMail(app, db=db)


def test_refuses_to_start_without_any_key(tmp_path):
    app, db = bare_app(tmp_path)
    app.config["SECRET_KEY"] = None
    with pytest.raises(ConfigurationError, match="will not store them in plaintext"):
        UCMail(app, db=db)


def test_needs_the_hosts_sqlalchemy(tmp_path):
    app = Flask("nodb")
    app.config["SECRET_KEY"] = "k"
    with pytest.raises(RuntimeError, match="Flask-SQLAlchemy"):
        UCMail(app)


def test_blueprints_follow_config(tmp_path):
    app, db = bare_app(tmp_path, UCMAIL_BLUEPRINTS=["dialer"], UCMAIL_URL_PREFIX="/mail")
    UCMail(app, db=db)
    names = {bp for bp in app.blueprints}
    assert names == {"ucmail_dialer"}
    assert any(r.rule == "/mail/dialer/" for r in app.url_map.iter_rules())


def test_unknown_blueprint_name_is_an_error(tmp_path):
    app, db = bare_app(tmp_path, UCMAIL_BLUEPRINTS=["dialr"])
    with pytest.raises(ValueError, match="unknown blueprint 'dialr'"):
        UCMail(app, db=db)


def test_cli_group_name_is_configurable_and_can_be_off(tmp_path):
    app, db = bare_app(tmp_path, UCMAIL_CLI_GROUP="email")
    UCMail(app, db=db)
    assert "email" in app.cli.commands
    app2, db2 = bare_app(tmp_path, UCMAIL_CLI_GROUP=None)
    UCMail(app2, db=db2)
    assert "ucmail" not in app2.cli.commands


def test_hooks_from_decorators_and_from_config_strings(tmp_path):
    ucmail = UCMail()

    @ucmail.role_checker
    def by_decorator(user, role):
        return role == "agent"

    app, db = bare_app(tmp_path)
    ucmail.init_app(app, db=db)
    assert get_state(app).hooks["role_checker"] is by_decorator

    app2, db2 = bare_app(
        tmp_path, UCMAIL_ROLE_CHECKER="tests.foundation.test_extension:config_checker"
    )
    ucmail.init_app(app2, db=db2)
    assert get_state(app2).hooks["role_checker"] is config_checker


def config_checker(user, role):
    return False


def test_current_agent_is_the_logged_in_host_user(app, users):
    client = app.test_client()
    login(client, app, USERS["agent1"][0])
    with client:
        client.get("/")
        assert current_agent.email == USERS["agent1"][0]


def test_host_that_registers_only_recordings_works(tmp_path):
    from example_host_app import create_app
    from example_host_app.extensions import db
    from tests.fixtures.app import base_config
    from ucmail_ext.blueprints.recordings import recordings_bp
    from ucmail_ext.models import Base

    config = base_config(f"sqlite:///{tmp_path / 'alone.db'}", tmp_path)
    config["UCMAIL_BLUEPRINTS"] = []
    app = create_app(config)
    app.register_blueprint(recordings_bp, url_prefix="/archive")
    with app.app_context():
        db.create_all()
        Base.metadata.create_all(db.engine)
    from tests.fixtures.app import create_users

    create_users(app)
    assert {b for b in app.blueprints if b.startswith("ucmail_")} == {"ucmail_recordings"}
    client = app.test_client()
    assert client.get("/archive/").status_code == 302  # login first
    login(client, app, USERS["supervisor"][0])
    page = client.get("/archive/")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "/archive/static/ucmail/ucmail.css" in body
    css = client.get("/archive/static/ucmail/ucmail.css")
    css.close()
    assert css.status_code == 200
