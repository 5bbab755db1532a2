from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, create_engine, insert, inspect, text

from ucmail_ext import migrations
from ucmail_ext.models import Base

UCMAIL_TABLES = set(Base.metadata.tables)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    eng = create_engine(url)
    if request.param == "postgresql":
        with eng.begin() as conn:
            migrations.downgrade(conn, "base") if migrations.current(conn) else None
            Base.metadata.drop_all(conn)
    yield eng
    eng.dispose()


@pytest.mark.integration
def test_upgrade_from_empty_creates_every_table_then_downgrade_removes_them(engine):
    migrations.upgrade(engine)
    names = set(inspect(engine).get_table_names())
    assert UCMAIL_TABLES <= names
    assert migrations.VERSION_TABLE in names
    assert "alembic_version" not in names
    assert migrations.current(engine) == migrations.head()
    migrations.downgrade(engine, "base")
    assert not UCMAIL_TABLES & set(inspect(engine).get_table_names())


@pytest.mark.integration
def test_models_and_migrations_agree(engine):
    migrations.upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_object": migrations.include_ucmail_objects,
                "compare_type": True,
                "version_table": migrations.VERSION_TABLE,
            },
        )
        assert compare_metadata(context, Base.metadata) == []
    migrations.downgrade(engine, "base")


def test_host_autogenerate_never_proposes_dropping_ucmail_tables(tmp_path):
    """The host's own Flask-Migrate history, with exclude_ucmail_objects, ignores us."""
    db_file = tmp_path / "host.db"
    env = {
        "FLASK_APP": "tests.foundation.host_with_migrate:create",
        "HOST_DB": f"sqlite:///{db_file}",
        "HOST_MIGRATIONS": str(tmp_path / "host_migrations"),
        "PATH": "/usr/bin:/bin",
    }
    flask = [sys.executable, "-m", "flask"]

    def run(*args):
        done = subprocess.run(
            [*flask, *args], env=env, capture_output=True, text=True, cwd=tmp_path.parent
        )
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout + done.stderr

    import os

    env["PYTHONPATH"] = os.getcwd()
    run("ucmail", "db", "upgrade")
    run("db", "init", "-d", env["HOST_MIGRATIONS"])
    run("db", "migrate", "-d", env["HOST_MIGRATIONS"], "-m", "host tables")
    versions = list((tmp_path / "host_migrations" / "versions").glob("*.py"))
    assert len(versions) == 1
    script = versions[0].read_text()
    assert "host_note" in script
    assert "ucmail_" not in script


def _filler(column, index: int):
    """A value of the column's type, enough to insert a row as 0001 defined it."""
    python_type = column.type.python_type
    if python_type is bool:
        return False
    if python_type in (int, float):
        return index
    if python_type is datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)
    return f"v{index}"


@pytest.mark.integration
def test_rows_stored_before_0002_get_the_models_defaults(engine):
    """Columns added to existing tables must not leave old rows without a value."""
    migrations.upgrade(engine, "0001")
    campaign = Table("ucmail_campaign", MetaData(), autoload_with=engine)
    row = {
        column.name: _filler(column, index)
        for index, column in enumerate(campaign.columns)
        if not column.nullable and not column.primary_key
    }
    with engine.begin() as conn:
        conn.execute(insert(campaign).values(**row))
    migrations.upgrade(engine)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT * FROM ucmail_campaign")).mappings().one()
    assert stored["auth_method"] == "password"
    assert stored["language"] == "en"
    assert stored["dkim_enabled"] in (False, 0)
    assert stored["offline_requeue_minutes"] == 0 and stored["dispositions"] == ""
    migrations.downgrade(engine, "base")
