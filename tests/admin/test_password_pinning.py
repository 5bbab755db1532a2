"""The stored mailbox password only ever goes to the server it was saved for.

A "recorder" (tests/fixtures/recorder.py) is a loopback server that offers a login
and keeps every byte it is sent: had the stored password been sent to it, it would
be in those bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from tests.admin.conftest import Mailbox, api_headers, campaign_data
from tests.fixtures.recorder import Recorder
from ucmail_ext.crypto import decrypt_secret
from ucmail_ext.extension import get_state
from ucmail_ext.models import AuditEntry, Campaign
from ucmail_ext.services.admin import campaigns

pytestmark = pytest.mark.integration

API = "/ucmail/api"


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


@pytest.fixture
def saved(app_ctx: Flask, mailbox: Mailbox) -> Campaign:
    result = campaigns.save_campaign(campaign_data(mailbox), actor_id="1")
    assert result.ok, result.errors
    assert result.campaign is not None
    return result.campaign


def _without_password(mailbox: Mailbox, **overrides: Any) -> dict[str, Any]:
    data = campaign_data(mailbox, **overrides)
    data.pop("password")
    return data


def _audit(action: str) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    return list(get_state().session.scalars(stmt))


def test_check_aimed_at_a_new_server_with_no_password_sends_nothing_there(
    saved: Campaign, mailbox: Mailbox, recorder: Recorder
) -> None:
    data = _without_password(
        mailbox, smtp_host="127.0.0.1", smtp_port=recorder.port, smtp_security="none"
    )

    result = campaigns.check_values(data, saved.id, actor_id="7")

    assert result.errors == {"password": campaigns.RETYPE_PASSWORD}
    assert result.smtp is None
    assert recorder.connections == 0
    assert not recorder.saw(mailbox.account.password)
    refused = _audit("campaign.check.refused")
    assert [(a.actor_id, a.detail.split(":")[0]) for a in refused] == [
        ("7", f"campaign {saved.id}")
    ]


def test_api_check_with_campaign_id_and_a_new_host_port_refuses_and_keeps_the_secret(
    app: Flask, saved: Campaign, mailbox: Mailbox, recorder: Recorder, client_for: Any
) -> None:
    admin = client_for("admin")
    body = {
        **_without_password(
            mailbox, smtp_host="127.0.0.1", smtp_port=recorder.port, smtp_security="none"
        ),
        "campaign_id": saved.id,
    }

    response = admin.post(f"{API}/campaigns/check", json=body, headers=api_headers(admin, app))

    assert response.status_code == 422
    assert response.get_json()["fields"]["password"] == campaigns.RETYPE_PASSWORD
    assert recorder.connections == 0
    assert not recorder.saw(mailbox.account.password)


def test_update_pointing_at_a_new_server_needs_the_password_typed_again(
    app: Flask, saved: Campaign, mailbox: Mailbox, recorder: Recorder, client_for: Any
) -> None:
    admin = client_for("admin")
    patch = {"smtp_host": "127.0.0.1", "smtp_port": recorder.port, "smtp_security": "none"}

    response = admin.patch(
        f"{API}/campaigns/{saved.id}", json=patch, headers=api_headers(admin, app)
    )

    assert response.status_code == 422
    assert response.get_json()["fields"] == {"password": campaigns.RETYPE_PASSWORD}
    assert recorder.connections == 0
    session = get_state().session
    session.expire_all()
    stored = session.get(Campaign, saved.id)
    assert stored is not None
    assert (stored.smtp_host, stored.smtp_port) == (mailbox.sink.host, mailbox.sink.port)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("imap_port", 1),
        ("imap_host", "127.0.0.2"),
        ("imap_security", "none"),
        ("smtp_security", "ssl"),
        ("username", "someone-else"),
    ],
)
def test_any_server_or_login_change_needs_the_password_again(
    saved: Campaign, mailbox: Mailbox, field: str, value: Any
) -> None:
    values, errors = campaigns.validate_campaign(
        _without_password(mailbox, **{field: value}), saved
    )
    assert values is None
    assert errors == {"password": campaigns.RETYPE_PASSWORD}


def test_a_typed_password_may_go_to_a_new_server_and_the_check_is_audited(
    saved: Campaign, mailbox: Mailbox, recorder: Recorder
) -> None:
    data = campaign_data(
        mailbox,
        password="typed-for-the-new-one",
        smtp_host="127.0.0.1",
        smtp_port=recorder.port,
        smtp_security="none",
        receive_emails=False,
    )

    result = campaigns.check_values(data, saved.id, actor_id="7")

    assert result.smtp is not None and result.smtp.status == "red"
    assert recorder.saw("typed-for-the-new-one")
    assert not recorder.saw(mailbox.account.password)
    (entry,) = _audit("campaign.check")[-1:]
    assert entry.actor_id == "7"
    assert f"campaign {saved.id}" in entry.detail
    assert f"smtp 127.0.0.1:{recorder.port}" in entry.detail and "red" in entry.detail
    assert "typed-for-the-new-one" not in entry.detail
    assert decrypt_secret(saved.password_encrypted) == mailbox.account.password


def test_saved_settings_check_uses_the_stored_password_and_every_check_is_audited(
    saved: Campaign, mailbox: Mailbox
) -> None:
    before = len(_audit("campaign.check"))

    unsaved = campaigns.check_values(_without_password(mailbox), saved.id, actor_id="7")
    stored = campaigns.check_campaign(saved.id, actor_id="8")

    assert unsaved.ok and stored.ok
    entries = _audit("campaign.check")[before:]
    assert [e.actor_id for e in entries] == ["7", "8"]
    for entry in entries:
        assert f"smtp {mailbox.sink.host}:{mailbox.sink.port}" in entry.detail
        assert "green" in entry.detail
        assert mailbox.account.password not in entry.detail


def test_a_failed_save_check_is_audited_too(saved: Campaign, mailbox: Mailbox) -> None:
    before = len(_audit("campaign.check"))

    result = campaigns.save_campaign(
        campaign_data(mailbox, password="wrong-password"), saved.id, actor_id="9"
    )

    assert not result.ok
    entries = _audit("campaign.check")[before:]
    assert [e.actor_id for e in entries] == ["9"]
    assert "red" in entries[0].detail and "wrong-password" not in entries[0].detail
