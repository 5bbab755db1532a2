"""The DKIM section of the campaign screen and its JSON twin: roles, errors, no secrets."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from example_host_app.extensions import db
from tests.dialer import helpers as dialer_helpers
from tests.fixtures.app import csrf_token, meta_csrf
from tests.fixtures.dns_server import DnsServer
from ucmail_ext.models import Campaign

pytestmark = pytest.mark.integration


@pytest.fixture
def campaign_id(app: Flask) -> int:
    with app.app_context():
        return dialer_helpers.make_campaign(2525)  # sender news@shop.example


def _post(client: FlaskClient, app: Flask, url: str, **data: str) -> object:
    return client.post(url, data={**data, "csrf_token": csrf_token(client, app)})


def test_admin_generates_a_key_sees_the_record_and_enables_signing(
    app: Flask, client_for: Callable[[str], FlaskClient], campaign_id: int
) -> None:
    admin = client_for("admin")
    url = f"/ucmail/campaigns/{campaign_id}"

    page = admin.get(url).get_data(as_text=True)
    assert "No DKIM key" in page and 'value="shop.example"' in page

    response = _post(admin, app, f"{url}/dkim/generate", dkim_domain="shop.example",
                     dkim_selector="ucm1")  # fmt: skip
    assert response.status_code == 302  # type: ignore[attr-defined]
    page = admin.get(url).get_data(as_text=True)
    assert "ucm1._domainkey.shop.example" in page and "v=DKIM1; k=rsa; p=" in page
    assert "PRIVATE KEY" not in page
    assert "Signing off" in page and 'id="dkim-enable"' in page

    _post(admin, app, f"{url}/dkim/enable")
    with app.app_context():
        assert db.session.get(Campaign, campaign_id).dkim_enabled
    assert "Signing on" in admin.get(url).get_data(as_text=True)


def test_a_bad_selector_is_shown_next_to_the_field_and_nothing_changes(
    app: Flask, client_for: Callable[[str], FlaskClient], campaign_id: int
) -> None:
    admin = client_for("admin")

    response = _post(admin, app, f"/ucmail/campaigns/{campaign_id}/dkim/generate",
                     dkim_domain="shop.example", dkim_selector="no spaces!")  # fmt: skip

    assert response.status_code == 422  # type: ignore[attr-defined]
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "A selector is letters, digits and hyphens" in page
    assert 'value="no spaces!"' in page
    with app.app_context():
        assert db.session.get(Campaign, campaign_id).dkim_private_key_encrypted is None


def test_supervisors_see_the_record_but_cannot_change_it(
    app: Flask, client_for: Callable[[str], FlaskClient], campaign_id: int
) -> None:
    admin = client_for("admin")
    _post(admin, app, f"/ucmail/campaigns/{campaign_id}/dkim/generate",
          dkim_domain="shop.example", dkim_selector="ucm1")  # fmt: skip
    supervisor = client_for("supervisor")

    page = supervisor.get(f"/ucmail/campaigns/{campaign_id}").get_data(as_text=True)
    assert "ucm1._domainkey.shop.example" in page and 'id="dkim-generate"' not in page
    for action in ("dkim/generate", "dkim/enable", "deliverability"):
        response = _post(supervisor, app, f"/ucmail/campaigns/{campaign_id}/{action}")
        assert response.status_code == 403  # type: ignore[attr-defined]


def test_the_check_shows_each_record_with_what_to_fix(
    app: Flask, client_for: Callable[[str], FlaskClient], campaign_id: int, dns_server: DnsServer
) -> None:
    admin = client_for("admin")
    dns_server.records["shop.example"] = ["v=spf1 mx -all"]

    response = _post(admin, app, f"/ucmail/campaigns/{campaign_id}/deliverability")

    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert 'data-check="SPF" data-status="pass"' in page
    assert 'data-check="DKIM" data-status="fail"' in page
    assert 'data-check="DMARC" data-status="fail"' in page
    assert "Generate a key in the DKIM section" in page


def test_the_json_api_generates_enables_and_checks(
    app: Flask, client_for: Callable[[str], FlaskClient], campaign_id: int, dns_server: DnsServer
) -> None:
    admin = client_for("admin")
    token = meta_csrf(admin.get("/ucmail/campaigns/").get_data(as_text=True))
    headers = {"X-CSRFToken": token}
    base = f"/ucmail/api/campaigns/{campaign_id}"

    refused = admin.post(f"{base}/dkim/enable", headers=headers)
    assert refused.status_code == 409 and "Generate a DKIM key first" in refused.json["error"]
    bad = admin.post(f"{base}/dkim/generate", json={"selector": 7}, headers=headers)
    assert bad.status_code == 422 and bad.json["fields"] == {"selector": "Must be a string."}
    made = admin.post(f"{base}/dkim/generate", json={"selector": "api1", "ed25519": True},
                      headers=headers)  # fmt: skip
    assert made.status_code == 200, made.json
    records = made.json["records"]
    assert [r["algorithm"] for r in records] == ["rsa", "ed25519"]
    assert admin.post(f"{base}/dkim/enable", headers=headers).json["enabled"] is True
    for record in records:
        dns_server.records[record["name"]] = [record["value"]]
    dns_server.records["_dmarc.shop.example"] = ["v=DMARC1; p=reject"]

    report = admin.post(f"{base}/deliverability", headers=headers).json

    assert {c["name"]: c["status"] for c in report["checks"]} == {
        "SPF": "fail", "DKIM": "pass", "DKIM Ed25519": "pass", "DMARC": "pass",
    }  # fmt: skip
    assert report["status"] == "fail"
    assert "PRIVATE" not in str(admin.get(f"{base}/dkim").json)
