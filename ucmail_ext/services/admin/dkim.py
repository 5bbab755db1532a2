"""DKIM per campaign: the key made here, kept encrypted, published by the admin, then used.

The private key never leaves the server: it is generated here (RSA 2048, and an
optional Ed25519 key for a second signature), encrypted like mailbox passwords
(``flask ucmail rotate-keys`` re-encrypts it) and only its public half is shown,
as the DNS TXT record to publish. A new key turns signing off: mail signed before
the record is published would fail DKIM at every receiver, so the admin enables
signing once the record is in place (the deliverability check tells).
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ucmail_ext.crypto import DecryptionError, decrypt_secret, encrypt_secret
from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext
from ucmail_ext.mail.dkim import DkimKey, DkimSigner, is_valid_domain, is_valid_selector
from ucmail_ext.models import Campaign
from ucmail_ext.services import audit

RSA_BITS = 2048
ED25519_SUFFIX = "-ed"
# TXT character-strings hold at most 255 octets (RFC 1035 §3.3.14); longer record
# values are published as several strings that receivers join.
TXT_CHUNK = 255
_SIGNERS: dict[tuple[Any, ...], DkimSigner] = {}
_SIGNERS_LOCK = threading.Lock()
_SIGNERS_MAX = 256


@dataclass(frozen=True)
class DnsRecord:
    """A TXT record to publish: ``name`` (fully qualified) and its ``value``."""

    name: str
    value: str
    algorithm: str

    @property
    def zone_line(self) -> str:
        """The record as a zone-file line, split into 255-octet strings."""
        chunks = [self.value[i : i + TXT_CHUNK] for i in range(0, len(self.value), TXT_CHUNK)]
        quoted = " ".join(f'"{chunk}"' for chunk in chunks)
        return f"{self.name}. IN TXT ( {quoted} )"


@dataclass
class DkimResult:
    ok: bool
    message: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    campaign: Campaign | None = None


def _session() -> Any:
    return get_state().session


def sender_domain(campaign: Campaign) -> str:
    return campaign.email_address.rpartition("@")[2].strip().lower()


def is_aligned(domain: str, from_domain: str) -> bool:
    """DMARC relaxed alignment, approximated: d= is the From domain or a parent of it."""
    domain, from_domain = domain.lower(), from_domain.lower()
    return from_domain == domain or from_domain.endswith("." + domain)


def _pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def validate(campaign: Campaign, domain: str, selector: str) -> dict[str, str]:
    errors = {}
    if not is_valid_domain(domain):
        errors["dkim_domain"] = gettext(
            "“%(domain)s” is not a domain name: use the sender's domain, e.g. %(example)s.",
            domain=domain[:80],
            example=sender_domain(campaign) or "example.com",
        )
    elif not is_aligned(domain, sender_domain(campaign)):
        errors["dkim_domain"] = gettext(
            "The signing domain must be the sender's domain (%(domain)s) or a "
            "parent of it, or DMARC will not count the signature.",
            domain=sender_domain(campaign),
        )
    if not is_valid_selector(selector) or len(selector) + len(ED25519_SUFFIX) > 63:
        errors["dkim_selector"] = gettext(
            "A selector is letters, digits and hyphens (dots between labels), up to 60 "
            "characters, e.g. ucmail2026."
        )
    return errors


def generate_key(
    campaign_id: int, *, domain: str, selector: str, with_ed25519: bool, actor_id: str
) -> DkimResult:
    """A new key pair for the campaign; signing stays off until the admin enables it."""
    session = _session()
    campaign = session.get(Campaign, campaign_id)
    domain, selector = domain.strip().lower(), selector.strip().lower()
    errors = validate(campaign, domain, selector)
    if errors:
        return DkimResult(
            False, gettext("The key was not generated: fix the fields marked."), errors
        )
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    try:
        campaign.dkim_domain = domain
        campaign.dkim_selector = selector
        campaign.dkim_private_key_encrypted = encrypt_secret(_pem(rsa_key))
        campaign.dkim_ed25519_key_encrypted = (
            encrypt_secret(_pem(ed25519.Ed25519PrivateKey.generate())) if with_ed25519 else None
        )
        campaign.dkim_enabled = False
        audit.record(actor_id, "campaign.dkim_key", detail=f"{campaign.id}: {selector}.{domain}")
        session.commit()
    except Exception:
        session.rollback()
        raise
    return DkimResult(
        True,
        gettext(
            "New DKIM key generated. Publish the TXT record below, check deliverability, "
            "then enable signing."
        ),
        campaign=campaign,
    )


def set_signing(campaign_id: int, enabled: bool, *, actor_id: str) -> DkimResult:
    session = _session()
    campaign = session.get(Campaign, campaign_id)
    if enabled and not campaign.dkim_private_key_encrypted:
        return DkimResult(False, gettext("Generate a DKIM key first, then publish its record."))
    if enabled:
        try:
            signer_for(campaign, force=True)
        except (DecryptionError, ValueError) as exc:
            return DkimResult(
                False, gettext("The stored DKIM key cannot be used: %(reason)s", reason=exc)
            )
    try:
        campaign.dkim_enabled = enabled
        action = "campaign.dkim_on" if enabled else "campaign.dkim_off"
        audit.record(actor_id, action, detail=f"{campaign.id}: {campaign.name}")
        session.commit()
    except Exception:
        session.rollback()
        raise
    if enabled:
        return DkimResult(
            True, gettext("DKIM signing enabled for dialer mail, replies and auto-replies.")
        )
    return DkimResult(True, gettext("DKIM signing disabled: mail goes out unsigned."))


def _public_value(pem: str) -> tuple[str, str]:
    key = serialization.load_pem_private_key(
        pem.encode("ascii"), None, unsafe_skip_rsa_key_validation=True
    )
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return "ed25519", base64.b64encode(raw).decode("ascii")
    assert isinstance(key, rsa.RSAPrivateKey)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "rsa", base64.b64encode(der).decode("ascii")


def dns_records(campaign: Campaign) -> list[DnsRecord]:
    """The TXT records to publish (RSA first); empty without a key.

    Raises DecryptionError when the stored key cannot be read with the configured keys.
    """
    records = []
    selectors = (
        (campaign.dkim_selector, campaign.dkim_private_key_encrypted),
        (campaign.dkim_selector + ED25519_SUFFIX, campaign.dkim_ed25519_key_encrypted),
    )
    for selector, encrypted in selectors:
        if not encrypted:
            continue
        algorithm, public = _public_value(decrypt_secret(encrypted))
        name = f"{selector}._domainkey.{campaign.dkim_domain}"
        records.append(DnsRecord(name, f"v=DKIM1; k={algorithm}; p={public}", algorithm))
    return records


def signer_for(campaign: Campaign, *, force: bool = False) -> DkimSigner | None:
    """The campaign's signer when signing is on (``force``: whenever a key exists).

    Parsed keys are kept per encrypted value, so a campaign's key is decrypted and
    parsed once per process, not per message; a new key or a rotation is a new value.
    """
    if not campaign.dkim_private_key_encrypted or not (campaign.dkim_enabled or force):
        return None
    cache_key = (
        id(get_state().cipher),
        campaign.dkim_domain,
        campaign.dkim_selector,
        campaign.dkim_private_key_encrypted,
        campaign.dkim_ed25519_key_encrypted,
    )
    with _SIGNERS_LOCK:
        signer = _SIGNERS.get(cache_key)
    if signer is not None:
        return signer
    keys = [
        DkimKey.from_pem(campaign.dkim_selector, _decrypted(campaign.dkim_private_key_encrypted))
    ]
    if campaign.dkim_ed25519_key_encrypted:
        keys.append(
            DkimKey.from_pem(
                campaign.dkim_selector + ED25519_SUFFIX,
                _decrypted(campaign.dkim_ed25519_key_encrypted),
            )
        )
    signer = DkimSigner(campaign.dkim_domain, keys)
    with _SIGNERS_LOCK:
        if len(_SIGNERS) >= _SIGNERS_MAX:
            _SIGNERS.clear()
        _SIGNERS[cache_key] = signer
    return signer


def _decrypted(encrypted: bytes) -> bytes:
    return decrypt_secret(encrypted).encode("ascii")


def dkim_view(campaign: Campaign) -> dict[str, Any]:
    """What the campaign screen and the API show: never the private key."""
    try:
        records = dns_records(campaign)
        error = ""
    except DecryptionError:
        records = []
        error = gettext("The stored DKIM key cannot be decrypted with the configured keys.")
    return {
        "domain": campaign.dkim_domain or sender_domain(campaign),
        "selector": campaign.dkim_selector,
        "has_key": bool(campaign.dkim_private_key_encrypted),
        "has_ed25519": bool(campaign.dkim_ed25519_key_encrypted),
        "enabled": campaign.dkim_enabled,
        "records": [
            {"name": r.name, "value": r.value, "algorithm": r.algorithm, "zone": r.zone_line}
            for r in records
        ],
        "error": error,
    }
