"""Fixtures for the administration screens: a mailbox whose IMAP and SMTP logins agree."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures.app import csrf_token
from tests.fixtures.servers import ImapAccount, SmtpSink


@dataclass(frozen=True)
class Mailbox:
    """A Dovecot account plus an SMTP sink that accepts the same user and password."""

    account: ImapAccount
    sink: SmtpSink

    @property
    def address(self) -> str:
        return f"{self.account.user}@ucmail.test"


@pytest.fixture
def make_sink() -> Iterator[Callable[[str, str], SmtpSink]]:
    sinks: list[SmtpSink] = []

    def start(user: str, password: str) -> SmtpSink:
        sink = SmtpSink(credentials=(user, password), tls=True).start()
        sinks.append(sink)
        return sink

    yield start
    for sink in sinks:
        sink.stop()


@pytest.fixture
def mailbox(imap_account: ImapAccount, make_sink: Callable[[str, str], SmtpSink]) -> Mailbox:
    return Mailbox(imap_account, make_sink(imap_account.user, imap_account.password))


def campaign_data(mailbox: Mailbox, **overrides: Any) -> dict[str, Any]:
    """A valid campaign for the test servers, as the form or the API sends it."""
    data: dict[str, Any] = {
        "name": "Support",
        "service_level_seconds": 600,
        "strategy": "rrmemory",
        "timezone": "Europe/Madrid",
        "from_name": "Support Team",
        "email_address": mailbox.address,
        "username": mailbox.account.user,
        "password": mailbox.account.password,
        "smtp_host": mailbox.sink.host,
        "smtp_port": mailbox.sink.port,
        "smtp_security": "starttls",
        "imap_host": mailbox.account.host,
        "imap_port": mailbox.account.port,
        "imap_security": "starttls",
        "enabled": True,
        "receive_emails": True,
        "max_per_agent": 3,
        "max_in_queue": 100,
        "threshold_warning_seconds": 300,
        "threshold_critical_seconds": 900,
        "schedules": [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}],
    }
    data.update(overrides)
    return data


def form_fields(data: dict[str, Any]) -> dict[str, Any]:
    """``campaign_data`` as the HTML form posts it (checkboxes absent when off)."""
    fields: dict[str, Any] = {}
    for key, value in data.items():
        if key == "schedules":
            for n, row in enumerate(value):
                fields[f"schedules-{n}-days"] = [str(d) for d in row["days"]]
                fields[f"schedules-{n}-start"] = row["start"]
                fields[f"schedules-{n}-end"] = row["end"]
        elif value is True:
            fields[key] = "on"
        elif value is not False:
            fields[key] = "" if value is None else str(value)
    return fields


def post_form(client: FlaskClient, app: Flask, url: str, fields: dict[str, Any]) -> Any:
    return client.post(url, data={**fields, "csrf_token": csrf_token(client, app)})


def api_headers(client: FlaskClient, app: Flask) -> dict[str, str]:
    return {"X-CSRFToken": csrf_token(client, app), "Accept": "application/json"}
