"""Factories for dialer tests: a campaign pointing at a test SMTP sink, a dialer, a list."""

from __future__ import annotations

import email
import io
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.policy import default as default_policy
from typing import Any

from example_host_app.extensions import db
from ucmail_ext.mail.parse import normalize_message_id
from ucmail_ext.models import Campaign, Dialer, DialerRecord
from ucmail_ext.services.dialer import lists as dialer_lists
from ucmail_ext.services.dialer.lists import UploadReport

CAMPAIGN = "Newsletter"
SENDER = "news@shop.example"


def make_campaign(smtp_port: int, *, name: str = CAMPAIGN, **extra: Any) -> int:
    values: dict[str, Any] = {
        "name": name,
        "email_address": SENDER,
        "from_name": "Shop News",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_security": "none",
        "receive_emails": False,
        "enabled": True,
    }
    values.update(extra)
    campaign = Campaign(**values)
    db.session.add(campaign)
    db.session.commit()
    return campaign.id


def make_dialer(campaign_id: int, **extra: Any) -> int:
    values: dict[str, Any] = {
        "name": "Spring sale",
        "campaign_id": campaign_id,
        "seconds_between": 0.0,
        "timezone": "Europe/Madrid",
    }
    values.update(extra)
    dialer = Dialer(**values)
    db.session.add(dialer)
    db.session.commit()
    return dialer.id


def csv_text(rows: list[str], header: bool = True) -> bytes:
    lines = (["campaign;email;message;attachments;variables;priority"] if header else []) + rows
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def simple_rows(count: int, *, start: int = 0, campaign: str = CAMPAIGN) -> list[str]:
    return [
        f'{campaign};customer{n}@mail.example;;;"name":"Customer {n}","code":"C{n}";'
        for n in range(start, start + count)
    ]


def upload(dialer_id: int, data: bytes, subject: str = "Hello ${name}") -> UploadReport:
    return dialer_lists.upload_list(
        dialer_id, stream=io.BytesIO(data), filename="list.csv", subject=subject, by="1"
    )


def states(list_id: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in db.session.query(DialerRecord).filter_by(list_id=list_id):
        counts[record.state] = counts.get(record.state, 0) + 1
    return counts


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def parse_quick(raw: bytes) -> Message:
    """compat32 leaves headers as text: several times faster for checking many messages."""
    return email.message_from_bytes(raw, policy=compat32)


def message_ids(raws: list[bytes]) -> list[str]:
    """The Message-IDs received, in the form ucmail stores them (no angle brackets)."""
    parser = BytesHeaderParser(policy=compat32)
    return [normalize_message_id(str(parser.parsebytes(raw)["Message-ID"])) for raw in raws]
