"""Sending a list: rendering, the ledger of states, pacing, errors, stop and resume."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from example_host_app.extensions import db
from tests.dialer import helpers
from tests.dialer.helpers import CAMPAIGN, csv_text, parse, upload
from tests.fixtures.servers import SmtpSink
from ucmail_ext.mail.parse import normalize_message_id
from ucmail_ext.models import Campaign, Dialer, DialerList, DialerRecord, Schedule, Template
from ucmail_ext.services import blacklist
from ucmail_ext.services.dialer import dialers as dialer_service
from ucmail_ext.services.dialer import recovery as dialer_recovery
from ucmail_ext.services.dialer import send as dialer_send


def _play(list_id: int) -> None:
    result = dialer_service.play_list(list_id, None, "1")
    assert result.ok, result.message


def _record(list_id: int, email: str) -> DialerRecord:
    db.session.expire_all()
    return db.session.query(DialerRecord).filter_by(list_id=list_id, email=email).one()


def test_variables_are_rendered_in_subject_and_body_with_tracking_headers(
    any_dialer_id: int, sink: SmtpSink
) -> None:
    body = "Dear ${name}, code ${code} <b>"
    rows = [f'{CAMPAIGN};ana@mail.example;{body};;"name":"Ana & Co","code":"X1";']
    report = upload(any_dialer_id, csv_text(rows), subject="Offer for ${name}")
    _play(report.list_id)

    [received] = sink.messages
    message = parse(received.raw)
    record = _record(report.list_id, "ana@mail.example")
    assert record.state == "sent" and record.sent_at is not None
    assert message["Subject"] == "Offer for Ana & Co"
    assert message["Message-ID"] == f"<ucmail.dialer.{record.id}@ucmail.test>"
    assert record.message_id == normalize_message_id(message["Message-ID"])
    assert received.rcpt_tos == ("ana@mail.example",)
    assert received.mail_from == helpers.SENDER
    assert message.get_body(("plain",)).get_content().strip() == "Dear Ana & Co, code X1 <b>"
    html = message.get_body(("html",)).get_content()
    assert "Dear Ana &amp; Co, code X1 &lt;b&gt;" in html
    assert 'src="http://helpdesk.test/ucmail/tracking/p/' in html
    assert message["List-Unsubscribe"].startswith("<http://helpdesk.test/ucmail/tracking/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_missing_variable_fails_the_record_and_is_never_sent(
    dialer_id: int, sink: SmtpSink
) -> None:
    rows = [
        f'{CAMPAIGN};ana@mail.example;Hi ${{name}} ${{coupon}};;"name":"Ana";',
        f'{CAMPAIGN};bob@mail.example;Hi ${{name}} ${{coupon}};;"name":"Bob","coupon":"B2";',
    ]
    report = upload(dialer_id, csv_text(rows), subject="For ${name}")
    _play(report.list_id)

    ana = _record(report.list_id, "ana@mail.example")
    assert ana.state == "failed" and ana.error == "missing variable(s): coupon"
    assert [m.rcpt_tos for m in sink.messages] == [("bob@mail.example",)]
    assert b"${" not in sink.messages[0].raw


def test_without_a_message_the_dialer_template_is_sent_else_an_empty_message(
    dialer_id: int, sink: SmtpSink
) -> None:
    report = upload(dialer_id, csv_text([f'{CAMPAIGN};a@mail.example;;;"name":"Ann";']), subject="")
    _play(report.list_id)
    empty = parse(sink.messages[0].raw)
    assert empty.get_body(("plain",)).get_content().strip() == ""

    template = Template(
        name="Promo", subject="Promo for ${name}", body_html="<p>Hello <b>${name}</b></p>"
    )
    db.session.add(template)
    db.session.commit()
    db.session.get(Dialer, dialer_id).template_id = template.id
    db.session.commit()
    report = upload(dialer_id, csv_text([f'{CAMPAIGN};b@mail.example;;;"name":"Ben";']), subject="")
    _play(report.list_id)
    message = parse(sink.messages[1].raw)
    assert message["Subject"] == "Promo for Ben"
    assert "<p>Hello <b>Ben</b></p>" in message.get_body(("html",)).get_content()
    assert "Hello Ben" in message.get_body(("plain",)).get_content()


def test_lower_priority_numbers_are_sent_first(dialer_id: int, sink: SmtpSink) -> None:
    rows = [
        f"{CAMPAIGN};late@mail.example;;;;",
        f"{CAMPAIGN};first@mail.example;;;;1",
        f"{CAMPAIGN};second@mail.example;;;;50",
    ]
    _play(upload(dialer_id, csv_text(rows), subject="x").list_id)
    assert [m.rcpt_tos[0] for m in sink.messages] == [
        "first@mail.example",
        "second@mail.example",
        "late@mail.example",
    ]


def test_blacklisted_addresses_are_skipped_never_mailed(any_dialer_id: int, sink: SmtpSink) -> None:
    blacklist.add("Gone@Mail.example", "manual")
    db.session.commit()
    rows = [f"{CAMPAIGN};gone@mail.example;;;;", f"{CAMPAIGN};kept@mail.example;;;;"]
    report = upload(any_dialer_id, csv_text(rows), subject="x")
    _play(report.list_id)

    assert _record(report.list_id, "gone@mail.example").state == "skipped"
    assert [m.rcpt_tos for m in sink.messages] == [("kept@mail.example",)]


def test_a_5xx_at_send_time_rejects_the_record_with_its_status_code(
    any_dialer_id: int, sink: SmtpSink
) -> None:
    sink.refused_recipients["nobody@mail.example"] = "550 5.1.1 no such user"
    rows = [f"{CAMPAIGN};nobody@mail.example;;;;", f"{CAMPAIGN};ok@mail.example;;;;"]
    report = upload(any_dialer_id, csv_text(rows), subject="x")
    _play(report.list_id)

    nobody = _record(report.list_id, "nobody@mail.example")
    assert (nobody.state, nobody.status_code) == ("rejected", "550")
    assert "no such user" in nobody.error
    assert _record(report.list_id, "ok@mail.example").state == "sent"


@pytest.mark.parametrize("fault", ["tempfail", "drop"])
def test_4xx_and_dropped_connections_defer_with_back_off_then_send(
    any_dialer_id: int, any_ctx, sink: SmtpSink, fault: str
) -> None:
    any_ctx.config["UCMAIL_SEND_BACKOFF"] = 60
    report = upload(any_dialer_id, csv_text(helpers.simple_rows(3)), subject="x")
    sink.fail_next(1, fault)
    _play(report.list_id)

    first = _record(report.list_id, "customer0@mail.example")
    assert first.state == "deferred" and first.attempts == 1
    assert first.next_attempt_at > datetime.now(UTC) + timedelta(seconds=30)
    assert sink.count == 2
    assert db.session.get(DialerList, report.list_id).state == "active"

    later = first.next_attempt_at
    assert dialer_send.requeue_due(db.session, later) == 1
    db.session.commit()
    dialer_send.run_list(report.list_id)
    assert _record(report.list_id, "customer0@mail.example").state == "sent"
    assert sink.count == 3
    assert db.session.get(DialerList, report.list_id).state == "done"


@pytest.mark.parametrize("fault", ["tempfail", "drop"])
def test_every_message_is_its_records_own_while_the_next_renders_during_the_answer(
    any_dialer_id: int, sink: SmtpSink, fault: str
) -> None:
    """One connection renders record n+1 while the server takes record n's body: a
    failure of n, a skipped or unsendable record in between never mixes records."""
    blacklist.add("skip@mail.example", "manual")
    db.session.commit()
    rows = [
        f'{CAMPAIGN};c{n}@mail.example;Hello ${{name}} ${{code}};;"name":"N{n}","code":"K{n}";'
        for n in range(12)
    ]
    rows.insert(4, f"{CAMPAIGN};skip@mail.example;;;;")
    rows.insert(7, f'{CAMPAIGN};broken@mail.example;Hi ${{missing}};;"name":"B";')
    report = upload(any_dialer_id, csv_text(rows), subject="For ${name}")
    sink.fail_next(1, fault)
    _play(report.list_id)

    received = {m.rcpt_tos[0]: parse(m.raw) for m in sink.messages}
    assert sorted(received) == sorted(f"c{n}@mail.example" for n in range(1, 12))
    for n in range(1, 12):
        message = received[f"c{n}@mail.example"]
        record = _record(report.list_id, f"c{n}@mail.example")
        assert record.state == "sent"
        assert message["To"] == f"c{n}@mail.example"
        assert message["Subject"] == f"For N{n}"
        assert message.get_body(("plain",)).get_content().strip() == f"Hello N{n} K{n}"
        assert message["Message-ID"] == f"<ucmail.dialer.{record.id}@ucmail.test>"
    assert _record(report.list_id, "c0@mail.example").state == "deferred"
    assert _record(report.list_id, "skip@mail.example").state == "skipped"
    assert _record(report.list_id, "broken@mail.example").state == "failed"


def test_a_run_of_many_batches_loads_the_campaign_once_not_per_batch(
    any_dialer_id: int, any_ctx, sink: SmtpSink
) -> None:
    """Each batch's commit expires the loaded rows; reading the campaign's id after
    one loaded it again per batch (bench D6: 28 statements per 1,000 messages)."""
    report = upload(any_dialer_id, csv_text(helpers.simple_rows(300)), subject="x")
    engine = db.engine
    statements: list[str] = []

    def keep(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        _play(report.list_id)  # sends the list in this process (eager tasks)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert sink.count == 300
    claims = [s for s in statements if s.startswith("UPDATE ucmail_dialer_record SET state=")]
    assert len(claims) >= 3  # several batches
    campaign_loads = [s for s in statements if s.startswith("SELECT ucmail_campaign.id")]
    assert len(campaign_loads) <= 2  # play_list's checks, then the run's plan


def test_errors_in_a_row_pause_the_dialer_with_the_reason(
    any_dialer_id: int, sink: SmtpSink
) -> None:
    dialer = db.session.get(Dialer, any_dialer_id)
    dialer.max_error_streak = 3
    db.session.commit()
    sink.mode = "reject"
    report = upload(any_dialer_id, csv_text(helpers.simple_rows(10)), subject="x")
    _play(report.list_id)

    db.session.expire_all()
    dialer = db.session.get(Dialer, any_dialer_id)
    assert dialer.state == "paused"
    assert dialer.pause_reason.startswith("3 sending errors in a row; last: 550")
    assert helpers.states(report.list_id) == {"rejected": 3, "pending": 7}

    sink.mode = "accept"
    _play(report.list_id)
    db.session.expire_all()
    assert db.session.get(Dialer, any_dialer_id).state == "stopped"
    assert helpers.states(report.list_id) == {"rejected": 3, "sent": 7}


def test_a_dialer_with_no_open_schedule_sends_nothing(dialer_id: int, sink: SmtpSink) -> None:
    now = datetime.now(UTC)
    closed_day = (now.weekday() + 3) % 7
    db.session.add(
        Schedule(
            dialer_id=dialer_id,
            days_mask=1 << closed_day,
            start_time=now.time().replace(hour=0, minute=0, second=0, microsecond=0),
            end_time=now.time().replace(hour=23, minute=59, second=0, microsecond=0),
        )
    )
    db.session.get(Dialer, dialer_id).timezone = "UTC"
    db.session.commit()
    report = upload(dialer_id, csv_text(helpers.simple_rows(2)), subject="x")
    _play(report.list_id)

    assert sink.count == 0
    assert helpers.states(report.list_id) == {"pending": 2}
    assert dialer_send.run_list(report.list_id).outcome == "closed"


def test_parallel_connections_send_every_record_once(any_ctx, sink: SmtpSink) -> None:
    campaign_id = helpers.make_campaign(sink.port, smtp_connections=3)
    dialer_id = helpers.make_dialer(campaign_id)
    report = upload(dialer_id, csv_text(helpers.simple_rows(60)), subject="x")
    _play(report.list_id)

    ids = helpers.message_ids([m.raw for m in sink.messages])
    assert len(ids) == len(set(ids)) == 60
    assert len(sink.session_ids) == 3
    assert helpers.states(report.list_id) == {"sent": 60}


def test_time_between_messages_is_never_undercut(dialer_id: int, sink: SmtpSink) -> None:
    db.session.get(Dialer, dialer_id).seconds_between = 0.1
    db.session.commit()
    _play(upload(dialer_id, csv_text(helpers.simple_rows(5)), subject="x").list_id)

    times = [m.received_at for m in sink.messages]
    assert len(times) == 5
    # Arrival times jitter with the sink's event loop; their span cannot. The first
    # message also waits for the connection to open, so the span starts at the second.
    assert times[-1] - times[1] >= 3 * 0.1 * 0.95


def test_stop_takes_effect_and_play_resumes_without_duplicates(
    app, dialer_id: int, sink: SmtpSink
) -> None:
    app.config["UCMAIL_DISPATCH"] = "off"
    db.session.get(Dialer, dialer_id).seconds_between = 0.02
    db.session.commit()
    report = upload(dialer_id, csv_text(helpers.simple_rows(300)), subject="x")
    list_id = report.list_id
    _play(list_id)
    outcome: list[str] = []

    def worker() -> None:
        with app.app_context():
            outcome.append(dialer_send.run_list(list_id).outcome)

    thread = threading.Thread(target=worker)
    thread.start()
    sink.wait_for(5, timeout=10)
    dialer_service.stop_list(list_id, None, "1")
    stopped_at = sink.count
    thread.join(timeout=5)
    assert not thread.is_alive() and outcome == ["stopped"]
    # What was already on the wire may land; nothing is started after the stop is seen.
    assert sink.count <= stopped_at + 30
    counts = helpers.states(list_id)
    assert "sending" not in counts and counts.get("pending", 0) > 0
    assert counts["sent"] == sink.count

    app.config["UCMAIL_DISPATCH"] = "inline"
    db.session.get(Dialer, dialer_id).seconds_between = 0
    db.session.commit()
    _play(list_id)
    ids = helpers.message_ids([m.raw for m in sink.messages])
    assert len(ids) == len(set(ids)) == 300
    assert helpers.states(list_id) == {"sent": 300}


def test_list_unsubscribe_offers_a_mailto_when_configured(ctx, dialer_id: int, sink) -> None:
    ctx.config["UCMAIL_DIALER_UNSUBSCRIBE_MAILTO"] = "unsubscribe@shop.example"
    _play(upload(dialer_id, csv_text(helpers.simple_rows(1)), subject="x").list_id)

    header = parse(sink.messages[0].raw)["List-Unsubscribe"]
    url, mailto = (part.strip() for part in header.split(","))
    assert url.startswith("<http://helpdesk.test/ucmail/tracking/u/")
    assert mailto == "<mailto:unsubscribe@shop.example?subject=unsubscribe>"


def test_an_unreachable_server_defers_records_and_pauses_the_dialer(ctx) -> None:
    from tests.fixtures.servers import free_port

    dialer_id = helpers.make_dialer(helpers.make_campaign(free_port()), max_error_streak=2)
    report = upload(dialer_id, csv_text(helpers.simple_rows(5)), subject="x")
    _play(report.list_id)

    db.session.expire_all()
    dialer = db.session.get(Dialer, dialer_id)
    assert dialer.state == "paused" and "cannot connect" in dialer.pause_reason
    counts = helpers.states(report.list_id)
    assert counts == {"deferred": 2, "pending": 3}


def test_the_beat_starts_a_list_only_when_no_worker_is_alive(app, ctx, dialer_id: int) -> None:
    app.config["UCMAIL_DISPATCH"] = "off"
    list_id = upload(dialer_id, csv_text(helpers.simple_rows(2)), subject="x").list_id
    _play(list_id)

    assert dialer_recovery.tick() == []
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert dialer_recovery.tick(later) == [list_id]
    assert dialer_recovery.tick(later) == []


def test_stop_with_parallel_connections_leaves_nothing_half_done(app, sink: SmtpSink) -> None:
    app.config["UCMAIL_DISPATCH"] = "off"
    with app.app_context():
        dialer_id = helpers.make_dialer(helpers.make_campaign(sink.port, smtp_connections=3))
        list_id = upload(dialer_id, csv_text(helpers.simple_rows(3000)), subject="x").list_id
        _play(list_id)
    outcome: list[str] = []

    def worker() -> None:
        with app.app_context():
            outcome.append(dialer_send.run_list(list_id).outcome)

    thread = threading.Thread(target=worker)
    thread.start()
    sink.wait_for(100, timeout=20)
    with app.app_context():
        dialer_service.stop_list(list_id, None, "1")
    thread.join(timeout=10)
    assert not thread.is_alive() and outcome == ["stopped"]

    with app.app_context():
        counts = helpers.states(list_id)
        assert set(counts) == {"sent", "pending"} and counts["sent"] == sink.count
        app.config["UCMAIL_DISPATCH"] = "inline"
        _play(list_id)
        assert helpers.states(list_id) == {"sent": 3000}
    ids = helpers.message_ids([m.raw for m in sink.messages])
    assert len(ids) == len(set(ids)) == 3000


@pytest.mark.parametrize("connections", [1, 3])
def test_stop_is_seen_by_every_connection_before_its_next_message(
    app, sink: SmtpSink, connections: int
) -> None:
    """Issue 10b: after stop, at most the message each connection has on the wire lands.

    Counted, not timed: the messages the sink receives after the stop is committed.
    """
    app.config["UCMAIL_DISPATCH"] = "off"
    with app.app_context():
        campaign_id = helpers.make_campaign(sink.port, smtp_connections=connections)
        dialer_id = helpers.make_dialer(campaign_id, seconds_between=0.1)
        list_id = upload(dialer_id, csv_text(helpers.simple_rows(200)), subject="x").list_id
        _play(list_id)
    outcome: list[str] = []

    def worker() -> None:
        with app.app_context():
            outcome.append(dialer_send.run_list(list_id).outcome)

    thread = threading.Thread(target=worker)
    thread.start()
    sink.wait_for(8, timeout=30)
    with app.app_context():
        dialer_service.stop_list(list_id, None, "1")
    at_stop = sink.count
    thread.join(timeout=30)
    assert not thread.is_alive() and outcome == ["stopped"]

    assert sink.count - at_stop <= connections
    with app.app_context():
        counts = helpers.states(list_id)
        assert set(counts) == {"sent", "pending"} and counts["sent"] == sink.count


def _set_campaign_enabled(dialer_id: int, enabled: bool) -> None:
    dialer = db.session.get(Dialer, dialer_id)
    db.session.get(Campaign, dialer.campaign_id).enabled = enabled
    db.session.commit()


def test_a_disabled_campaign_pauses_its_dialer_until_the_beat_sees_it_enabled(
    any_ctx, any_dialer_id: int, sink: SmtpSink
) -> None:
    """Issue 10a: the pipeline checks the campaign when claiming; the beat resumes."""
    any_ctx.config["UCMAIL_DISPATCH"] = "off"
    list_id = upload(any_dialer_id, csv_text(helpers.simple_rows(5)), subject="x").list_id
    _play(list_id)
    _set_campaign_enabled(any_dialer_id, False)

    assert dialer_send.run_list(list_id).outcome == "paused"
    db.session.expire_all()
    dialer = db.session.get(Dialer, any_dialer_id)
    assert (dialer.state, dialer.pause_reason) == ("paused", "campaign disabled")
    assert sink.count == 0 and helpers.states(list_id) == {"pending": 5}
    assert dialer_recovery.tick(datetime.now(UTC) + timedelta(minutes=5)) == []

    _set_campaign_enabled(any_dialer_id, True)
    any_ctx.config["UCMAIL_DISPATCH"] = "inline"
    assert dialer_recovery.tick() == [list_id]
    assert sink.count == 5 and helpers.states(list_id) == {"sent": 5}
    db.session.expire_all()
    assert db.session.get(Dialer, any_dialer_id).state == "stopped"


def test_disabling_the_campaign_mid_run_stops_sending_at_once(
    app, dialer_id: int, sink: SmtpSink
) -> None:
    app.config["UCMAIL_DISPATCH"] = "off"
    # Above the 0.5 s the stop signal is cached for, so it is read before every
    # message (shorter gaps may finish that half second on a busy machine).
    db.session.get(Dialer, dialer_id).seconds_between = 0.6
    db.session.commit()
    list_id = upload(dialer_id, csv_text(helpers.simple_rows(200)), subject="x").list_id
    _play(list_id)
    outcome: list[str] = []

    def worker() -> None:
        with app.app_context():
            outcome.append(dialer_send.run_list(list_id).outcome)

    thread = threading.Thread(target=worker)
    thread.start()
    sink.wait_for(3, timeout=60)
    _set_campaign_enabled(dialer_id, False)
    at_disable = sink.count
    thread.join(timeout=30)

    assert not thread.is_alive() and outcome == ["paused"]
    assert sink.count - at_disable <= 1
    db.session.expire_all()
    assert db.session.get(Dialer, dialer_id).pause_reason == "campaign disabled"
    counts = helpers.states(list_id)
    assert set(counts) == {"sent", "pending"} and counts["sent"] == sink.count
