"""Real bounces and complaints (from the shared corpus) applied to dialer records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from example_host_app.extensions import db
from tests.dialer import helpers
from tests.dialer.helpers import CAMPAIGN, csv_text, upload
from ucmail_ext.mail.dsn import Feedback, classify
from ucmail_ext.mail.parse import normalize_message_id
from ucmail_ext.models import BlacklistEntry, Dialer, DialerRecord
from ucmail_ext.services import blacklist
from ucmail_ext.services.dialer.feedback import apply_feedback

CORPUS = Path("/work/shared/corpus")


def _sent_record(
    dialer_id: int, email: str, message_id: str | None = None, campaign: str = CAMPAIGN
) -> DialerRecord:
    report = upload(dialer_id, csv_text([f"{campaign};{email};;;;"]), subject="x")
    record = db.session.query(DialerRecord).filter_by(list_id=report.list_id).one()
    record.state = "sent"
    record.sent_at = datetime.now(UTC)
    # Stored as the dialer stores it: without angle brackets.
    record.message_id = normalize_message_id(message_id or f"ucmail.dialer.{record.id}@ucmail.test")
    db.session.commit()
    return record


def _sample(name: str) -> Feedback:
    feedback = classify((CORPUS / name).read_bytes())
    assert feedback is not None, name
    return feedback


def _campaign_id(dialer_id: int) -> int:
    return db.session.get(Dialer, dialer_id).campaign_id


@pytest.mark.parametrize(
    ("sample", "status"),
    [
        ("mailgun-flanker/bounce/gmail-invalid-address.eml", "5.1.0"),
        ("mailgun-flanker/bounce/office365.eml", "5.1.10"),
        ("mailgun-flanker/bounce/zed.eml", "5.1.1"),
        ("postal-mime/bounce.eml", "5.0.0"),
    ],
)
def test_hard_bounce_matched_by_message_id_rejects_and_blacklists(
    any_ctx, any_dialer_id: int, sample: str, status: str
) -> None:
    feedback = _sample(sample)
    assert feedback.kind == "bounce" and feedback.hard
    record = _sent_record(any_dialer_id, feedback.recipient, feedback.original_message_id)

    assert apply_feedback(_campaign_id(any_dialer_id), feedback) is True
    db.session.commit()

    db.session.refresh(record)
    assert (record.state, record.status_code) == ("rejected", status)
    entry = db.session.query(BlacklistEntry).one()
    assert (entry.address, entry.source) == (feedback.recipient.lower(), "bounce")


def test_bounce_without_message_id_matches_the_latest_sent_record_of_the_campaign(
    ctx, dialer_id: int
) -> None:
    feedback = _sample("mailgun-flanker/bounce/gmail-no-dns.eml")
    assert feedback.original_message_id is None
    older = _sent_record(dialer_id, feedback.recipient)
    newer = _sent_record(dialer_id, feedback.recipient)
    other_campaign = helpers.make_dialer(helpers.make_campaign(25, name="Other"))
    elsewhere = _sent_record(other_campaign, feedback.recipient, campaign="Other")
    elsewhere.sent_at = datetime(2030, 1, 1, tzinfo=UTC)
    db.session.commit()

    assert apply_feedback(_campaign_id(dialer_id), feedback) is True
    db.session.commit()

    states = {r.id: r.state for r in db.session.query(DialerRecord)}
    assert states == {older.id: "sent", newer.id: "rejected", elsewhere.id: "sent"}


def test_soft_failure_rejects_without_blacklisting(ctx, dialer_id: int) -> None:
    feedback = _sample("mailgun-flanker/bounce/delayed.eml")
    assert feedback.action == "failed" and not feedback.hard
    record = _sent_record(dialer_id, feedback.recipient)

    assert apply_feedback(_campaign_id(dialer_id), feedback) is True
    db.session.commit()
    db.session.refresh(record)
    assert (record.state, record.status_code) == ("rejected", "4.0.0")
    assert db.session.query(BlacklistEntry).count() == 0


def test_a_delay_notice_is_consumed_without_changing_the_state(ctx, dialer_id: int) -> None:
    feedback = _sample("mailgun-flanker/bounce/no-mx.eml")
    assert feedback.action == "delayed"
    record = _sent_record(dialer_id, feedback.recipient, feedback.original_message_id)

    assert apply_feedback(_campaign_id(dialer_id), feedback) is True
    db.session.commit()
    db.session.refresh(record)
    assert record.state == "sent" and record.error.startswith("delayed 4.4.4")


@pytest.mark.parametrize(
    "sample",
    ["mailgun-flanker/complaints/aol.eml", "mailgun-flanker/complaints/yahoo.eml"],
)
def test_complaint_marks_spam_and_blacklists_idempotently(
    any_ctx, any_dialer_id: int, sample: str
) -> None:
    feedback = _sample(sample)
    assert feedback.kind == "complaint"
    record = _sent_record(any_dialer_id, feedback.recipient, feedback.original_message_id)

    for _ in range(2):
        assert apply_feedback(_campaign_id(any_dialer_id), feedback) is True
        db.session.commit()

    db.session.refresh(record)
    assert record.state == "spam"
    entry = db.session.query(BlacklistEntry).one()
    assert (entry.address, entry.source) == (feedback.recipient, "spam")


def test_arf_without_message_id_matches_by_recipient(ctx, dialer_id: int) -> None:
    feedback = _sample("postal-mime/arf.eml")
    record = _sent_record(dialer_id, feedback.recipient)

    assert apply_feedback(_campaign_id(dialer_id), feedback) is True
    db.session.commit()
    db.session.refresh(record)
    assert record.state == "spam"
    assert blacklist.is_blacklisted(feedback.recipient)


def test_a_bounce_never_undoes_a_complaint(ctx, dialer_id: int) -> None:
    bounce = _sample("mailgun-flanker/bounce/zed.eml")
    record = _sent_record(dialer_id, bounce.recipient, bounce.original_message_id)
    record.state = "spam"
    db.session.commit()

    assert apply_feedback(_campaign_id(dialer_id), bounce) is True
    db.session.commit()
    db.session.refresh(record)
    assert record.state == "spam" and record.status_code == "5.1.1"


def test_a_report_about_someone_else_is_not_consumed(ctx, dialer_id: int) -> None:
    feedback = _sample("mailgun-flanker/bounce/zed.eml")
    _sent_record(dialer_id, "someone.else@mail.example")

    assert apply_feedback(_campaign_id(dialer_id), feedback) is False
    assert apply_feedback(_campaign_id(dialer_id) + 1, feedback) is False


def test_a_bounce_of_a_forwarded_copy_does_not_blacklist_our_recipient(ctx, dialer_id: int) -> None:
    feedback = _sample("mailgun-flanker/bounce/zed.eml")
    record = _sent_record(dialer_id, "alias@mail.example", feedback.original_message_id)

    assert apply_feedback(_campaign_id(dialer_id), feedback) is True
    db.session.commit()
    db.session.refresh(record)
    assert record.state == "rejected"
    assert db.session.query(BlacklistEntry).count() == 0
