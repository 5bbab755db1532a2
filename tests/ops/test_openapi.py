"""The JSON API keeps its OpenAPI contract: schemathesis drives the real app (WSGI) as an
admin with generated requests, and no answer is a 500 or outside the document."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from example_host_app.extensions import db
from example_host_app.models import User
from tests.admin.helpers import make_campaign, make_template
from tests.fixtures.app import TEST_PASSWORD, USERS, _build, csrf_token, login
from tests.fixtures.dns_server import DnsServer
from ucmail_ext.blueprints.api_schema import openapi_document

API = "/ucmail/api"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class Api:
    """The seeded app, an admin's session cookie and CSRF header, and the served schema."""

    app: Flask
    cookies: dict[str, str]
    headers: dict[str, str]
    schema: Any


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Built once for the module: a login costs a password hash, and there are 50 runs."""
    tmp = tmp_path_factory.mktemp("openapi")
    dns = DnsServer().start()  # the deliverability check asks it, never the internet
    app = _build(
        f"sqlite:///{tmp / 'api.db'}",
        tmp,
        {
            "UCMAIL_CHECK_TIMEOUT": 1,
            "UCMAIL_SMTP_TIMEOUT": 1,
            "UCMAIL_IMAP_TIMEOUT": 1,
            "UCMAIL_DNS_RESOLVER": dns.address,
        },
    )
    email, name, roles = USERS["admin"]
    with app.app_context():
        admin = User(email=email, name=name, roles=roles)
        admin.set_password(TEST_PASSWORD)
        db.session.add(admin)
        db.session.commit()
        campaign = make_campaign("Seeded")
        make_template("Greeting", campaign_id=campaign.id)
    client = app.test_client()
    login(client, app, email)
    token = csrf_token(client, app)
    cookie = client.get_cookie("session")
    assert cookie is not None
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200, response.get_data(as_text=True)
    schema = schemathesis.openapi.from_dict(response.get_json())
    schema.app = app
    yield Api(app, {"session": cookie.value}, {"X-CSRFToken": token}, schema)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    dns.stop()


METHODS = {"get", "put", "patch", "post", "delete"}
OPERATIONS = [
    (method.upper(), path)
    for path, item in openapi_document(API)["paths"].items()
    for method in item
    if method in METHODS
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_api_keeps_its_contract(api: Api, method: str, path: str, mode: GenerationMode) -> None:
    """Valid and invalid requests alike: never a 500, never an answer the document lacks."""
    operation = api.schema[path][method]

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=5,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(cookies=api.cookies, headers=api.headers, checks=CHECKS)

    check()


def test_document_is_served_where_the_api_is_mounted(make_app: Any) -> None:
    from tests.fixtures.app import create_users

    app = make_app(UCMAIL_API_PREFIX="/helpdesk/mail-api")
    create_users(app)
    client = app.test_client()
    assert client.get("/helpdesk/mail-api/openapi.json").status_code == 401
    login(client, app, USERS["supervisor"][0])
    document = client.get("/helpdesk/mail-api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": "/helpdesk/mail-api"}]
    routes = {
        rule.rule.removeprefix("/helpdesk/mail-api").replace("<int:", "{").replace(">", "}")
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("ucmail_api.")
        and not rule.endpoint.endswith(".static")
        and "<path:" not in rule.rule  # the JSON 404 for unknown URLs
    }
    assert routes == set(document["paths"])


@pytest.mark.parametrize(
    "url",
    [
        f"{API}/campaigns/9223372036854775808",  # was a 500: past any integer column
        f"{API}/templates/{2**31}/preview",
        f"{API}/campaigns/1/schedules/{2**40}",
        f"{API}/campaigns/-3",  # was Flask's HTML 404: no route matches a negative id
        f"{API}/no-such-thing",
    ],
)
def test_ids_no_route_matches_answer_a_json_404(api: Api, url: str) -> None:
    client = api.app.test_client()
    client.set_cookie("session", api.cookies["session"])
    method = "DELETE" if "/schedules/" in url else "GET"
    response = client.open(url, method=method, headers=api.headers)
    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.is_json and response.get_json()["fields"] == {}


def test_out_of_range_ids_in_a_query_are_a_validation_error(api: Api) -> None:
    client = api.app.test_client()
    client.set_cookie("session", api.cookies["session"])
    for url in (f"{API}/templates?campaign_id={2**63}", f"{API}/members?campaign_id={2**63}"):
        response = client.get(url)
        assert response.status_code == 422, response.get_data(as_text=True)
        assert "campaign_id" in response.get_json()["fields"]
