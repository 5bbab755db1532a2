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
