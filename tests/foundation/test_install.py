"""`pip install .` (not editable) ships everything a host needs, migrations included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOST = """
from flask import Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from ucmail_ext import UCMail

db = SQLAlchemy()


def create_app():
    app = Flask("outside")
    app.config.update(SECRET_KEY="k", SQLALCHEMY_DATABASE_URI="sqlite:///{db}")
    db.init_app(app)
    LoginManager().init_app(app)
    UCMail(app, db=db)
    return app
"""


@pytest.mark.integration
def test_installed_package_migrates_a_new_database_from_outside_the_checkout(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "--target",
            str(target),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr
    package = target / "ucmail_ext"
    assert (package / "migrations" / "env.py").is_file()
    assert (package / "migrations" / "script.py.mako").is_file()
    assert list((package / "migrations" / "versions").glob("0001_*.py"))
    assert (package / "templates" / "ucmail" / "base.html").is_file()
    assert (package / "static" / "ucmail" / "ucmail.css").is_file()

    work = tmp_path / "host"
    work.mkdir()
    db_file = work / "new.db"
    (work / "outside_host.py").write_text(HOST.format(db=db_file))
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": f"{work}{os.pathsep}{target}",
        "FLASK_APP": "outside_host:create_app",
        "PYTHONSAFEPATH": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "flask", "ucmail", "db", "upgrade"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, ucmail_ext; "
            "print(ucmail_ext.__file__); "
            f"print(*sorted(r[0] for r in sqlite3.connect({str(db_file)!r}).execute("
            "\"select name from sqlite_master where type='table'\")))",
        ],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    assert check.returncode == 0, check.stderr
    location, tables = check.stdout.splitlines()
    assert location.startswith(str(target)), "imported the checkout, not the installed copy"
    from ucmail_ext.models import Base

    assert set(Base.metadata.tables) | {"ucmail_alembic_version"} <= set(tables.split())


def _source_packages() -> set[str]:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "ucmail_ext").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    return found | {"ucmail_ext.migrations", "ucmail_ext.migrations.versions"}


@pytest.mark.integration
def test_wheel_builds_quietly_and_ships_every_package_and_data_file(tmp_path):
    """setuptools warned "Package would be ignored" for every template folder (~70
    lines on `pip install`), and a new package missing from setup.cfg went unnoticed."""
    import zipfile

    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    output = built.stdout + built.stderr
    assert built.returncode == 0, output
    assert "would be ignored" not in output
    assert "absent from the `packages` configuration" not in output
    (wheel,) = tmp_path.glob("ucmail_ext-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {name.rsplit("/", 1)[0].replace("/", ".") for name in names if "/__init__.py" in name}
    assert _source_packages() <= shipped
    for folder in ("templates", "static"):
        for path in (ROOT / "ucmail_ext" / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                assert path.relative_to(ROOT).as_posix() in names


def test_make_demo_installs_the_runtime_and_the_demo_extra_only(tmp_path):
    plan = subprocess.run(
        ["make", "-n", "demo", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert plan.returncode == 0, plan.stderr
    installs = [line for line in plan.stdout.splitlines() if "pip install" in line and "-e" in line]
    assert installs == [f"{tmp_path / 'venv'}/bin/python -m pip install -q -e '.[demo]'"]
    assert ".installed-demo" in plan.stdout
