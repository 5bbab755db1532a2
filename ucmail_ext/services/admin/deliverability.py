"""Will receivers trust this campaign's mail? SPF, DKIM and DMARC, read from DNS.

Since February 2024 Gmail and Yahoo require bulk senders to pass SPF and DKIM and
to publish DMARC; a missing record shows up as spam or rejections long after the
dialer has run. The check reads the sender domain's records (dnspython, one
timeout per lookup, the resolver from ``UCMAIL_DNS_RESOLVER``) and says for each
one pass, warn or fail, with what to change. It never changes anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import dns.exception
import dns.resolver
from flask import current_app

from ucmail_ext.crypto import DecryptionError
from ucmail_ext.i18n import gettext
from ucmail_ext.models import Campaign
from ucmail_ext.services.admin import dkim

Status = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One record's verdict; ``fix`` says what to do when it is not a pass."""

    name: str
    status: Status
    lookup: str
    record: str
    message: str
    fix: str = ""


@dataclass(frozen=True)
class Report:
    domain: str
    checks: list[Check]

    @property
    def status(self) -> Status:
        statuses = {check.status for check in self.checks}
        return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"


class LookupFailed(Exception):
    """No answer (timeout, server failure): the record may exist, we cannot tell."""


def resolver() -> dns.resolver.Resolver:
    """The configured server ('host:port' or 'host'), else the system's resolvers."""
    setting = (current_app.config.get("UCMAIL_DNS_RESOLVER") or "").strip()
    timeout = float(current_app.config["UCMAIL_DNS_TIMEOUT"])
    if setting:
        host, port = _host_port(setting)
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = [host]
        res.port = port
    else:
        res = dns.resolver.Resolver()
    res.timeout = timeout
    res.lifetime = timeout
    return res


def _host_port(setting: str) -> tuple[str, int]:
    host, port = setting, "53"
    if setting.startswith("["):  # [IPv6]:port
        host, _, rest = setting[1:].partition("]")
        port = rest.lstrip(":") or "53"
    elif setting.count(":") == 1:
        host, _, port = setting.partition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"UCMAIL_DNS_RESOLVER must be 'host:port' or 'host', got {setting!r}")
    return host, int(port)


def txt_records(res: dns.resolver.Resolver, name: str) -> list[str]:
    """The TXT strings at ``name`` (each record's strings joined); [] when none."""
    try:
        answer = res.resolve(name, "TXT", lifetime=res.lifetime, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.Timeout as exc:
        raise LookupFailed(f"no answer for {name} within {res.lifetime:g} s") from exc
    except (dns.resolver.NoNameservers, dns.exception.DNSException) as exc:
        raise LookupFailed(f"the lookup of {name} failed: {exc}") from exc
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for item in record.split(";"):
        name, sep, value = item.partition("=")
        if sep:
            tags[name.strip().lower()] = value.strip()
    return tags


def _lookup_failed(label: str, name: str, exc: LookupFailed) -> Check:
    """A lookup that did not answer says nothing about the record: warn, never fail."""
    return Check(
        label,
        "warn",
        name,
        "",
        gettext("Could not check: %(reason)s.", reason=exc),
        gettext("Try again later."),
    )


def _several_records(label: str, name: str, records: list[str], problem: str, fix: str) -> Check:
    """Receivers ignore every record when a name publishes more than one (SPF and DMARC)."""
    return Check(label, "fail", name, " | ".join(records), problem, fix)


# --------------------------------------------------------------------------- SPF


def check_spf(res: dns.resolver.Resolver, domain: str) -> Check:
    try:
        records = [r for r in txt_records(res, domain) if r.lower().startswith("v=spf1")]
    except LookupFailed as exc:
        return _lookup_failed("SPF", domain, exc)
    if not records:
        return Check(
            "SPF",
            "fail",
            domain,
            "",
            gettext("%(domain)s publishes no SPF record.", domain=domain),
            gettext(
                'Publish a TXT record at %(domain)s: "v=spf1 include:<your mail provider> -all" '
                "listing the servers that send for it.",
                domain=domain,
            ),
        )
    if len(records) > 1:
        # RFC 7208 §4.5: more than one record is a permanent error.
        return _several_records(
            "SPF",
            domain,
            records,
            gettext(
                "%(domain)s publishes %(count)s SPF records; receivers then ignore all of them.",
                domain=domain,
                count=len(records),
            ),
            gettext("Merge them into one TXT record starting with v=spf1."),
        )
    record = records[0]
    terms = record.lower().split()
    ending = next((t for t in reversed(terms) if t.lstrip("+-~?") == "all"), "")
    if ending in ("-all", "~all"):
        return Check(
            "SPF",
            "pass",
            domain,
            record,
            gettext("SPF record found; unlisted servers are refused."),
        )
    if ending in ("all", "+all"):
        return Check(
            "SPF",
            "fail",
            domain,
            record,
            gettext(
                "The SPF record ends in +all: it lets any server in the world send as this domain."
            ),
            gettext("End the record with -all (or ~all) after the servers that really send."),
        )
    return Check(
        "SPF",
        "warn",
        domain,
        record,
        gettext("The SPF record does not say what happens to other servers (no -all or ~all)."),
        gettext("End the record with -all (or ~all)."),
    )


# --------------------------------------------------------------------------- DKIM


def _check_key(
    res: dns.resolver.Resolver, label: str, expected: dkim.DnsRecord, optional: bool
) -> Check:
    name = expected.name
    try:
        records = [r for r in txt_records(res, name) if "p=" in r]
    except LookupFailed as exc:
        return _lookup_failed(label, name, exc)
    publish = gettext(
        "Publish this TXT record at %(name)s: %(value)s", name=name, value=expected.value
    )
    if not records:
        status: Status = "warn" if optional else "fail"
        return Check(
            label, status, name, "", gettext("No DKIM record at %(name)s.", name=name), publish
        )
    published = [re.sub(r"\s+", "", _tags(r).get("p", "")) for r in records]
    wanted = _tags(expected.value)["p"]
    if wanted in published:
        return Check(
            label,
            "pass",
            name,
            records[0],
            gettext("The published key matches this campaign's key."),
        )
    if not any(published):
        message = gettext("The published record has an empty key (p=): the key was revoked.")
    else:
        message = gettext("The published key is not this campaign's key (an old or another key).")
    return Check(label, "fail", name, records[0], message, gettext("Replace it.") + " " + publish)


def check_dkim(res: dns.resolver.Resolver, campaign: Campaign) -> list[Check]:
    if not campaign.dkim_private_key_encrypted:
        return [
            Check(
                "DKIM",
                "fail",
                "",
                "",
                gettext("This campaign has no DKIM key: its mail goes out unsigned."),
                gettext(
                    "Generate a key in the DKIM section, publish its TXT record, "
                    "then enable signing."
                ),
            )
        ]
    try:
        records = dkim.dns_records(campaign)
    except DecryptionError:
        return [
            Check(
                "DKIM",
                "fail",
                "",
                "",
                gettext("The stored DKIM key cannot be decrypted with the configured keys."),
                gettext(
                    "Put the old key back in UCMAIL_ENCRYPTION_KEYS, or generate a new DKIM key."
                ),
            )
        ]
    checks = []
    for expected in records:
        is_ed = expected.algorithm == "ed25519"
        checks.append(_check_key(res, "DKIM Ed25519" if is_ed else "DKIM", expected, is_ed))
    main = checks[0]
    if main.status == "pass" and not campaign.dkim_enabled:
        checks[0] = Check(
            main.name,
            "warn",
            main.lookup,
            main.record,
            gettext("The published key matches, but signing is off: mail goes out unsigned."),
            gettext("Enable DKIM signing (the Enable signing button of the DKIM section)."),
        )
    return checks


# --------------------------------------------------------------------------- DMARC


def _dmarc_names(domain: str) -> list[str]:
    """The From domain, then its parents down to two labels (the organizational
    domain, approximated without the public suffix list)."""
    labels = domain.split(".")
    return [f"_dmarc.{'.'.join(labels[i:])}" for i in range(0, max(len(labels) - 1, 1))]


def check_dmarc(res: dns.resolver.Resolver, domain: str) -> Check:
    names = _dmarc_names(domain)
    records: list[str] = []
    name = names[0]
    try:
        for name in names:
            records = [r for r in txt_records(res, name) if r.lower().startswith("v=dmarc1")]
            if records:
                break
    except LookupFailed as exc:
        return _lookup_failed("DMARC", name, exc)
    if not records:
        return Check(
            "DMARC",
            "fail",
            names[0],
            "",
            gettext(
                "%(domain)s publishes no DMARC record; Gmail and Yahoo require one from bulk "
                "senders.",
                domain=domain,
            ),
            gettext(
                'Publish a TXT record at %(name)s: "v=DMARC1; p=none; '
                'rua=mailto:<reports address>", then move to p=quarantine once the reports '
                "are clean.",
                name=names[0],
            ),
        )
    if len(records) > 1:
        return _several_records(
            "DMARC",
            name,
            records,
            gettext(
                "%(name)s has %(count)s DMARC records; receivers then ignore them.",
                name=name,
                count=len(records),
            ),
            gettext("Keep exactly one."),
        )
    record = records[0]
    policy = _tags(record).get("p", "").lower()
    if policy in ("quarantine", "reject"):
        return Check(
            "DMARC", "pass", name, record, gettext("DMARC policy p=%(policy)s.", policy=policy)
        )
    if policy == "none":
        return Check(
            "DMARC",
            "warn",
            name,
            record,
            gettext(
                "DMARC policy p=none: enough for Gmail and Yahoo, but it protects nobody from "
                "forged mail in this domain's name."
            ),
            gettext("Read the aggregate reports (rua=) and move to p=quarantine, then p=reject."),
        )
    return Check(
        "DMARC",
        "fail",
        name,
        record,
        gettext("The DMARC record has no valid policy (p=none, quarantine or reject)."),
        gettext('Add "p=none" (then quarantine or reject) to the record.'),
    )


def check_campaign(campaign: Campaign) -> Report:
    """Every check for the campaign's sender domain; never raises for what DNS answers."""
    domain = dkim.sender_domain(campaign)
    res = resolver()
    checks = [check_spf(res, domain), *check_dkim(res, campaign), check_dmarc(res, domain)]
    return Report(domain, checks)


def report_as_dict(report: Report) -> dict[str, object]:
    return {
        "domain": report.domain,
        "status": report.status,
        "checks": [
            {
                "name": c.name,
                "status": c.status,
                "lookup": c.lookup,
                "record": c.record,
                "message": c.message,
                "fix": c.fix,
            }
            for c in report.checks
        ],
    }
