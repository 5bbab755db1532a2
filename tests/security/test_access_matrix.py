"""Every ucmail endpoint checks role and CSRF: a role x endpoint matrix over the url map.

Campaign membership (an agent sees only their campaigns) is object-level and tested
with each screen; here every endpoint must at least refuse the anonymous, the wrong
role and a write without a CSRF token. Only the tracking blueprint (pixel, rating,
one-click unsubscribe) is public, and it carries signed tokens tested elsewhere; so is
ops (metrics, readiness), for scrapers, behind UCMAIL_OPS_TOKEN (tests/ops).
"""

from __future__ import annotations

import pytest

from tests.fixtures.app import USERS, csrf_token, login

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PUBLIC_BLUEPRINTS = {"ucmail_tracking", "ucmail_ops"}  # ops: machines, own bearer token
ROLE_OF_USER = {"admin": "admin", "supervisor": "supervisor", "agent1": "agent"}


def ucmail_routes(app):
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.split(".")[0]
        if not rule.endpoint.startswith("ucmail_") or rule.endpoint.endswith(".static"):
            continue
        if blueprint in PUBLIC_BLUEPRINTS:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method


def concrete_url(rule) -> str:
    values = {}
    for name in rule.arguments:
        converter = rule._converters[name].__class__.__name__
        values[name] = 999999 if converter in {"IntegerConverter", "FloatConverter"} else "x"
    return rule.build(values)[1]


def call(client, method, url, token=None):
    headers = {"X-CSRFToken": token} if token else {}
    return client.open(url, method=method, headers=headers, data={"csrf_token": token or ""})


def test_every_ucmail_endpoint_declares_its_roles(app):
    undeclared = sorted(
        {rule.endpoint for rule, _ in ucmail_routes(app)}
        - {
            r.endpoint
            for r, _ in ucmail_routes(app)
            if hasattr(app.view_functions[r.endpoint], "ucmail_roles")
        }
    )
    assert undeclared == []


def test_anonymous_is_sent_to_login_everywhere(app, users):
    client = app.test_client()
    token = csrf_token(client, app)
    failures = []
    for rule, method in ucmail_routes(app):
        response = call(client, method, concrete_url(rule), token if method in UNSAFE else None)
        response.close()
        if response.status_code not in (302, 401):
            failures.append((method, rule.rule, response.status_code))
    assert failures == []


@pytest.mark.parametrize("who", ["admin", "supervisor", "agent1"])
def test_wrong_role_is_forbidden_and_writes_need_csrf(app, users, who):
    client = app.test_client()
    login(client, app, USERS[who][0])
    token = csrf_token(client, app)
    role = ROLE_OF_USER[who]
    failures = []
    for rule, method in ucmail_routes(app):
        roles = app.view_functions[rule.endpoint].ucmail_roles
        allowed = role == "admin" or role in roles
        url = concrete_url(rule)
        if not allowed:
            response = call(client, method, url, token if method in UNSAFE else None)
            response.close()
            if response.status_code != 403:
                failures.append(("role", method, rule.rule, response.status_code))
        elif method in UNSAFE:
            response = call(client, method, url, None)
            response.close()
            if response.status_code != 400:
                failures.append(("csrf", method, rule.rule, response.status_code))
    assert failures == []
