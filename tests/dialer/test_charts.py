"""Charts (issue 13, point 6): a list's sent / seen / clicked / bounced over time and
its top links; supervision's queue length and service level by hour today. SVG made
on the server, readable without colour (markers, dashes, labels, a data table), and
refreshed live by the page. Also the results table and export in a real browser."""

from __future__ import annotations

import os
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from example_host_app.extensions import db
from tests.dialer import helpers
from tests.dialer.helpers import CAMPAIGN, csv_text, upload
from tests.fixtures.app import TEST_PASSWORD, USERS
from tests.fixtures.live import browser_login
from tests.fixtures.servers import SmtpSink
from ucmail_ext.models import Campaign, DialerLink, DialerList, DialerRecord, Interaction
from ucmail_ext.services import charts
from ucmail_ext.services.dialer import charts as list_charts
from ucmail_ext.services.dialer import dialers as dialer_service
from ucmail_ext.services.dialer import send as dialer_send
from ucmail_ext.services.supervision import hourly

SHOTS = "/tmp/shots"


def _played_list(dialer_id: int, sink: SmtpSink) -> DialerList:
    sink.refused_recipients["nobody@mail.example"] = "550 5.1.1 no such user"
    rows = [f'{CAMPAIGN};c{n}@mail.example;;;"name":"C{n}";' for n in range(6)]
    rows.append(f'{CAMPAIGN};nobody@mail.example;;;"name":"Nobody";')
    report = upload(dialer_id, csv_text(rows), subject="Hi ${name}")
    assert dialer_service.play_list(report.list_id, None, "1").ok
    db.session.expire_all()
    return db.session.get(DialerList, report.list_id)


def _open_and_click(list_id: int, seen: int, clicked: int, later: timedelta) -> None:
    records = (
        db.session.query(DialerRecord)
        .filter_by(list_id=list_id, state="sent")
        .order_by(DialerRecord.id)
        .all()
    )
    for index, record in enumerate(records[:seen]):
        record.seen_at = record.sent_at + later
        if index < clicked:
            record.clicked_at = record.sent_at + later
    db.session.add(
        DialerLink(list_id=list_id, url="https://shop.example/a", url_hash="a", clicks=5)
    )
    db.session.add(
        DialerLink(list_id=list_id, url="https://shop.example/b", url_hash="b", clicks=2)
    )
    db.session.commit()


def test_line_chart_marks_each_series_without_relying_on_colour() -> None:
    chart = charts.line_chart(
        "t", ["a", "b", "c"], [("one", "One", [1, 2, 3]), ("two", "Two", [0, None, 7])]
    )
    assert charts.nice_ceiling(7) == 10 and charts.nice_ceiling(130) == 200
    assert [charts.count_top(v) for v in (0, 3, 7, 39, 41, 130)] == [4, 4, 8, 40, 80, 200]
    assert [t.label for t in chart.y_ticks] == ["0", "2", "4", "6", "8"]
    assert [s.marker for s in chart.series] == ["circle", "square"]
    assert chart.series[0].dash != chart.series[1].dash
    assert chart.series[1].points.count(",") == 2  # the gap draws nothing
    assert chart.table.rows == [["a", "1", "0"], ["b", "2", "—"], ["c", "3", "7"]]
    assert chart.summary == "One: 3; Two: 7"
    assert not chart.empty
    # Lines ending together keep their names apart.
    same = charts.line_chart("t", ["a"], [("x", "X", [1]), ("y", "Y", [1])])
    assert abs(same.series[0].label_y - same.series[1].label_y) >= 13
    assert charts.line_chart("t", [], [("x", "X", [])]).empty


def test_a_lists_activity_is_cumulative_per_series(any_dialer_id: int, sink: SmtpSink) -> None:
    dialer_list = _played_list(any_dialer_id, sink)
    _open_and_click(dialer_list.id, seen=4, clicked=2, later=timedelta(minutes=3))

    chart = list_charts.activity_chart(dialer_list, now=datetime.now(UTC) + timedelta(minutes=5))
    last = {s.key: s.last for s in chart.series}
    assert last == {"sent": 6, "seen": 4, "clicked": 2, "bounced": 1}
    sent = next(s for s in chart.series if s.key == "sent")
    values = [m.value for m in sent.marks]
    assert values == sorted(values)  # cumulative: never goes down
    seen = next(s for s in chart.series if s.key == "seen")
    assert seen.marks[0].value == 0  # the opens came three minutes later
    assert len(chart.x_ticks) >= 2 and chart.table.header == [
        "",
        "Sent",
        "Seen",
        "Clicked",
        "Bounced",
    ]

    links = list_charts.top_links_chart(dialer_list)
    assert [(b.label, b.value_text) for b in links.bars] == [
        ("https://shop.example/a", "5"),
        ("https://shop.example/b", "2"),
    ]


def test_a_list_not_started_has_an_empty_chart(any_dialer_id: int) -> None:
    report = upload(any_dialer_id, csv_text(helpers.simple_rows(2)), subject="x")
    dialer_list = db.session.get(DialerList, report.list_id)
    assert list_charts.activity_chart(dialer_list).empty
    assert list_charts.top_links_chart(dialer_list).empty


def test_supervision_hours_count_the_queue_and_the_service_level(any_ctx: Flask) -> None:
    campaign_id = helpers.make_campaign(25, service_level_seconds=60, timezone="UTC")
    now = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    at = lambda h, m: datetime(2026, 3, 2, h, m, tzinfo=UTC)  # noqa: E731
    for arrived, assigned, answered in [
        (at(8, 10), at(8, 11), at(8, 11)),  # 9:00 answered in time
        (at(8, 20), at(9, 30), at(9, 30)),  # waited past 9:00 and past the limit
        (at(9, 5), None, None),  # still waiting: queued at 9 and 10, missed
        (at(10, 28), None, None),  # waiting 2 minutes: past the 60 s limit, missed
    ]:
        db.session.add(
            Interaction(
                campaign_id=campaign_id,
                customer_email="c@mail.example",
                origin="inbound",
                state="assigned" if assigned else "queued",
                arrived_at=arrived,
                assigned_at=assigned,
                first_response_at=answered,
            )
        )
    db.session.commit()
    campaign = db.session.get(Campaign, campaign_id)

    today = hourly.hourly_today([campaign], now)
    assert today.hours[8:] == ["08:00", "09:00", "10:00"]
    assert today.queue[7:] == [0, 1, 1, 2]  # at 9:00 the 8:20 one still waited
    assert today.service_level[8] == 50.0 and today.service_level[9] == 0.0
    assert today.service_level[10] == 0.0
    assert today.service_level[7] is None
    chart = hourly.service_level_chart(today)
    assert chart.table.rows[8] == ["08:00", "50%"] and chart.table.rows[0][1] == "—"


def test_chart_fragments_are_served_to_the_pages_poll(dialer_id: int, sink, client_for) -> None:
    dialer_list = _played_list(dialer_id, sink)
    client = client_for("supervisor")
    data = client.get(f"/ucmail/dialer/lists/{dialer_list.id}/charts").get_json()
    assert '<svg viewBox="0 0 640 240"' in data["html"] and 'role="img"' in data["html"]
    assert "<desc" in data["html"] and "Data table" in data["html"]
    page = client.get(f"/ucmail/dialer/lists/{dialer_list.id}").get_data(as_text=True)
    assert 'id="list-chart-activity"' in page and "data-chart-url" in page
    board = client.get("/ucmail/supervision/charts").get_json()
    assert "Queue length by hour" in board["html"] and "Service level by hour" in board["html"]
    assert client_for("agent1").get(
        f"/ucmail/dialer/lists/{dialer_list.id}/charts"
    ).status_code in (
        302,
        403,
    )


@pytest.mark.browser
@pytest.mark.integration
def test_results_export_and_charts_in_the_browser(
    app: Flask, page: Any, live_server: str, sink: SmtpSink
) -> None:
    """The list page while a list is sent: the charts follow it live; then the
    results filtered to clicked, the export, and supervision's hourly charts."""
    from playwright.sync_api import expect

    app.config.update(UCMAIL_DISPATCH="off", UCMAIL_LIVE_POLL_MS=300)
    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(sink.port), seconds_between=0.05)
        sink.refused_recipients["customer3@mail.example"] = "550 5.1.1 no such user"
        list_id = upload(dialer_id, csv_text(helpers.simple_rows(40)), subject="Hi").list_id
        assert dialer_service.play_list(list_id, None, "1").ok
    page.set_viewport_size({"width": 1366, "height": 768})
    page.set_default_timeout(20_000)
    browser_login(page, live_server, USERS["supervisor"][0], TEST_PASSWORD)
    page.goto(f"{live_server}/ucmail/dialer/lists/{list_id}")
    sent_label = page.locator('#list-chart-activity [data-end-label="sent"]')
    expect(sent_label).to_have_text("Sent 0")

    def worker() -> None:
        with app.app_context():
            dialer_send.run_list(list_id)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        # The chart grows without a reload.
        expect(sent_label).not_to_have_text("Sent 0")
    finally:
        thread.join(120)
    expect(page.locator('#list-chart-activity [data-end-label="sent"]')).to_have_text("Sent 39")
    expect(page.locator('#list-chart-activity [data-end-label="bounced"]')).to_have_text(
        "Bounced 1"
    )
    with app.app_context():
        _open_and_click(list_id, seen=25, clicked=9, later=timedelta(seconds=2))
    expect(page.locator('#list-chart-activity [data-end-label="clicked"]')).to_have_text(
        "Clicked 9", timeout=60_000
    )
    expect(page.locator("#list-chart-links")).to_contain_text("https://shop.example/a")
    page.locator("#charts").scroll_into_view_if_needed()
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/dialer-list-charts.png")
    page.locator("#list-chart-activity summary").click()
    expect(page.locator("#list-chart-activity-table")).to_be_visible()

    page.select_option("#record-state", "clicked")
    expect(page.locator("#record-table tbody tr")).to_have_count(9)
    expect(page.locator('#record-table [data-col="clicked"]').first).to_contain_text("✓")
    page.locator("#records").scroll_into_view_if_needed()
    page.screenshot(path=f"{SHOTS}/dialer-list-results-clicked.png")
    with page.expect_download() as download:
        page.click("#records-export")
    path = download.value.path()
    text = path.read_bytes().decode("utf-8")
    assert text.count("\r\n") == 10 and "clicked_at" in text.splitlines()[0]
    assert re.search(r"customer\d+@mail\.example;sent", text)

    with app.app_context():
        campaign = db.session.query(Campaign).one()
        now = datetime.now(UTC)
        for minutes in (1, 2, 3):
            db.session.add(
                Interaction(
                    campaign_id=campaign.id,
                    customer_email="c@mail.example",
                    origin="inbound",
                    arrived_at=now - timedelta(minutes=minutes),
                )
            )
        db.session.add(
            Interaction(
                campaign_id=campaign.id,
                customer_email="d@mail.example",
                origin="inbound",
                state="assigned",
                arrived_at=now - timedelta(minutes=4),
                assigned_at=now - timedelta(minutes=4),
                first_response_at=now - timedelta(minutes=4) + timedelta(seconds=20),
            )
        )
        db.session.execute(update(Campaign).values(timezone="UTC", service_level_seconds=60))
        db.session.commit()
    page.goto(f"{live_server}/ucmail/supervision/")
    expect(page.locator("#sv-chart-queue svg")).to_be_visible()
    expect(page.locator("#sv-chart-level svg")).to_be_visible()
    page.locator("#sv-charts-title").scroll_into_view_if_needed()
    page.screenshot(path=f"{SHOTS}/supervision-hourly-charts.png")


@pytest.mark.browser
@pytest.mark.integration
def test_dialer_form_and_monitoring_show_the_new_settings_and_counts(
    app: Flask, page: Any, live_server: str, sink: SmtpSink
) -> None:
    """Click tracking and per-domain limits on the dialer form (a bad limit is
    explained, the good ones kept); monitoring shows Clicked and Unsubscribed."""
    from playwright.sync_api import expect

    app.config.update(UCMAIL_DISPATCH="off", UCMAIL_LIVE_POLL_MS=300)
    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(sink.port))
        list_id = upload(dialer_id, csv_text(helpers.simple_rows(5)), subject="Hi").list_id
        assert dialer_service.play_list(list_id, None, "1").ok
        now = datetime.now(UTC)
        db.session.execute(
            update(DialerRecord)
            .where(DialerRecord.list_id == list_id, DialerRecord.line <= 4)  # line 1: header
            .values(seen_at=now, clicked_at=now)
        )
        db.session.execute(
            update(DialerRecord)
            .where(DialerRecord.list_id == list_id, DialerRecord.line == 5)
            .values(state="unsubscribed")
        )
        db.session.commit()
    page.set_viewport_size({"width": 1366, "height": 768})
    page.set_default_timeout(20_000)
    browser_login(page, live_server, USERS["supervisor"][0], TEST_PASSWORD)

    page.goto(f"{live_server}/ucmail/dialer/{dialer_id}/edit")
    page.fill("#domain_limits", "gmail.com 100/min\nyahoo.com lots")
    page.check("#click_tracking")
    page.click("#dialer-form button[type=submit]")
    expect(page.locator("#dialer-form")).to_contain_text("yahoo.com lots")
    expect(page.locator("#dialer-form")).to_contain_text("e.g. gmail.com 100/min")
    page.locator("#domain_limits").scroll_into_view_if_needed()
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/dialer-form-domain-limits-error.png")
    page.fill("#domain_limits", "gmail.com 100/min\nyahoo.com 30/min")
    page.check("#click_tracking")
    page.click("#dialer-form button[type=submit]")
    page.goto(f"{live_server}/ucmail/dialer/{dialer_id}/edit")
    expect(page.locator("#domain_limits")).to_have_value("gmail.com 100/min\nyahoo.com 30/min")
    expect(page.locator("#click_tracking")).to_be_checked()
    page.locator("#domain_limits").scroll_into_view_if_needed()
    page.screenshot(path=f"{SHOTS}/dialer-form-click-tracking-domain-limits.png")

    page.goto(f"{live_server}/ucmail/dialer/monitor")
    row = page.locator(f'#dialer-monitor tr[data-list-id="{list_id}"]')
    headers = page.locator("#dialer-monitor thead th").all_inner_texts()
    clicked = headers.index("Clicked")
    unsubscribed = headers.index("Unsubscribed")
    expect(row.locator("td").nth(clicked)).to_have_text("3")
    expect(row.locator("td").nth(unsubscribed)).to_have_text("1")
    page.screenshot(path=f"{SHOTS}/dialer-monitor-clicked-unsubscribed.png")
