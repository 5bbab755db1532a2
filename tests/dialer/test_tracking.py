"""The signed links in dialer mail: open pixel, one-click unsubscribe, and rating."""

from __future__ import annotations

import re

from example_host_app.extensions import db
from tests.dialer import helpers
from tests.dialer.helpers import csv_text, parse, upload
from tests.fixtures.servers import SmtpSink
from ucmail_ext.crypto import make_token
from ucmail_ext.models import BlacklistEntry, DialerRecord, Interaction, Message, Rating
from ucmail_ext.services.dialer import dialers as dialer_service

PREFIX = "http://helpdesk.test"


def _send_one(dialer_id: int, sink: SmtpSink) -> tuple[DialerRecord, str, str]:
    report = upload(dialer_id, csv_text(helpers.simple_rows(1)), subject="x")
    assert dialer_service.play_list(report.list_id, None, "1").ok
    message = parse(sink.messages[-1].raw)
    html = message.get_body(("html",)).get_content()
    pixel = re.search(r'src="([^"]+\.gif)"', html).group(1)
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    record = db.session.query(DialerRecord).filter_by(list_id=report.list_id).one()
    return record, pixel.removeprefix(PREFIX), unsubscribe.removeprefix(PREFIX)


def _seen(record_id: int):
    db.session.expire_all()
    return db.session.get(DialerRecord, record_id).seen_at


def test_pixel_marks_the_record_seen_on_first_open_only(app, dialer_id: int, sink) -> None:
    record, pixel, _ = _send_one(dialer_id, sink)
    client = app.test_client()

    response = client.get(pixel)
    assert response.status_code == 200 and response.mimetype == "image/gif"
    assert response.data.startswith(b"GIF89a")
    assert "no-store" in response.headers["Cache-Control"]
    first = _seen(record.id)
    assert first is not None
    client.get(pixel)
    assert _seen(record.id) == first


def test_a_tampered_pixel_still_gets_its_gif_but_marks_nothing(app, dialer_id: int, sink) -> None:
    record, pixel, unsubscribe = _send_one(dialer_id, sink)
    client = app.test_client()
    tampered = pixel.replace(".gif", "x.gif")
    other_purpose = f"/ucmail/tracking/p/{unsubscribe.rsplit('/', 1)[1]}.gif"
    forged = f"/ucmail/tracking/p/{make_token('rating', record.id)}.gif"

    for url in (tampered, other_purpose, forged, "/ucmail/tracking/p/garbage.gif"):
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "image/gif", url
    assert _seen(record.id) is None


def test_unsubscribe_asks_first_then_one_click_post_blacklists(app, dialer_id: int, sink) -> None:
    record, _, unsubscribe = _send_one(dialer_id, sink)
    client = app.test_client()

    page = client.get(unsubscribe)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "c***@mail.example" in text and "customer0@" not in text
    assert db.session.query(BlacklistEntry).count() == 0

    # RFC 8058: the mail provider POSTs this body, with no cookie and no CSRF token.
    done = client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    entry = db.session.query(BlacklistEntry).one()
    assert (entry.address, entry.source) == ("customer0@mail.example", "unsubscribe")
    db.session.expire_all()
    assert db.session.get(DialerRecord, record.id).state == "unsubscribed"

    again = client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200
    assert db.session.query(BlacklistEntry).count() == 1
    assert "already unsubscribed" in client.get(unsubscribe).get_data(as_text=True)


def test_tampered_or_foreign_unsubscribe_links_are_refused(app, dialer_id: int, sink) -> None:
    record, pixel, unsubscribe = _send_one(dialer_id, sink)
    client = app.test_client()
    pixel_token = pixel.rsplit("/", 1)[1].removesuffix(".gif")
    bad_urls = [
        unsubscribe[:-2] + ("AA" if not unsubscribe.endswith("AA") else "BB"),
        f"/ucmail/tracking/u/{pixel_token}",
        f"/ucmail/tracking/u/{make_token('unsubscribe', record.id + 1000)}",
    ]
    for url in bad_urls:
        assert client.get(url).status_code == 404, url
        response = client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 404, url
    assert client.post(unsubscribe, data={}).status_code == 400
    assert db.session.query(BlacklistEntry).count() == 0


def test_rating_link_records_the_score_and_thanks(app, ctx) -> None:
    campaign_id = helpers.make_campaign(25, rating_thanks="Thanks for rating us!")
    interaction = Interaction(campaign_id=campaign_id, customer_email="c@mail.example")
    db.session.add(interaction)
    db.session.flush()
    message = Message(interaction_id=interaction.id, campaign_id=campaign_id, direction="out")
    db.session.add(message)
    db.session.commit()
    token = make_token("rating", {"m": message.id})
    client = app.test_client()

    response = client.get(f"/ucmail/tracking/rate/{token}/4")
    assert response.status_code == 200
    assert "Thanks for rating us!" in response.get_data(as_text=True)
    assert db.session.query(Rating).one().score == 4

    refused = client.get(f"/ucmail/tracking/rate/{token}x/4")
    assert refused.status_code == 400
    assert "not valid" in refused.get_data(as_text=True)


def test_token_maker_signs_exactly_like_make_token(ctx) -> None:
    from ucmail_ext.crypto import read_token, token_maker

    for purpose in ("pixel", "unsubscribe"):
        make = token_maker(purpose)
        for payload in (1, 4242, {"m": 7}):
            assert make(payload) == make_token(purpose, payload)
            assert read_token(purpose, make(payload)) == payload
