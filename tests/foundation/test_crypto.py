from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from ucmail_ext.crypto import (
    DecryptionError,
    build_cipher,
    decrypt_secret,
    encrypt_secret,
    make_token,
    read_token,
    rotate_secret,
)


def test_password_round_trips_and_is_not_stored_in_plaintext(app_ctx):
    token = encrypt_secret("hunter2")
    assert b"hunter2" not in token
    assert decrypt_secret(token) == "hunter2"


def test_keys_rotate_without_losing_old_secrets(app_ctx):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = build_cipher([old], None).encrypt(b"s3cret")
    both = build_cipher([new, old], None)
    assert both.decrypt(token) == b"s3cret"
    app_ctx.extensions["ucmail"].cipher = both
    rotated = rotate_secret(token)
    assert build_cipher([new], None).decrypt(rotated) == b"s3cret"


def test_a_wrong_key_is_a_readable_error_without_the_secret(app_ctx):
    token = build_cipher([Fernet.generate_key().decode()], None).encrypt(b"topsecret")
    with pytest.raises(DecryptionError) as info:
        decrypt_secret(token)
    assert "topsecret" not in str(info.value)


def test_comma_separated_keys_from_the_environment(app_ctx):
    keys = ",".join(Fernet.generate_key().decode() for _ in range(2))
    assert build_cipher(keys, None)


def test_tokens_are_scoped_to_their_purpose_and_refuse_tampering(app_ctx):
    token = make_token("pixel", {"record": 5})
    assert read_token("pixel", token) == {"record": 5}
    assert read_token("unsubscribe", token) is None
    assert read_token("pixel", token[:-2] + "xx") is None
    with pytest.raises(ValueError):
        make_token("anything", 1)


def test_rotate_keys_command_reencrypts_every_mailbox_password(app):
    from example_host_app.extensions import db
    from ucmail_ext.models import Campaign

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with app.app_context():
        app.extensions["ucmail"].cipher = build_cipher([old], None)
        for name in ("A", "B"):
            secret = encrypt_secret(f"pw-{name.lower()}")
            db.session.add(Campaign(name=name, email_address="a@x.test", password_encrypted=secret))
        db.session.commit()
        app.extensions["ucmail"].cipher = build_cipher([new, old], None)

    result = app.test_cli_runner().invoke(args=["ucmail", "rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted 2" in result.output

    with app.app_context():
        app.extensions["ucmail"].cipher = build_cipher([new], None)
        campaigns = db.session.scalars(db.select(Campaign))
        stored = {c.name: decrypt_secret(c.password_encrypted) for c in campaigns}
    assert stored == {"A": "pw-a", "B": "pw-b"}
