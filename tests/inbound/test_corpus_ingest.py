"""Every message of the shared corpus goes through Dovecot into a readable interaction."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from example_host_app.extensions import db
from tests.inbound.helpers import connect, fill, make_campaign, poll
from ucmail_ext.models import Attachment, Interaction, Message

pytestmark = pytest.mark.integration

CORPUS = Path(
    os.environ.get("UCMAIL_CORPUS", Path(__file__).resolve().parents[3] / "shared" / "corpus")
)
NOT_MESSAGES = {"SOURCES.md", "README.md"}


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in NOT_MESSAGES)


def test_every_corpus_message_becomes_a_readable_interaction(any_app, dovecot, imap_account):
    files = corpus_files()
    assert len(files) > 100, f"the mail corpus is missing at {CORPUS}"
    campaign_id = make_campaign(any_app, imap_account)
    connect(any_app, campaign_id)
    fill(dovecot, imap_account, (path.read_bytes() for path in files))

    result = poll(any_app, campaign_id)

    assert result.status == "ok"
    # Files that are byte-identical, or consumed as a bounce/complaint report, are not
    # new interactions; everything else is.
    assert result.imported + result.duplicates + result.feedback + result.own == len(files)
    with any_app.app_context():
        messages = db.session.scalars(
            select(Message).where(Message.direction == "in").order_by(Message.uid)
        ).all()
        assert len(messages) == result.imported
        with_attachments = set(db.session.scalars(select(Attachment.message_id)))
        unreadable = []
        for message in messages:
            interaction = db.session.get(Interaction, message.interaction_id)
            assert interaction.state == "queued"
            assert isinstance(message.subject, str) and isinstance(message.from_addr, str)
            assert interaction.subject == message.subject
            assert interaction.customer_email == message.from_addr
            readable = message.text.strip() or message.html.strip()
            # A few corpus files really are empty (a multipart without parts, a body
            # cut off): then the defects say so to the agent.
            explained = message.flagged or message.defects
            if not (readable or message.id in with_attachments or explained):
                unreadable.append((message.uid, message.subject, message.defects))
        assert unreadable == [], "\n".join(map(repr, unreadable))
