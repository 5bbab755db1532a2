"""``flask ucmail rotate-keys`` moves OAuth2 tokens to the new key, like passwords."""

from __future__ import annotations

from cryptography.fernet import Fernet
from flask import Flask

from example_host_app.extensions import db
from ucmail_ext.crypto import build_cipher, decrypt_secret, encrypt_secret
from ucmail_ext.models import Campaign


def test_rotate_keys_reencrypts_refresh_and_access_tokens(app: Flask) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with app.app_context():
        app.extensions["ucmail"].cipher = build_cipher([old], None)
        db.session.add(
            Campaign(
                name="M365",
                email_address="support@contoso.test",
                auth_method="oauth2",
                oauth_provider="microsoft",
                oauth_refresh_token_encrypted=encrypt_secret("rt-secret"),
                oauth_access_token_encrypted=encrypt_secret("at-secret"),
            )
        )
        db.session.commit()
        app.extensions["ucmail"].cipher = build_cipher([new, old], None)

    result = app.test_cli_runner().invoke(args=["ucmail", "rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted 2 mailbox secret(s)" in result.output
    assert "rt-secret" not in result.output

    with app.app_context():
        app.extensions["ucmail"].cipher = build_cipher([new], None)
        campaign = db.session.scalars(db.select(Campaign)).one()
        assert decrypt_secret(campaign.oauth_refresh_token_encrypted) == "rt-secret"
        assert decrypt_secret(campaign.oauth_access_token_encrypted) == "at-secret"
