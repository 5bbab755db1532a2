"""Microsoft 365 and Google presets: servers, OAuth2 sign-in, sending limits, dialer pace."""

from __future__ import annotations

import pytest
from flask import Flask

from example_host_app.extensions import db
from ucmail_ext.models import Campaign
from ucmail_ext.services.admin.campaigns import PRESETS
from ucmail_ext.services.dialer import dialers


def test_presets_fill_servers_security_and_oauth2_with_the_sending_limits() -> None:
    microsoft = PRESETS["microsoft365"]
    assert (microsoft.imap_host, microsoft.imap_port, microsoft.imap_security) == (
        "outlook.office365.com",
        993,
        "ssl",
    )
    assert (microsoft.smtp_host, microsoft.smtp_port, microsoft.smtp_security) == (
        "smtp.office365.com",
        587,
        "starttls",
    )
    assert (microsoft.auth_method, microsoft.oauth_kind) == ("oauth2", "microsoft")
    assert "30 messages a minute" in microsoft.sending_limit
    assert microsoft.dialer_gap_seconds == 2.0  # 60 s / 30 messages
    google = PRESETS["google"]
    assert (google.imap_host, google.smtp_host, google.auth_method) == (
        "imap.gmail.com",
        "smtp.gmail.com",
        "oauth2",
    )
    assert "2,000 messages a day" in google.sending_limit


@pytest.mark.parametrize(
    ("smtp_host", "typed", "expected"),
    [
        ("smtp.office365.com", None, 2.0),
        ("smtp.office365.com", "", 2.0),
        ("smtp.office365.com", "0", 0.0),
        ("smtp.gmail.com", None, 3.0),
        ("mail.example.org", None, 0.0),
    ],
)
def test_a_new_dialer_on_a_preset_provider_defaults_to_its_pace(
    app: Flask, smtp_host: str, typed: str | None, expected: float
) -> None:
    with app.app_context():
        campaign = Campaign(name="Shop", email_address="news@shop.example", smtp_host=smtp_host)
        db.session.add(campaign)
        db.session.commit()
        data = {"campaign_id": campaign.id, "name": "Spring", "timezone": "UTC",
                "max_error_streak": "10"}  # fmt: skip
        if typed is not None:
            data["seconds_between"] = typed
        result = dialers.save_dialer(data, None, "1")
        assert result.ok, result.errors
        assert result.dialer is not None and result.dialer.seconds_between == expected
