"""The agent tests' floor (a campaign with two online agents) for the customer-mail tests."""

from tests.agent.conftest import floor  # noqa: F401
