"""The agent tests' floor (a campaign with two online agents) for the customer-mail
tests, and a Spanish-speaking browser page for the browser tests."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.agent.conftest import floor  # noqa: F401
from tests.fixtures.live import screen_page


@pytest.fixture
def spanish_page(browser: Any) -> Iterator[Any]:
    """A browser whose language is Spanish (Uruguay), as an agent in Montevideo has it."""
    with screen_page(browser, locale="es-UY", timezone_id="America/Montevideo") as page:
        yield page
