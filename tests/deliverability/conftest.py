"""Deliverability tests: the app's DNS resolver is the local test DNS server."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from tests.fixtures.dns_server import DnsServer


@pytest.fixture
def app(make_app: Callable[..., Flask], dns_server: DnsServer) -> Flask:
    return make_app("sqlite", UCMAIL_DNS_RESOLVER=dns_server.address, UCMAIL_DNS_TIMEOUT=2)
