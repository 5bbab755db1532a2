"""Shared fixtures: real servers (tests/fixtures/plugin.py) and the example helpdesk."""

pytest_plugins = [
    "tests.fixtures.plugin",
    "tests.fixtures.app",
    "tests.fixtures.live",
    "tests.fixtures.oauth_provider",
    "tests.fixtures.dns_server",
]
