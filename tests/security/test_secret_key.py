"""No public secret key: the host refuses to start without one, the demo makes its own,
and ucmail refuses at init_app when nothing can sign its links."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from example_host_app import NO_SECRET_KEY, create_app, stored_secret_key
from tests.foundation.test_extension import bare_app
from ucmail_ext import UCMail
from ucmail_ext.crypto import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]


def host_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HELPDESK_", "FLASK_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        HELPDESK_SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'h.db'}",
        **extra,
    )
    return env


def test_host_refuses_to_start_without_a_secret_key_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "example_host_app", "routes"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=host_env(tmp_path),
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == NO_SECRET_KEY
    assert "HELPDESK_SECRET_KEY" in NO_SECRET_KEY


def test_host_starts_with_its_secret_key_from_the_environment(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "example_host_app", "routes"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=host_env(tmp_path, HELPDESK_SECRET_KEY="a-long-random-value-for-this-test"),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "/ucmail/" in done.stdout


@pytest.mark.parametrize("key", [None, "", "dev-only-change-me", "demo-secret-key"])
def test_host_outside_testing_refuses_a_missing_or_once_public_key(tmp_path, key):
    config = {"SECRET_KEY": key, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'h.db'}"}
    with pytest.raises(SystemExit) as refused:
        create_app(config)
    assert str(refused.value) == NO_SECRET_KEY


def test_stored_key_is_random_private_and_kept(tmp_path):
    first = stored_secret_key(tmp_path / "a" / "secret-key")
    assert first == stored_secret_key(tmp_path / "a" / "secret-key")
    assert first != stored_secret_key(tmp_path / "b" / "secret-key")
    assert len(first) >= 40
    assert stat.S_IMODE((tmp_path / "a" / "secret-key").stat().st_mode) == 0o600


def test_make_demo_generates_its_key_once_in_its_data_folder(tmp_path, monkeypatch):
    from example_host_app import demo

    monkeypatch.delenv("HELPDESK_SECRET_KEY", raising=False)
    monkeypatch.setattr(demo, "DATA", tmp_path / "demo-data")
    key = demo.demo_environment()["HELPDESK_SECRET_KEY"]
    assert key == demo.demo_environment()["HELPDESK_SECRET_KEY"]
    assert key == (tmp_path / "demo-data" / "secret-key").read_text().strip()
    assert key not in {"demo-secret-key", "dev-only-change-me"}


def test_ucmail_refuses_at_init_when_nothing_signs_its_links(tmp_path):
    """Encryption keys alone used to start, then answer 500 on the first tracking pixel."""
    app, db = bare_app(tmp_path, UCMAIL_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    app.config["SECRET_KEY"] = None
    with pytest.raises(ConfigurationError, match="needs the app's SECRET_KEY"):
        UCMail(app, db=db)
