"""The email dialer against a local SMTP server that discards, in its own process.

``python -m bench dialer [--n 2000] [--db sqlite|postgresql|URL] [--threads 4]
[--paced 200] [--m1-rows 100000]`` prints these figures (baselines measured in the
same run, against the same sink):

- ``D1_msgs_per_s`` / ``D1_ratio``: N records, text + HTML with ``${var}`` and the
  pixel, time between messages 0, until every status is committed; over raw
  ``smtplib`` sending a message of the same size N times on one reused
  connection. Goal: at least 0.85 (issue 13). D1 to D3 run ``--rounds`` times,
  each round right after its baseline, and report medians.
- ``D2_ratio``: the same with a 20 KB attachment and an iCalendar invite. Goal: 0.5.
- ``D3_ratio``: ``--threads`` SMTP connections (the campaign's setting) over raw
  smtplib with as many threads, each on its own connection. Goal: 0.7.
- ``D7_dkim_ratio``: D1 with the campaign's RSA-2048 DKIM signing on (every message
  signed over its final bytes), over the same raw ``smtplib`` baseline (a message of
  the signed size). Goal: at least 0.6. ``D7_dkim_ms_per_message`` is the signing
  alone (``DkimSigner.sign`` on that message, mean of 300).
- ``D5_interval_error_pct``: time between messages 50 ms over ``--paced``
  messages: how far the mean interval between the recorded send times is from
  50 ms, in percent. Goal: at most 5.
- ``D6_statements_per_1000``: database statements (SQLAlchemy
  ``before_cursor_execute``) during a D1 run (the most of the rounds), per 1,000
  messages. Goal: at most 20.
- ``D10_throttle_efficiency``: ``--throttle-n`` records, time between messages 0,
  to a relay that refuses MAIL FROM with ``450 4.7.1 Error: too much mail`` past
  ``--throttle-burst`` messages per ``--throttle-window`` seconds (Postfix's
  ``smtpd_client_message_rate_limit``: 8 per 10 s, time scaled 50x down by default):
  messages accepted per second over the relay's allowed rate, start to finish.
  Goal: at least 0.8 (the dialer follows the relay, no collapse into long
  back-offs). ``--only D10`` runs this figure alone; ``--only D1,D7`` (names among
  D1, D2, D3, D7) runs those ratio figures alone.
- ``D8_click_rewrite_ratio``: D1's ratio with click tracking on over D1's ratio with
  it off, both with a template of 20 links (every link rewritten to a signed
  redirect per message), each over raw ``smtplib`` sending its own message (the
  tracked links make it about 10 % longer, which costs the wire, not ucmail),
  alternating, medians of ``--rounds``. Goal: at least 0.9.
  ``D8_click_msgs_per_s_ratio`` is the plain rate ratio, message growth included.
- ``D9_domain_pacing_error_pct``: one list to three recipient domains limited to
  1200, 600 and 300 messages a minute (``--domain-n`` records in all, shared so each
  domain takes as long): per domain, how far the mean interval between recorded
  send times is from its limit's, in percent; the mean of the three. Goal: at most
  5. ``--only D8,D9`` runs these two alone.
- ``M1_rss_growth_mb`` / ``M1_rows_per_s``: in a fresh process, a ``--m1-rows``
  CSV uploaded and sent: peak RSS growth (``VmHWM`` after resetting it) and the
  upload's rows per second. Goal: at most 20 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event, func, select

from bench.common import bench_app, database_url, emit
from tests.fixtures.servers import SmtpSinkProcess

BENCH = "dialer"
CAMPAIGN = "Bench news"
SENDER = "news@bench.test"
ROOT = Path(__file__).resolve().parent.parent

TEXT = (
    "Hello ${name},\n\n"
    "Thank you for being a customer since ${since}. This month we have prepared an offer "
    "for you: use the code ${code} at checkout for 15% off anything in the spring "
    "catalogue, including the new garden furniture and the outdoor lights.\n\n"
    "The offer is valid until the end of the month in every shop and online. If you "
    "have a question, simply answer this email and one of our team will help.\n\n"
    "Kind regards,\nThe Shop team\n\n"
    "Unsubscribe: ${unsubscribe_url}\n"
)
HTML = (
    '<!DOCTYPE html><html><body style="font-family:sans-serif">'
    "<p>Hello <b>${name}</b>,</p>"
    "<p>Thank you for being a customer since ${since}. This month we have prepared an "
    "offer for you: use the code <strong>${code}</strong> at checkout for 15% off "
    "anything in the spring catalogue, including the new garden furniture and the "
    "outdoor lights.</p><p>The offer is valid until the end of the month in every shop "
    "and online. If you have a question, simply answer this email and one of our team "
    "will help.</p><p>Kind regards,<br>The Shop team</p>"
    '<p style="font-size:small"><a href="${unsubscribe_url}">Unsubscribe</a></p>'
    "</body></html>"
)


# --------------------------------------------------------------------------- setup


def dialer_app(url: str, workdir: str) -> contextlib.AbstractContextManager[Flask]:
    """Pixels and links need a public URL; one run sends a whole list without handing
    it to a fresh task, so the time measured is the sending alone."""
    return bench_app(
        url,
        str(Path(workdir) / "files"),
        UCMAIL_PUBLIC_URL="https://helpdesk.bench.test",
        UCMAIL_DIALER_RUN_SECONDS=3600,
    )


def make_dialer(
    app: Flask, port: int, *, connections: int = 1, dkim: bool = False, **extra: Any
) -> int:
    """A campaign (named CAMPAIGN + its number: names are unique) and its dialer;
    ``dkim``: with an RSA-2048 key generated and signing on."""
    from example_host_app.extensions import db
    from ucmail_ext.models import Campaign, Dialer, Template

    with app.app_context():
        number = db.session.scalar(select(func.count(Campaign.id))) + 1
        campaign = Campaign(
            name=f"{CAMPAIGN} {number}",
            email_address=SENDER,
            from_name="Shop News",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="none",
            smtp_connections=connections,
            receive_emails=False,
        )
        template = Template(name="Spring", subject="", body_text=TEXT, body_html=HTML)
        db.session.add_all([campaign, template])
        db.session.flush()
        dialer = Dialer(
            name=f"Bench {campaign.id}",
            campaign_id=campaign.id,
            template_id=template.id,
            timezone="Europe/Madrid",
            **extra,
        )
        db.session.add(dialer)
        db.session.commit()
        if dkim:
            from ucmail_ext.services.admin import dkim as dkim_service

            domain = SENDER.rpartition("@")[2]
            made = dkim_service.generate_key(
                campaign.id, domain=domain, selector="bench", with_ed25519=False, actor_id="bench"
            )
            assert made.ok, made.errors
            assert dkim_service.set_signing(campaign.id, True, actor_id="bench").ok
        return dialer.id


def campaign_name(app: Flask, dialer_id: int) -> str:
    from example_host_app.extensions import db
    from ucmail_ext.models import Campaign, Dialer

    with app.app_context():
        return db.session.get(Campaign, db.session.get(Dialer, dialer_id).campaign_id).name


def csv_rows(count: int, campaign: str, attachment: str = "") -> Iterator[str]:
    yield "campaign;email;message;attachments;variables;priority\r\n"
    for n in range(count):
        yield (
            f'{campaign};customer{n}@mail.bench.test;;{attachment};"name":"Customer {n}",'
            f'"since":"{2000 + n % 25}","code":"SPRING-{n:06d}";\r\n'
        )


def upload(app: Flask, dialer_id: int, count: int, attachment: str = "") -> int:
    from ucmail_ext.services.dialer import lists as dialer_lists

    data = "".join(csv_rows(count, campaign_name(app, dialer_id), attachment)).encode()
    with app.app_context():
        report = dialer_lists.upload_list(
            dialer_id, stream=io.BytesIO(data), filename="bench.csv", subject="Offer for ${name}"
        )
        assert report.accepted == count, report
        return int(report.list_id)


def activate(app: Flask, list_id: int) -> None:
    from ucmail_ext.services.dialer import dialers as dialer_service

    with app.app_context():
        result = dialer_service.play_list(list_id, None, "bench")
        assert result.ok, result.message


def sample_message(app: Flask, list_id: int) -> bytes:
    """One record rendered exactly as the run will render it: the baseline's size."""
    from example_host_app.extensions import db
    from ucmail_ext.models import DialerList, DialerRecord
    from ucmail_ext.services.dialer.compose import ClaimedRecord, Prepared, build_composer

    with app.app_context():
        dialer_list = db.session.get(DialerList, list_id)
        record = db.session.scalars(
            select(DialerRecord).where(DialerRecord.list_id == list_id).limit(1)
        ).one()
        claimed = ClaimedRecord(
            record.id, record.email, record.message, record.attachments, record.variables, 1, False
        )
        composer = build_composer(dialer_list)
        composer.prepare([claimed])
        rendered = composer.render(claimed)
        assert isinstance(rendered, Prepared), rendered
        db.session.rollback()
        return rendered.raw


def count_sent(app: Flask, list_id: int) -> int:
    from example_host_app.extensions import db
    from ucmail_ext.models import DialerRecord

    with app.app_context():
        return int(
            db.session.scalar(
                select(func.count(DialerRecord.id)).where(
                    DialerRecord.list_id == list_id, DialerRecord.state == "sent"
                )
            )
        )


# --------------------------------------------------------------------------- measuring


def raw_rate(port: int, message: bytes, count: int, threads: int = 1) -> float:
    """The physical limit: smtplib, one reused connection per thread, same bytes."""
    share = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def send(n: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            barrier.wait()
            for i in range(n):
                smtp.sendmail(SENDER, [f"customer{i}@mail.bench.test"], message)

    workers = [threading.Thread(target=send, args=(n,)) for n in share]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return count / (time.perf_counter() - started)


@contextlib.contextmanager
def counting_statements(app: Flask) -> Iterator[list[int]]:
    counter = [0]
    with app.app_context():
        engine = app.extensions["sqlalchemy"].engine

    def count(*_: Any) -> None:
        counter[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", count)


def run(app: Flask, list_id: int) -> float:
    from ucmail_ext.services.dialer import send as dialer_send

    with app.app_context():
        started = time.perf_counter()
        result = dialer_send.run_list(list_id)
        elapsed = time.perf_counter() - started
    assert result.outcome == "done", result
    return elapsed


def dialer_rate(
    app: Flask, sink: SmtpSinkProcess, count: int, *, attachment: str = "", **extra: Any
) -> tuple[float, bytes, int, int]:
    dialer_id = make_dialer(app, sink.port, **extra)
    list_id = upload(app, dialer_id, count, attachment)
    message = sample_message(app, list_id)
    activate(app, list_id)
    sink.reset()
    with counting_statements(app) as statements:
        elapsed = run(app, list_id)
    assert sink.count() == count, (sink.count(), count)
    assert count_sent(app, list_id) == count
    return count / elapsed, message, statements[0], list_id


def store_attachment(app: Flask, size: int) -> str:
    from ucmail_ext.services.dialer import lists as dialer_lists

    data = random.Random(7).randbytes(size)
    with app.app_context():
        result = dialer_lists.store_attachment(io.BytesIO(data), "catalogue.pdf")
        assert result.upload is not None
        return result.upload.token


def sign_ms(message: bytes, count: int = 300) -> float:
    """RSA-2048 signing alone, per message: what D7 adds to D1."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from ucmail_ext.mail.dkim import DkimKey, DkimSigner

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = DkimSigner("bench.test", [DkimKey("bench", key)])
    started = time.perf_counter()
    for _ in range(count):
        signer.sign(message)
    return (time.perf_counter() - started) / count * 1000


def paced_error_pct(app: Flask, sink: SmtpSinkProcess, count: int, interval: float) -> float:
    from example_host_app.extensions import db
    from ucmail_ext.models import DialerRecord

    dialer_id = make_dialer(app, sink.port, seconds_between=interval)
    list_id = upload(app, dialer_id, count)
    activate(app, list_id)
    run(app, list_id)
    with app.app_context():
        times = sorted(
            db.session.scalars(select(DialerRecord.sent_at).where(DialerRecord.list_id == list_id))
        )
    mean = (times[-1] - times[0]).total_seconds() / (len(times) - 1)
    return abs(mean - interval) / interval * 100


def throttle_efficiency(app: Flask, count: int, burst: int, window: float) -> float:
    from tests.dialer.ratelimited import RateLimitedRelay

    with RateLimitedRelay(burst, window, keep=False) as relay:
        dialer_id = make_dialer(app, relay.port)
        list_id = upload(app, dialer_id, count)
        activate(app, list_id)
        elapsed = run(app, list_id)
        assert relay.accepted == count, (relay.accepted, count)
        assert count_sent(app, list_id) == count
    return count / elapsed / relay.allowed_rate


LINK_HTML = HTML.replace(
    "<p>Kind regards,",
    "<ul>"
    + "".join(
        f'<li><a href="https://shop.bench.test/spring/item-{n}?code=${{code}}">Item {n}</a></li>'
        for n in range(20)
    )
    + "</ul><p>Kind regards,",
)
DOMAIN_LIMITS = {"fast.bench.test": 1200, "mid.bench.test": 600, "slow.bench.test": 300}


def click_rate(
    app: Flask, sink: SmtpSinkProcess, count: int, tracking: bool
) -> tuple[float, float]:
    """D1's run with a 20-link template, click tracking on or off: (rate, D1 ratio)."""
    from example_host_app.extensions import db
    from ucmail_ext.models import Dialer, Template

    dialer_id = make_dialer(app, sink.port, click_tracking=tracking)
    with app.app_context():
        template = db.session.get(Template, db.session.get(Dialer, dialer_id).template_id)
        template.body_html = LINK_HTML
        db.session.commit()
    list_id = upload(app, dialer_id, count)
    activate(app, list_id)
    message = sample_message(app, list_id)
    assert (b"/tracking/c/" in message) == tracking
    sink.reset()
    elapsed = run(app, list_id)
    assert sink.count() == count, (sink.count(), count)
    rate = count / elapsed
    return rate, rate / raw_rate(sink.port, message, count)


def click_rewrite_ratio(
    app: Flask, sink: SmtpSinkProcess, count: int, rounds: int
) -> tuple[float, float]:
    """(D1 ratio on / D1 ratio off, rate on / rate off), medians of the rounds."""
    ratios, rates = [], []
    for number in range(rounds):
        # Which goes first alternates: a shared machine's load drifts within a round.
        if number % 2:
            on_rate, on_ratio = click_rate(app, sink, count, tracking=True)
            off_rate, off_ratio = click_rate(app, sink, count, tracking=False)
        else:
            off_rate, off_ratio = click_rate(app, sink, count, tracking=False)
            on_rate, on_ratio = click_rate(app, sink, count, tracking=True)
        ratios.append(on_ratio / off_ratio)
        rates.append(on_rate / off_rate)
    return statistics.median(ratios), statistics.median(rates)


def domain_pacing_error_pct(app: Flask, sink: SmtpSinkProcess, count: int) -> float:
    from example_host_app.extensions import db
    from ucmail_ext.models import DialerRecord
    from ucmail_ext.services.dialer import lists as dialer_lists
    from ucmail_ext.services.dialer import pacing

    dialer_id = make_dialer(app, sink.port)
    campaign = campaign_name(app, dialer_id)
    total_rate = sum(DOMAIN_LIMITS.values())
    rows = ["campaign;email;message;attachments;variables;priority\r\n"]
    for domain, limit in DOMAIN_LIMITS.items():
        for n in range(max(3, round(count * limit / total_rate))):
            rows.append(
                f'{campaign};c{n}@{domain};;;"name":"C {n}","since":"2001","code":"X{n}";\r\n'
            )
    with app.app_context():
        pacing.set_domain_limits(db.session, dialer_id, DOMAIN_LIMITS)
        db.session.commit()
        report = dialer_lists.upload_list(
            dialer_id,
            stream=io.BytesIO("".join(rows).encode()),
            filename="domains.csv",
            subject="Offer for ${name}",
        )
    activate(app, report.list_id)
    run(app, report.list_id)
    errors = []
    with app.app_context():
        for domain, limit in DOMAIN_LIMITS.items():
            times = sorted(
                db.session.scalars(
                    select(DialerRecord.sent_at).where(
                        DialerRecord.list_id == report.list_id,
                        DialerRecord.email.endswith(f"@{domain}"),
                    )
                )
            )
            interval = 60.0 / limit
            mean = (times[-1] - times[0]).total_seconds() / (len(times) - 1)
            errors.append(abs(mean - interval) / interval * 100)
    return statistics.mean(errors)


def d8_d9(app: Flask, sink: SmtpSinkProcess, args: argparse.Namespace) -> None:
    ratio, rates = click_rewrite_ratio(app, sink, args.n, args.rounds)
    emit(BENCH, "D8_click_rewrite_ratio", ratio, "x")
    emit(BENCH, "D8_click_msgs_per_s_ratio", rates, "x")
    error = domain_pacing_error_pct(app, sink, args.domain_n)
    emit(BENCH, "D9_domain_pacing_error_pct", error, "%")


# --------------------------------------------------------------------------- M1


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def m1_child(rows: int, db: str, sink_port: int) -> None:
    """In a fresh process: upload and send a big list, report peak RSS growth."""
    from ucmail_ext.services.dialer import lists as dialer_lists

    workdir = tempfile.mkdtemp(prefix="ucmail-bench-m1-")
    csv_path = Path(workdir) / "big.csv"
    with database_url(db, workdir) as url, dialer_app(url, workdir) as app:
        dialer_id = make_dialer(app, sink_port)
        with open(csv_path, "w", encoding="utf-8", newline="") as out:
            out.writelines(csv_rows(rows, campaign_name(app, dialer_id)))

        # Warm up the code paths once, so imports and caches are not counted as growth.
        upload(app, make_dialer(app, sink_port), 10)
        # Resetting the high-water mark (Linux clear_refs "5") makes VmHWM the peak
        # from here on.
        Path("/proc/self/clear_refs").write_text("5")
        before = _status_kb("VmRSS")
        with app.app_context(), open(csv_path, "rb") as stream:
            started = time.perf_counter()
            report = dialer_lists.upload_list(
                dialer_id, stream=stream, filename="big.csv", subject="Offer for ${name}"
            )
            upload_seconds = time.perf_counter() - started
        assert report.accepted == rows, report
        activate(app, int(report.list_id))
        run(app, int(report.list_id))
        assert count_sent(app, int(report.list_id)) == rows
        peak = _status_kb("VmHWM")
    print(
        json.dumps({"rss_growth_mb": (peak - before) / 1024, "rows_per_s": rows / upload_seconds}),
        flush=True,
    )


def m1(rows: int, db: str, sink: SmtpSinkProcess) -> dict[str, float]:
    sink.reset()
    output = subprocess.run(
        [sys.executable, "-m", "bench.dialer", "--m1-child", str(rows), "--db", db,
         "--sink-port", str(sink.port)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    return json.loads(output.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- main


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench dialer")
    parser.add_argument("--n", type=int, default=2000, help="records in D1, D2 and D3")
    parser.add_argument("--db", default="sqlite", help="sqlite, postgresql or a database URL")
    parser.add_argument("--threads", type=int, default=4, help="SMTP connections in D3")
    parser.add_argument("--paced", type=int, default=200, help="messages in D5")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of D1-D3, D7 (median)")
    parser.add_argument("--m1-rows", type=int, default=100_000, help="rows in M1; 0 skips it")
    parser.add_argument("--throttle-n", type=int, default=800, help="records in D10")
    parser.add_argument("--throttle-burst", type=int, default=8, help="D10 relay's burst")
    parser.add_argument("--throttle-window", type=float, default=0.2, help="D10 window, s")
    parser.add_argument("--only", default="", help="D10, or D1,D7...: those figures alone")
    parser.add_argument("--domain-n", type=int, default=210, help="records in D9")
    parser.add_argument("--m1-child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--sink-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.m1_child:
        m1_child(args.m1_child, args.db, args.sink_port)
        return

    workdir = tempfile.mkdtemp(prefix="ucmail-bench-dialer-")
    if args.only == "D10":
        with database_url(args.db, workdir) as url, dialer_app(url, workdir) as app:
            d10(app, args)
        return
    if args.only in ("D8", "D9", "D8,D9"):
        with SmtpSinkProcess() as sink, database_url(args.db, workdir) as url:
            with dialer_app(url, workdir) as app:
                dialer_rate(app, sink, 100)
                d8_d9(app, sink, args)
        return
    with SmtpSinkProcess() as sink, database_url(args.db, workdir) as url:
        with dialer_app(url, workdir) as app:
            # Warm-up: imports, first connections, SQLite's first pages.
            dialer_rate(app, sink, 100)
            raw_rate(sink.port, b"Subject: warm-up\r\n\r\nx\r\n", 100)

            token = store_attachment(app, 20 * 1024)
            scenarios = {
                "D1": ({}, 1),
                "D2": (
                    {
                        "attachment": token,
                        "event_enabled": True,
                        "event_title": "Spring preview for ${name}",
                        "event_organizer_name": "Shop team",
                        "event_start": "2026-04-20T18:00",
                        "event_end": "2026-04-20T20:00",
                    },
                    1,
                ),
                "D3": ({"connections": args.threads}, args.threads),
                "D7": ({"dkim": True}, 1),
            }
            only = [name for name in args.only.split(",") if name]
            if only:
                scenarios = {name: scenarios[name] for name in only}
            for name, (options, threads) in scenarios.items():
                rates, baselines, ratios, statements = [], [], [], []
                # Alternate with the baseline: a shared machine's load then weighs on both.
                for _ in range(args.rounds):
                    rate, message, count, _ = dialer_rate(app, sink, args.n, **options)
                    baseline = raw_rate(sink.port, message, args.n, threads=threads)
                    rates.append(rate)
                    baselines.append(baseline)
                    ratios.append(rate / baseline)
                    statements.append(count * 1000 / args.n)
                emit(BENCH, f"{name}_msgs_per_s", statistics.median(rates), "msg/s")
                emit(BENCH, f"{name}_baseline_msgs_per_s", statistics.median(baselines), "msg/s")
                label = "D7_dkim" if name == "D7" else name
                emit(BENCH, f"{label}_ratio", statistics.median(ratios), "x")
                if name == "D7":
                    emit(BENCH, "D7_dkim_ms_per_message", sign_ms(message), "ms")
                if name == "D1":
                    emit(BENCH, "D6_statements_per_1000", max(statements), "statements")
            if only:
                return

            error = paced_error_pct(app, sink, args.paced, 0.05)
            emit(BENCH, "D5_interval_error_pct", error, "%")
            d8_d9(app, sink, args)
            d10(app, args)
        if args.m1_rows:
            figures = m1(args.m1_rows, args.db, sink)
            emit(BENCH, "M1_rss_growth_mb", figures["rss_growth_mb"], "MB")
            emit(BENCH, "M1_rows_per_s", figures["rows_per_s"], "rows/s")


def d10(app: Flask, args: argparse.Namespace) -> None:
    value = throttle_efficiency(app, args.throttle_n, args.throttle_burst, args.throttle_window)
    emit(BENCH, "D10_throttle_efficiency", value, "x")


if __name__ == "__main__":
    main(sys.argv[1:])
