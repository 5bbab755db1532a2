"""Interactions (one conversation with a customer) and the messages in them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ucmail_ext.models.base import Base, utcnow

INTERACTION_STATES = ("queued", "assigned", "closed")
ORIGINS = ("inbound", "outbound", "dialer", "history")
DIRECTIONS = ("in", "out")
# Outgoing messages are stored before they are sent, so nothing typed is lost.
MESSAGE_STATUSES = ("received", "queued", "sending", "sent", "deferred", "failed")


class Interaction(Base):
    __tablename__ = "ucmail_interaction"
    __table_args__ = (
        Index(None, "campaign_id", "state", "arrived_at"),
        Index(None, "agent_id", "state"),
        Index(None, "arrived_at"),
        Index(None, "last_message_at"),
        Index(None, "customer_email"),
        # Supervision (closed, arrived or first answered today per campaign) and
        # recordings (newest first per campaign or agent) stay index scans on a big
        # archive; arrived/first-answered together let PostgreSQL OR two index scans.
        Index(None, "campaign_id", "closed_at"),
        Index(None, "campaign_id", "arrived_at"),
        Index(None, "campaign_id", "first_response_at"),
        Index(None, "agent_id", "arrived_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("ucmail_campaign.id", ondelete="RESTRICT"))
    customer_email: Mapped[str] = mapped_column(String(320), default="")
    customer_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(998), default="")
    state: Mapped[str] = mapped_column(String(10), default="queued")
    origin: Mapped[str] = mapped_column(String(10), default="inbound")
    agent_id: Mapped[str | None] = mapped_column(String(64))
    dialer_record_id: Mapped[int | None] = mapped_column(
        ForeignKey("ucmail_dialer_record.id", ondelete="SET NULL"), index=True
    )
    arrived_at: Mapped[datetime] = mapped_column(default=utcnow)
    assigned_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    reopened_count: Mapped[int] = mapped_column(Integer, default=0)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    # A message that could not be parsed still reaches an agent, marked.
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    # The close reason the agent chose from the campaign's list (issue 12), "" if none.
    disposition: Mapped[str] = mapped_column(String(80), default="")
    # When the holding agent last opened it: a customer message after this is "new".
    agent_seen_at: Mapped[datetime | None]

    campaign = relationship("Campaign")
    messages: Mapped[list[Message]] = relationship(
        back_populates="interaction",
        order_by="Message.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class Message(Base):
    __tablename__ = "ucmail_message"
    __table_args__ = (
        # The mailbox identity of an imported message: exactly once per server slot.
        UniqueConstraint("campaign_id", "folder", "uidvalidity", "uid"),
        # Fallback identity: Message-ID + sha256(raw); NULL for our outgoing mail.
        UniqueConstraint("campaign_id", "dedupe_key"),
        Index(None, "message_id"),
        Index(None, "interaction_id", "id"),
        Index(None, "campaign_id", "created_at"),
        Index(None, "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("ucmail_interaction.id", ondelete="CASCADE")
    )
    campaign_id: Mapped[int] = mapped_column(ForeignKey("ucmail_campaign.id", ondelete="RESTRICT"))
    direction: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10), default="received")
    message_id: Mapped[str] = mapped_column(String(998), default="")
    in_reply_to: Mapped[str] = mapped_column(String(998), default="")
    references: Mapped[str] = mapped_column(Text, default="")
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    to_addrs: Mapped[str] = mapped_column(Text, default="")
    cc_addrs: Mapped[str] = mapped_column(Text, default="")
    bcc_addrs: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(String(998), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str] = mapped_column(Text, default="")
    date: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    agent_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12), default="reply")
    sha256: Mapped[str] = mapped_column(String(64), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    dedupe_key: Mapped[str | None] = mapped_column(String(64))
    folder: Mapped[str | None] = mapped_column(String(255))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    defects: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(Text, default="")

    interaction: Mapped[Interaction] = relationship(back_populates="messages")
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message",
        order_by="Attachment.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    raw: Mapped[MessageRaw | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, uselist=False
    )


class MessageRaw(Base):
    """The RFC 822 bytes, kept apart so message lists never drag them along."""

    __tablename__ = "ucmail_message_raw"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("ucmail_message.id", ondelete="CASCADE"), primary_key=True
    )
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class Attachment(Base):
    __tablename__ = "ucmail_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("ucmail_message.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    original_filename: Mapped[str] = mapped_column(String(1000), default="")
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    content_id: Mapped[str] = mapped_column(String(255), default="")
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    # Generated name in UCMAIL_ATTACHMENT_DIR; the sender's name never touches the disk.
    storage_key: Mapped[str | None] = mapped_column(String(80))
    refused_reason: Mapped[str] = mapped_column(String(255), default="")

    message: Mapped[Message] = relationship(back_populates="attachments")


class MailboxCursor(Base):
    __tablename__ = "ucmail_mailbox_cursor"
    __table_args__ = (UniqueConstraint("campaign_id", "folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("ucmail_campaign.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(255), default="INBOX")
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    # Mail already in a newly connected mailbox is history: imported, never auto-replied.
    history_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AutoReplyLog(Base):
    """One row per auto-reply sent: the per-sender cap of RFC 3834 §2 reads it."""

    __tablename__ = "ucmail_autoreply_log"
    __table_args__ = (Index(None, "campaign_id", "address", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("ucmail_campaign.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rating(Base):
    __tablename__ = "ucmail_rating"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("ucmail_message.id", ondelete="CASCADE"), unique=True
    )
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("ucmail_interaction.id", ondelete="CASCADE"), index=True
    )
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("ucmail_campaign.id", ondelete="RESTRICT"), index=True
    )
    agent_id: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
