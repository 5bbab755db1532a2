"""Click tracking (issue 13, point 3): links in the HTML part go through a signed
redirect that only ever leads to the link the template wrote; a click marks the
record clicked (and seen) once and counts every click per link."""

from __future__ import annotations

import html
import re

from flask import Flask

from example_host_app.extensions import db
from tests.dialer.helpers import CAMPAIGN, csv_text, parse, upload
from tests.fixtures.servers import SmtpSink
from ucmail_ext.crypto import make_token
from ucmail_ext.models import Dialer, DialerLink, DialerRecord, Template
from ucmail_ext.services.dialer import clicks
from ucmail_ext.services.dialer import dialers as dialer_service

PREFIX = "http://helpdesk.test"
BODY_HTML = (
    "<html><body><p>Hello ${name}</p>"
    '<a href="https://shop.example/sale?code=${code}&amp;from=mail">Sale</a> '
    "<a href='https://shop.example/about'>About</a> "
    '<a href="mailto:help@shop.example">Write to us</a> '
    '<a href="${unsubscribe_url}">Unsubscribe</a> '
    '<a href="#top">Top</a>'
    "</body></html>"
)


def _tracking_dialer(dialer_id: int, *, on: bool = True) -> None:
    template = Template(name="Sale", subject="Sale", body_text="", body_html=BODY_HTML)
    db.session.add(template)
    db.session.flush()
    dialer = db.session.get(Dialer, dialer_id)
    dialer.template_id = template.id
    dialer.click_tracking = on
    db.session.commit()


def _send(dialer_id: int, sink: SmtpSink, count: int = 1) -> int:
    rows = [f'{CAMPAIGN};c{n}@mail.example;;;"name":"C{n}","code":"X{n}";' for n in range(count)]
    report = upload(dialer_id, csv_text(rows), subject="Sale")
    result = dialer_service.play_list(report.list_id, None, "1")
    assert result.ok, result.message
    return report.list_id


def _hrefs(raw: bytes) -> tuple[list[str], str]:
    message = parse(raw)
    document = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    hrefs = [html.unescape(h) for h in re.findall(r"""<a\b[^>]*href=["']([^"']*)""", document)]
    return hrefs, text


def _record(list_id: int, email: str) -> DialerRecord:
    db.session.expire_all()
    return db.session.query(DialerRecord).filter_by(list_id=list_id, email=email).one()


def test_links_go_through_a_signed_redirect_to_the_original_url(
    any_app: Flask, any_dialer_id: int, sink: SmtpSink
) -> None:
    _tracking_dialer(any_dialer_id)
    _send(any_dialer_id, sink)
    hrefs, text = _hrefs(sink.messages[-1].raw)

    tracked = [h for h in hrefs if "/tracking/c/" in h]
    assert len(tracked) == 2
    untouched = [h for h in hrefs if "/tracking/c/" not in h]
    assert untouched[0] == "mailto:help@shop.example"
    assert "/tracking/u/" in untouched[1]  # the unsubscribe link, as it was
    assert untouched[2] == "#top"
    # Only the HTML part is rewritten.
    assert "Hello C0" in text and "/tracking/c/" not in text

    client = any_app.test_client()
    sale = client.get(tracked[0].removeprefix(PREFIX))
    assert sale.status_code == 302
    assert sale.headers["Location"] == "https://shop.example/sale?code=X0&from=mail"
    assert "no-store" in sale.headers["Cache-Control"]
    about = client.get(tracked[1].removeprefix(PREFIX))
    assert about.headers["Location"] == "https://shop.example/about"


def test_a_click_marks_the_record_once_and_counts_every_click_per_link(
    any_app: Flask, any_dialer_id: int, sink: SmtpSink
) -> None:
    _tracking_dialer(any_dialer_id)
    list_id = _send(any_dialer_id, sink, count=2)
    first_mail = next(m for m in sink.messages if "c0@mail.example" in m.rcpt_tos)
    tracked = [h for h in _hrefs(first_mail.raw)[0] if "/tracking/c/" in h]
    client = any_app.test_client()
    assert _record(list_id, "c0@mail.example").clicked_at is None

    client.get(tracked[0].removeprefix(PREFIX))
    record = _record(list_id, "c0@mail.example")
    clicked, seen = record.clicked_at, record.seen_at
    assert clicked is not None
    assert seen is not None  # a click is an open too

    client.get(tracked[0].removeprefix(PREFIX))
    client.get(tracked[1].removeprefix(PREFIX))
    again = _record(list_id, "c0@mail.example")
    assert (again.clicked_at, again.seen_at) == (clicked, seen)
    assert _record(list_id, "c1@mail.example").clicked_at is None

    counts = {
        link.url: link.clicks for link in db.session.query(DialerLink).filter_by(list_id=list_id)
    }
    assert counts == {
        "https://shop.example/sale?code=${code}&from=mail": 2,
        "https://shop.example/about": 1,
    }
    top = clicks.top_links(list_id)
    assert [(t.url, t.clicks) for t in top] == [
        ("https://shop.example/sale?code=${code}&from=mail", 2),
        ("https://shop.example/about", 1),
    ]


def test_tampered_or_foreign_click_urls_are_refused_without_redirect(
    any_app: Flask, any_dialer_id: int, sink: SmtpSink
) -> None:
    _tracking_dialer(any_dialer_id)
    list_id = _send(any_dialer_id, sink)
    other_list = _send(any_dialer_id, sink)
    tracked = [h for h in _hrefs(sink.messages[0].raw)[0] if "/tracking/c/" in h]
    path = tracked[0].removeprefix(PREFIX)
    base, link_id, token = path.rsplit("/", 2)
    record = _record(list_id, "c0@mail.example")
    foreign_link = (
        db.session.query(DialerLink).filter_by(list_id=other_list).order_by(DialerLink.id).first()
    )
    pixel_token = make_token("pixel", record.id)
    bad = [
        f"{base}/{link_id}/{token[:-2]}{'AA' if not token.endswith('AA') else 'BB'}",
        f"{base}/{link_id}/{pixel_token}",  # signed, but for another purpose
        f"{base}/{foreign_link.id}/{token}",  # another list's link
        f"{base}/999999/{token}",
        f"{base}/{link_id}/{make_token('click', 'https://evil.example/')}",
        f"{base}/{link_id}/garbage",
    ]
    client = any_app.test_client()
    for url in bad:
        response = client.get(url)
        assert response.status_code == 400, url
        assert "Location" not in response.headers, url
        assert "evil.example" not in response.get_data(as_text=True)
    assert _record(list_id, "c0@mail.example").clicked_at is None
    assert sum(link.clicks for link in db.session.query(DialerLink)) == 0


def test_without_click_tracking_links_are_left_as_written(
    any_dialer_id: int, sink: SmtpSink
) -> None:
    _tracking_dialer(any_dialer_id, on=False)
    _send(any_dialer_id, sink)
    hrefs, _ = _hrefs(sink.messages[-1].raw)
    assert hrefs[0] == "https://shop.example/sale?code=X0&from=mail"
    assert not any("/tracking/c/" in h for h in hrefs)


def test_the_dialer_form_turns_click_tracking_on(app: Flask, dialer_id: int) -> None:
    dialer = db.session.get(Dialer, dialer_id)
    data = dialer_service.dialer_values(dialer)
    data.update(campaign_id=str(dialer.campaign_id), click_tracking=True)
    assert dialer_service.save_dialer(data, None, "1", dialer_id).ok
    db.session.expire_all()
    assert db.session.get(Dialer, dialer_id).click_tracking is True


def test_only_literal_http_links_are_trackable() -> None:
    found = clicks.links_in(BODY_HTML + '<a href="javascript:alert(1)">x</a><a href="ftp://x/y">')
    assert found == [
        "https://shop.example/sale?code=${code}&from=mail",
        "https://shop.example/about",
    ]


def test_the_fast_token_maker_signs_exactly_like_make_token(app: Flask) -> None:
    """token_maker's shortcut (key derived once, small ids dumped directly) makes the
    very tokens itsdangerous makes, around the sizes where zlib starts to pay."""
    from ucmail_ext.crypto import read_token, token_maker

    with app.app_context():
        for purpose in ("pixel", "unsubscribe", "click"):
            make = token_maker(purpose)
            payloads = [0, 1, 4242, 999_999_999, 1_000_000_000, 1111111111, 10**12, {"m": 7}]
            for payload in payloads:
                assert make(payload) == make_token(purpose, payload), (purpose, payload)
                assert read_token(purpose, make(payload)) == payload
