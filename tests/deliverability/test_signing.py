"""DKIM signatures over the final bytes verify with an independent verifier (dkimpy)."""

from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.deliverability.helpers import relayed
from ucmail_ext.mail.dkim import DkimKey, DkimSigner, canonical_body, canonical_header

MESSAGE = (
    b"From: =?utf-8?q?Caf=C3=A9_Shop?= <news@shop.example>\r\n"
    b"To: customer@mail.example\r\n"
    b"Subject: Spring   offer\r\n  for you\r\n"
    b"Date: Sun, 06 Dec 2026 20:00:00 +0000\r\n"
    b"Message-ID: <ucmail.dialer.1@shop.example>\r\n"
    b"List-Unsubscribe: <https://helpdesk.test/u/abc>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Hello  Ana, \r\nthe code is SPRING-1.\r\n\r\n\r\n"
)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def _dns(rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey | None = None):  # type: ignore[no-untyped-def]
    der = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    records = {b"s1._domainkey.shop.example.": b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)}
    if ed_key is not None:
        raw = ed_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        records[b"s1-ed._domainkey.shop.example."] = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(
            raw
        )
    return lambda name, timeout=5: records.get(name)


def test_a_signed_message_verifies_with_dkimpy(rsa_key: rsa.RSAPrivateKey) -> None:
    signed = DkimSigner("shop.example", [DkimKey("s1", rsa_key)]).sign(MESSAGE)

    assert signed.endswith(MESSAGE)
    assert dkim.verify(signed, dnsfunc=_dns(rsa_key))


def test_the_signature_survives_a_received_header_added_by_the_relay(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    signed = DkimSigner("shop.example", [DkimKey("s1", rsa_key)]).sign(MESSAGE)

    assert dkim.verify(relayed(signed), dnsfunc=_dns(rsa_key))


def test_bare_line_feeds_are_signed_as_the_crlf_that_goes_on_the_wire(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    signed = DkimSigner("shop.example", [DkimKey("s1", rsa_key)]).sign(
        MESSAGE.replace(b"\r\n", b"\n")
    )

    assert b"\n" not in signed.replace(b"\r\n", b"")
    assert dkim.verify(signed, dnsfunc=_dns(rsa_key))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda raw: raw.replace(b"SPRING-1", b"SPRING-9"),
        lambda raw: raw.replace(b"Subject: Spring", b"Subject: Free"),
        lambda raw: raw.replace(b"To: customer@", b"To: other@"),
        lambda raw: raw.replace(
            b"MIME-Version", b"List-Unsubscribe: <https://evil.test/>\r\nMIME-Version"
        ),
        lambda raw: raw.replace(b"MIME-Version", b"From: boss@shop.example\r\nMIME-Version"),
    ],
    ids=["body", "subject", "to", "second-unsubscribe", "second-from"],
)
def test_a_tampered_message_fails(rsa_key: rsa.RSAPrivateKey, tamper) -> None:  # type: ignore[no-untyped-def]
    signed = DkimSigner("shop.example", [DkimKey("s1", rsa_key)]).sign(MESSAGE)

    assert not dkim.verify(tamper(signed), dnsfunc=_dns(rsa_key))


def test_the_signature_covers_the_identity_mime_and_one_click_unsubscribe_headers(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    signed = DkimSigner("shop.example", [DkimKey("s1", rsa_key)]).sign(MESSAGE)

    header = signed.split(b"\r\nFrom:", 1)[0].split(b":", 1)[1]
    tags = dkim.util.parse_tag_value(b"".join(header.split()))
    covered = set(tags[b"h"].decode().split(":"))
    assert covered >= {
        "from", "to", "subject", "date", "message-id", "mime-version", "content-type",
        "content-transfer-encoding", "list-unsubscribe", "list-unsubscribe-post",
    }  # fmt: skip
    assert tags[b"c"] == b"relaxed/relaxed" and tags[b"a"] == b"rsa-sha256"
    assert tags[b"d"] == b"shop.example" and tags[b"s"] == b"s1"


def test_an_ed25519_second_signature_verifies_next_to_the_rsa_one(
    rsa_key: rsa.RSAPrivateKey, ed_key: ed25519.Ed25519PrivateKey
) -> None:
    signer = DkimSigner("shop.example", [DkimKey("s1", rsa_key), DkimKey("s1-ed", ed_key)])
    signed = relayed(signer.sign(MESSAGE))
    checker = dkim.DKIM(signed)

    assert checker.verify(idx=0, dnsfunc=_dns(rsa_key, ed_key))
    assert checker.verify(idx=1, dnsfunc=_dns(rsa_key, ed_key))
    assert signed.count(b"a=ed25519-sha256") == 1


def test_relaxed_canonicalization_matches_rfc_6376_examples() -> None:
    # RFC 6376 §3.4.5's example, headers and body.
    assert canonical_header(b"A", b" X\r\n") == b"a:X\r\n"
    assert canonical_header(b"B ", b" Y\t\r\n\tZ  ") == b"b:Y Z\r\n"
    assert canonical_body(b" C \r\nD \t E\r\n\r\n\r\n") == b" C\r\nD E\r\n"
    assert canonical_body(b"\r\n\r\n") == b""


@pytest.mark.parametrize(
    ("domain", "selector"),
    [("not a domain", "s1"), ("shop.example", "bad selector"), ("shop.example", "")],
)
def test_a_signer_refuses_a_bad_domain_or_selector(
    rsa_key: rsa.RSAPrivateKey, domain: str, selector: str
) -> None:
    with pytest.raises(ValueError):
        DkimSigner(domain, [DkimKey(selector, rsa_key)])
