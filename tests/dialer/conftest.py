"""Dialer tests: an app context on the test app, and a campaign on the recording sink."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.dialer import helpers
from tests.fixtures.servers import SmtpSink


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """A plain (no TLS) recording sink: dialer tests look at what arrives, not at TLS."""
    with SmtpSink() as server:
        yield server


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app


@pytest.fixture
def any_ctx(any_app: Flask) -> Iterator[Flask]:
    with any_app.app_context():
        yield any_app


@pytest.fixture
def dialer_id(ctx: Flask, sink: SmtpSink) -> int:
    return helpers.make_dialer(helpers.make_campaign(sink.port))


@pytest.fixture
def any_dialer_id(any_ctx: Flask, sink: SmtpSink) -> int:
    return helpers.make_dialer(helpers.make_campaign(sink.port))
