"""The dialer screens: dialer form, lists (upload, report, play / stop, progress),
monitoring and the blacklist, through the HTTP client as a supervisor would use them."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from example_host_app.extensions import db
from tests.dialer import helpers
from tests.dialer.helpers import CAMPAIGN, csv_text
from tests.fixtures.app import csrf_token
from ucmail_ext.models import (
    BlacklistEntry,
    Campaign,
    Dialer,
    DialerList,
    DialerRecord,
    Member,
    Schedule,
)
from ucmail_ext.services.dialer import dialers as service

BASE = "/ucmail/dialer"


def _form(app, client, **values):
    data = {
        "csrf_token": csrf_token(client, app),
        "name": "Spring",
        "seconds_between": "1.5",
        "timezone": "Europe/Madrid",
        "max_error_streak": "5",
        "template_id": "",
    }
    data.update(values)
    return data


def _campaign(app, sink_port: int = 25, **extra) -> int:
    with app.app_context():
        return helpers.make_campaign(sink_port, **extra)


def test_supervisor_creates_a_dialer_with_schedules_and_a_calendar_event(app, client_for):
    campaign_id = _campaign(app)
    client = client_for("supervisor")
    response = client.post(
        f"{BASE}/",
        data=_form(
            app,
            client,
            campaign_id=str(campaign_id),
            **{
                "schedules-0-days": ["0", "1", "2", "3", "4"],
                "schedules-0-start": "13:00",
                "schedules-0-end": "18:00",
                "event_enabled": "on",
                "event_title": "Visit of ${name}",
                "event_organizer_name": "Shop",
                "event_organizer_email": "${organizer}",
                "event_start": "${start}",
                "event_end": "2026-12-01T11:00",
            },
        ),
    )
    assert response.status_code == 302
    with app.app_context():
        dialer = db.session.query(Dialer).one()
        assert (dialer.name, dialer.seconds_between, dialer.max_error_streak) == ("Spring", 1.5, 5)
        assert dialer.event_enabled and dialer.event_start == "${start}"
        schedule = db.session.query(Schedule).filter_by(dialer_id=dialer.id).one()
        assert (schedule.days_mask, str(schedule.start_time)) == (0b11111, "13:00:00")
    page = client.get(f"{BASE}/{dialer.id}/edit").get_data(as_text=True)
    assert 'value="Visit of ${name}"' in page


def test_invalid_dialer_form_is_answered_with_field_errors(app, client_for):
    campaign_id = _campaign(app)
    client = client_for("supervisor")
    response = client.post(
        f"{BASE}/",
        data=_form(
            app,
            client,
            campaign_id=str(campaign_id),
            timezone="Mars/Olympus",
            seconds_between="-1",
            event_enabled="on",
            event_title="",
            event_organizer_email="not an address",
            event_start="2026-12-01T12:00",
            event_end="2026-12-01T11:00",
        ),
    )
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    for field in (
        "timezone",
        "seconds_between",
        "event_title",
        "event_organizer_email",
        "event_end",
    ):
        assert f'id="error-{field}"' in text, field
    with app.app_context():
        assert db.session.query(Dialer).count() == 0


def test_agents_cannot_open_the_dialer(app, client_for):
    assert client_for("agent1").get(f"{BASE}/").status_code == 403


def test_upload_shows_the_row_report_and_the_list_plays_to_completion(app, client_for, sink):
    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(sink.port))
    client = client_for("supervisor")
    data = csv_text(helpers.simple_rows(4) + [f"{CAMPAIGN};<b>bad</b>;;;;"])
    response = client.post(
        f"{BASE}/{dialer_id}/lists",
        data={
            "csrf_token": csrf_token(client, app),
            "subject": "Hi ${name}",
            "name": "<script>x</script>",
            "file": (io.BytesIO(data), "customers.csv"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert '<strong data-field="accepted">4</strong>' in text
    assert '<strong data-field="refused">1</strong>' in text
    assert '<td class="num">6</td>' in text and "&lt;b&gt;bad&lt;/b&gt;" in text
    assert "<script>x</script>" not in text and "&lt;script&gt;x&lt;/script&gt;" in text
    with app.app_context():
        list_id = db.session.query(DialerList).one().id

    played = client.post(
        f"{BASE}/lists/{list_id}/play",
        data={"csrf_token": csrf_token(client, app), "back": "dialer"},
    )
    assert played.status_code == 302 and played.headers["Location"].endswith(f"/{dialer_id}")
    assert sink.count == 4
    progress = client.get(f"{BASE}/lists/{list_id}/progress").get_json()
    assert progress["percent"] == 100.0 and progress["sent"] == 4 and progress["state"] == "done"
    detail = client.get(f"{BASE}/lists/{list_id}").get_data(as_text=True)
    assert "4 rows accepted, 1 refused" in detail

    again = client.post(
        f"{BASE}/lists/{list_id}/play",
        data={"csrf_token": csrf_token(client, app)},
        headers={"Accept": "application/json"},
    )
    assert again.status_code == 409 and "Nothing left" in again.get_json()["message"]


def test_stop_from_the_screen_deactivates_the_list(app, client_for, sink):
    app.config["UCMAIL_DISPATCH"] = "off"
    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(sink.port))
        list_id = helpers.upload(dialer_id, csv_text(helpers.simple_rows(3))).list_id
    client = client_for("supervisor")
    token = csrf_token(client, app)
    client.post(f"{BASE}/lists/{list_id}/play", data={"csrf_token": token})
    progress = client.get(f"{BASE}/lists/{list_id}/progress").get_json()
    assert (progress["state"], progress["dialer_state"]) == ("active", "running")

    client.post(f"{BASE}/lists/{list_id}/stop", data={"csrf_token": token})
    progress = client.get(f"{BASE}/lists/{list_id}/progress").get_json()
    assert (progress["state"], progress["dialer_state"]) == ("inactive", "stopped")
    assert progress["not_processed"] == 3 and sink.count == 0


def test_example_csv_and_attach_file(app, client_for):
    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(25))
    client = client_for("supervisor")
    example = client.get(f"{BASE}/{dialer_id}/example.csv")
    assert example.headers["Content-Disposition"].startswith("attachment")
    assert example.get_data(as_text=True).startswith("campaign;email;message;attachments")
    example.close()

    response = client.post(
        f"{BASE}/{dialer_id}/attachments",
        data={"csrf_token": csrf_token(client, app), "file": (io.BytesIO(b"PDF"), "a.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert 'id="attachment-token"' in response.get_data(as_text=True)


def test_monitoring_shows_each_list_with_its_figures(app, client_for, sink):
    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(sink.port))
        list_id = helpers.upload(dialer_id, csv_text(helpers.simple_rows(3))).list_id
    client = client_for("supervisor")
    client.post(f"{BASE}/lists/{list_id}/play", data={"csrf_token": csrf_token(client, app)})

    page = client.get(f"{BASE}/monitor")
    assert page.status_code == 200 and 'id="dialer-monitor"' in page.get_data(as_text=True)
    [row] = client.get(f"{BASE}/monitor/data").get_json()["rows"]
    assert row["campaign_name"] == CAMPAIGN
    assert (row["processed"], row["not_processed"], row["sent"], row["failed"]) == (3, 0, 3, 0)
    assert (row["seen"], row["rejected"], row["spam"], row["on_schedule"]) == (0, 0, 0, True)
    assert client.get(f"{BASE}/monitor/data?campaign=999").get_json()["rows"] == []


def test_scoped_supervisor_sees_only_dialers_of_their_campaigns(app, client_for, users):
    app.config["UCMAIL_SUPERVISOR_SCOPE"] = "members"
    with app.app_context():
        mine = helpers.make_campaign(25, name="Mine")
        theirs = helpers.make_campaign(25, name="Theirs")
        db.session.add(Member(campaign_id=mine, agent_id=str(users["supervisor"].id)))
        db.session.commit()
        my_dialer = helpers.make_dialer(mine, name="My dialer")
        their_dialer = helpers.make_dialer(theirs, name="Their dialer")
    client = client_for("supervisor")

    page = client.get(f"{BASE}/").get_data(as_text=True)
    assert "My dialer" in page and "Their dialer" not in page
    assert client.get(f"{BASE}/{my_dialer}").status_code == 200
    assert client.get(f"{BASE}/{their_dialer}").status_code == 404


def test_blacklist_add_search_page_and_remove_with_confirmation(app, client_for):
    app.config["UCMAIL_PAGE_SIZE"] = 2
    client = client_for("supervisor")
    token = csrf_token(client, app)
    for address in ("a@mail.example", "b@mail.example", "c@other.example"):
        added = client.post(f"{BASE}/blacklist", data={"csrf_token": token, "address": address})
        assert added.status_code == 302
    refused = client.post(f"{BASE}/blacklist", data={"csrf_token": token, "address": "nope"})
    assert refused.status_code == 400

    first = client.get(f"{BASE}/blacklist").get_data(as_text=True)
    assert "Page 1 of 2" in first
    found = client.get(f"{BASE}/blacklist?q=other").get_data(as_text=True)
    assert "c@other.example" in found and "a@mail.example" not in found

    with app.app_context():
        entry_id = db.session.query(BlacklistEntry).filter_by(address="c@other.example").one().id
    confirm = client.get(f"{BASE}/blacklist/{entry_id}/remove")
    assert confirm.status_code == 200 and "c@other.example" in confirm.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(BlacklistEntry).count() == 3
    removed = client.post(f"{BASE}/blacklist/{entry_id}/remove", data={"csrf_token": token})
    assert removed.status_code == 302
    with app.app_context():
        assert db.session.query(BlacklistEntry).count() == 2


def _list_with_outcomes(app, sink) -> tuple[int, int]:
    """A dialer and a played list: one sent, one rejected by the server, one failed."""
    sink.refused_recipients["nobody@mail.example"] = "550 5.1.1 no such user"
    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(sink.port))
        rows = [
            f'{CAMPAIGN};ok@mail.example;;;"name":"Ok";',
            f'{CAMPAIGN};nobody@mail.example;;;"name":"<b>No</b>";',
            f"{CAMPAIGN};nameless@mail.example;;;;",
        ]
        list_id = helpers.upload(dialer_id, csv_text(rows), subject="Hi ${name}").list_id
        assert service.play_list(list_id, None, "1").ok
    return dialer_id, list_id


def test_list_page_shows_records_not_sent_with_reason_filter_and_export(app, client_for, sink):
    app.config["UCMAIL_PAGE_SIZE"] = 1
    _, list_id = _list_with_outcomes(app, sink)
    client = client_for("supervisor")

    page = client.get(f"{BASE}/lists/{list_id}").get_data(as_text=True)
    assert 'id="record-table"' in page and "nobody@mail.example" in page
    assert "no such user" in page and "Page 1 of 2" in page
    assert "ok@mail.example" not in page
    assert f'href="/ucmail/dialer/lists/{list_id}?state=failed#records" data-field="failed"' in page
    second = client.get(f"{BASE}/lists/{list_id}?page=2").get_data(as_text=True)
    assert "nameless@mail.example" in second and "missing variable(s): name" in second
    failed = client.get(f"{BASE}/lists/{list_id}?state=failed").get_data(as_text=True)
    assert "nameless@mail.example" in failed and "nobody@mail.example" not in failed
    assert '<option value="failed" selected>' in failed

    export = client.get(f"{BASE}/lists/{list_id}/records.csv?state=rejected")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert export.headers["Content-Disposition"].startswith("attachment")
    lines = export.get_data(as_text=True).splitlines()
    assert lines[0].startswith("line;email;state") and len(lines) == 2
    assert lines[1].startswith("3;nobody@mail.example;rejected;550;")


def test_records_and_export_of_an_unseen_campaign_are_not_found(app, client_for, users, sink):
    _, list_id = _list_with_outcomes(app, sink)
    app.config["UCMAIL_SUPERVISOR_SCOPE"] = "members"
    client = client_for("supervisor")
    assert client.get(f"{BASE}/lists/{list_id}").status_code == 404
    assert client.get(f"{BASE}/lists/{list_id}/records.csv").status_code == 404
    assert client.get(f"{BASE}/lists/{list_id}/delete").status_code == 404


def test_upload_with_no_accepted_row_says_so_and_creates_no_list(app, client_for):
    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(25))
    client = client_for("supervisor")
    data = csv_text([f"{CAMPAIGN};bad;;;;", f"{CAMPAIGN};a@mail.example;;;name=A:time=10:30;"])
    response = client.post(
        f"{BASE}/{dialer_id}/lists",
        data={"csrf_token": csrf_token(client, app), "file": (io.BytesIO(data), "x.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "No row was accepted (2 refused), so no list was created" in text
    assert (
        'id="upload-problems"' in text
        and "&#34;name&#34;:&#34;A&#34;,&#34;time&#34;:&#34;10:30&#34;" in text
    )
    with app.app_context():
        assert db.session.query(DialerList).count() == 0


def test_delete_list_asks_first_refuses_a_running_list_then_deletes(app, client_for, sink):
    app.config["UCMAIL_DISPATCH"] = "off"
    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(sink.port))
        list_id = helpers.upload(dialer_id, csv_text(helpers.simple_rows(3))).list_id
    client = client_for("supervisor")
    token = csrf_token(client, app)
    client.post(f"{BASE}/lists/{list_id}/play", data={"csrf_token": token})

    confirm = client.get(f"{BASE}/lists/{list_id}/delete").get_data(as_text=True)
    assert 'id="delete-refused"' in confirm and "stop it before deleting it" in confirm
    refused = client.post(
        f"{BASE}/lists/{list_id}/delete",
        data={"csrf_token": token},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 409 and "is running" in refused.get_json()["message"]
    with app.app_context():
        assert db.session.get(DialerList, list_id) is not None

    client.post(f"{BASE}/lists/{list_id}/stop", data={"csrf_token": token})
    confirm = client.get(f"{BASE}/lists/{list_id}/delete").get_data(as_text=True)
    assert "This cannot be undone" in confirm and 'class="danger"' in confirm
    deleted = client.post(f"{BASE}/lists/{list_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 302 and deleted.headers["Location"].endswith(f"/{dialer_id}")
    with app.app_context():
        assert db.session.get(DialerList, list_id) is None
        assert db.session.query(DialerRecord).count() == 0
    assert client.get(f"{BASE}/lists/{list_id}").status_code == 404


def test_play_refuses_a_list_of_a_disabled_campaign_with_the_reason(app, client_for, sink):
    with app.app_context():
        campaign_id = helpers.make_campaign(sink.port, name="Winter", enabled=False)
        dialer_id = helpers.make_dialer(campaign_id)
        list_id = helpers.upload(
            dialer_id, csv_text(helpers.simple_rows(2, campaign="Winter"))
        ).list_id
    client = client_for("supervisor")

    answer = client.post(
        f"{BASE}/lists/{list_id}/play",
        data={"csrf_token": csrf_token(client, app)},
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 409
    assert answer.get_json()["message"] == "The campaign Winter is disabled."
    progress = client.get(f"{BASE}/lists/{list_id}/progress").get_json()
    assert (progress["state"], progress["dialer_state"], sink.count) == ("inactive", "stopped", 0)


def test_monitoring_leaves_out_lists_of_deleted_campaigns(app, client_for, sink):
    with app.app_context():
        gone = helpers.make_campaign(sink.port, name="Gone")
        kept = helpers.make_campaign(sink.port, name="Kept")
        for campaign_id, name in ((gone, "Gone"), (kept, "Kept")):
            dialer_id = helpers.make_dialer(campaign_id, name=name)
            helpers.upload(dialer_id, csv_text(helpers.simple_rows(1, campaign=name)))
        db.session.get(Campaign, gone).deleted_at = datetime.now(UTC)
        db.session.commit()
    client = client_for("supervisor")

    rows = client.get(f"{BASE}/monitor/data").get_json()["rows"]
    assert [row["campaign_name"] for row in rows] == ["Kept"]
    assert "Gone" not in client.get(f"{BASE}/monitor").get_data(as_text=True)


def test_recent_files_are_those_of_the_dialers_campaign(app, client_for):
    with app.app_context():
        first = helpers.make_dialer(helpers.make_campaign(25, name="First"))
        second = helpers.make_dialer(helpers.make_campaign(25, name="Second"))
    client = client_for("supervisor")
    attached = client.post(
        f"{BASE}/{first}/attachments",
        data={
            "csrf_token": csrf_token(client, app),
            "file": (io.BytesIO(b"PDF"), "only-first.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert attached.status_code == 200
    assert "only-first.pdf" in client.get(f"{BASE}/{first}").get_data(as_text=True)
    assert "only-first.pdf" not in client.get(f"{BASE}/{second}").get_data(as_text=True)
