"""Campaigns on the test Dovecot, messages to put in it, and what the database holds."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from example_host_app.extensions import db
from tests.fixtures.servers import DovecotServer, ImapAccount
from ucmail_ext.crypto import encrypt_secret
from ucmail_ext.models import Campaign, Interaction, Message, utcnow
from ucmail_ext.services.inbound import ingest


def make_campaign(
    app: Flask,
    account: ImapAccount,
    name: str = "Support",
    smtp_port: int = 2525,
    **fields: Any,
) -> int:
    with app.app_context():
        campaign = Campaign(
            name=name,
            email_address=f"{account.user}@helpdesk.test",
            username=account.user,
            password_encrypted=encrypt_secret(account.password),
            imap_host=account.host,
            imap_port=account.port,
            imap_security="none",
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_security="none",
            receive_emails=True,
            enabled=True,
        )
        for key, value in fields.items():
            setattr(campaign, key, value)
        db.session.add(campaign)
        db.session.commit()
        return campaign.id


def poll(app: Flask, campaign_id: int) -> ingest.PollResult:
    with app.app_context():
        return ingest.poll_mailbox(campaign_id)


def connect(app: Flask, campaign_id: int) -> ingest.PollResult:
    """The first poll of an empty mailbox: what arrives afterwards is live mail."""
    result = poll(app, campaign_id)
    assert result.status == "ok", result
    return result


def mail(
    n: int = 1,
    *,
    sender: str = "customer@example.com",
    to: str = "support@helpdesk.test",
    subject: str | None = None,
    body: str | None = None,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {n} <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject if subject is not None else f"Question number {n}"
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id or f"<q{n}.{secrets.token_hex(6)}@example.com>"
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body if body is not None else f"Hello, this is question {n}.\n")
    return bytes(msg)


def fill(dovecot: DovecotServer, account: ImapAccount, messages: Iterable[bytes]) -> int:
    return dovecot.bulk_fill(account.user, messages)


def count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def interactions(app: Flask, campaign_id: int) -> list[Interaction]:
    with app.app_context():
        rows = db.session.scalars(
            select(Interaction)
            .where(Interaction.campaign_id == campaign_id)
            .order_by(Interaction.id)
        ).all()
        db.session.expunge_all()
        return list(rows)


def inbound_messages(app: Flask, campaign_id: int) -> list[Message]:
    with app.app_context():
        rows = db.session.scalars(
            select(Message)
            .where(Message.campaign_id == campaign_id, Message.direction == "in")
            .order_by(Message.id)
        ).all()
        db.session.expunge_all()
        return list(rows)
