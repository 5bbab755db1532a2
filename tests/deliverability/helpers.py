"""DKIM test helpers: an independent verifier (dkimpy) fed the published records."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import dkim

from ucmail_ext.services.admin.dkim import DnsRecord


def dnsfunc(records: Iterable[DnsRecord]) -> Callable[..., bytes | None]:
    """dkimpy's DNS hook answering only with what the admin was told to publish."""
    published = {f"{r.name}.".encode(): r.value.encode() for r in records}

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return published.get(name)

    return lookup


def verify_all(raw: bytes, records: Iterable[DnsRecord]) -> list[bool]:
    """Every DKIM-Signature of ``raw``, each verified on its own."""
    lookup = dnsfunc(records)
    checker = dkim.DKIM(raw)
    count = sum(
        1
        for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        if line.lower().startswith(b"dkim-signature:")
    )
    results = []
    for index in range(count):
        try:
            results.append(bool(checker.verify(idx=index, dnsfunc=lookup)))
        except dkim.DKIMException:
            results.append(False)
    return results


def relayed(raw: bytes) -> bytes:
    """What the next hop stores: a Received header on top (RFC 5321 §4.4)."""
    return (
        b"Received: from helpdesk.test (helpdesk.test [127.0.0.1])\r\n"
        b"\tby mx.mail.example (Postfix) with ESMTPS id 4QxYz;\r\n"
        b"\tSun, 06 Dec 2026 20:00:00 +0000\r\n" + raw
    )
