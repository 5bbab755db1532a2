"""Credentials at rest and signed links.

Mailbox passwords are Fernet-encrypted (MultiFernet so keys rotate); with neither
``UCMAIL_ENCRYPTION_KEYS`` nor ``SECRET_KEY`` ucmail refuses to start rather than
store plaintext. Links that arrive without a session (tracking pixel, rating,
one-click unsubscribe) carry itsdangerous tokens salted per purpose, so a token made
for one purpose is worthless for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app
from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_encode

PURPOSES = ("pixel", "rating", "unsubscribe", "attachment", "click", "epoch")


class ConfigurationError(RuntimeError):
    """ucmail cannot run safely with this configuration."""


class DecryptionError(ValueError):
    """A stored secret cannot be read with the configured keys."""


def _derive_key(secret: str | bytes) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else secret
    digest = hashlib.sha256(b"ucmail-credentials:" + raw).digest()
    return base64.urlsafe_b64encode(digest)


def build_cipher(keys: str | Iterable[str] | None, secret_key: Any) -> MultiFernet:
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    key_list = list(keys or [])
    if key_list:
        try:
            return MultiFernet([Fernet(k) for k in key_list])
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                "UCMAIL_ENCRYPTION_KEYS holds a key that is not a Fernet key "
                "(make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            ) from exc
    if secret_key:
        return MultiFernet([Fernet(_derive_key(secret_key))])
    raise ConfigurationError(
        "ucmail needs UCMAIL_ENCRYPTION_KEYS or SECRET_KEY to encrypt mailbox passwords; "
        "it will not store them in plaintext"
    )


def require_signing_key(secret_key: Any) -> None:
    """SECRET_KEY signs what arrives without a session (pixel, rating, unsubscribe,
    inline images) and, through Flask and Flask-WTF, every session and CSRF token.

    Encryption keys alone do not stand in for it: signing with a key that also
    encrypts passwords mixes two purposes, and the host's login and CSRF would still
    have no key. So ucmail refuses at init_app instead of answering 500 on the first
    tracking pixel.
    """
    if not secret_key:
        raise ConfigurationError(
            "ucmail needs the app's SECRET_KEY: it signs tracking, rating and unsubscribe "
            "links, sessions and CSRF tokens (UCMAIL_ENCRYPTION_KEYS only encrypt passwords)"
        )


def _cipher(app: Flask | None = None) -> MultiFernet:
    return (app or current_app).extensions["ucmail"].cipher


def encrypt_secret(plaintext: str, app: Flask | None = None) -> bytes:
    return _cipher(app).encrypt(plaintext.encode("utf-8"))


def decrypt_secret(token: bytes | None, app: Flask | None = None) -> str:
    if not token:
        return ""
    try:
        return _cipher(app).decrypt(bytes(token)).decode("utf-8")
    except InvalidToken as exc:
        raise DecryptionError(
            "a stored mailbox password cannot be decrypted: was UCMAIL_ENCRYPTION_KEYS "
            "or SECRET_KEY changed without keeping the old key?"
        ) from exc


def rotate_secret(token: bytes, app: Flask | None = None) -> bytes:
    """Re-encrypt under the newest key (after adding a key in front of the list)."""
    return _cipher(app).rotate(bytes(token))


def _serializer(purpose: str, app: Flask | None = None) -> URLSafeSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    app = app or current_app
    return URLSafeSerializer(app.config["SECRET_KEY"], salt=f"ucmail.{purpose}")


def make_token(purpose: str, payload: Any, app: Flask | None = None) -> str:
    return _serializer(purpose, app).dumps(payload)


def token_maker(purpose: str, app: Flask | None = None) -> Callable[[Any], str]:
    """``make_token`` for many payloads (a dialer signs two per message): the
    serializer and its signer are built once instead of per token."""
    serializer = _serializer(purpose, app)
    # The same HMAC-SHA1 as itsdangerous' default, which wraps hashlib.sha1 in a
    # function and so takes hmac's slow pure-Python path; the tokens are identical.
    signer = serializer.signer(
        serializer.secret_keys, salt=serializer.salt, digest_method=hashlib.sha1
    )
    # itsdangerous derives the key again for every signature, and its payload dump
    # tries zlib on every value: per message that was most of a dialer's token cost.
    # The HMAC keyed once is copied per token; a record id (a small int) is dumped
    # directly: JSON of fewer than ten characters never compresses shorter, so the
    # bytes are those dump_payload makes.
    keyed = hmac.new(signer.derive_key(), digestmod=hashlib.sha1)
    sep = signer.sep

    def make(payload: Any) -> str:
        if type(payload) is int and 0 <= payload < 1_000_000_000:
            value = base64_encode(str(payload).encode("ascii"))
        else:
            value = serializer.dump_payload(payload)
        mac = keyed.copy()
        mac.update(value)
        return (value + sep + base64_encode(mac.digest())).decode("utf-8")

    return make


def read_token(purpose: str, token: str, app: Flask | None = None) -> Any | None:
    """The payload, or None when the token was tampered with or made for another purpose."""
    try:
        return _serializer(purpose, app).loads(token)
    except BadSignature:
        return None
