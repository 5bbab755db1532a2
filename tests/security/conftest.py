"""The agent tests' floor (a campaign on the SMTP sink, two online agents), for test_axe."""

from tests.agent.conftest import floor  # noqa: F401
