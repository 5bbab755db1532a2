"""The email dialer: dialers, their CSV lists, one ledger row per recipient."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ucmail_ext.models.base import Base, utcnow

DIALER_STATES = ("stopped", "running", "paused")
LIST_STATES = ("inactive", "active", "done")
# pending -> sending -> sent / deferred / failed; then, from what comes back:
# rejected (5xx or DSN), spam (ARF), unsubscribed; skipped (blacklisted);
# interrupted (a worker died mid-send: fate unknown, re-sent only on request).
RECORD_STATES = (
    "pending",
    "sending",
    "sent",
    "deferred",
    "failed",
    "interrupted",
    "rejected",
    "spam",
    "unsubscribed",
    "skipped",
)


class Dialer(Base):
    __tablename__ = "ucmail_dialer"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("ucmail_campaign.id", ondelete="RESTRICT"), index=True
    )
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("ucmail_template.id", ondelete="SET NULL")
    )
    seconds_between: Mapped[float] = mapped_column(Float, default=0.0)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    state: Mapped[str] = mapped_column(String(10), default="stopped")
    pause_reason: Mapped[str] = mapped_column(Text, default="")
    error_streak: Mapped[int] = mapped_column(Integer, default=0)
    max_error_streak: Mapped[int] = mapped_column(Integer, default=10)
    event_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    event_title: Mapped[str] = mapped_column(String(255), default="")
    event_organizer_name: Mapped[str] = mapped_column(String(200), default="")
    event_organizer_email: Mapped[str] = mapped_column(String(320), default="")
    # Fixed ISO 8601 values or a ${variable} taken from the list row.
    event_start: Mapped[str] = mapped_column(String(64), default="")
    event_end: Mapped[str] = mapped_column(String(64), default="")
    # Epoch seconds up to which sending slots are taken: workers reserve slots here so
    # the time between messages holds across all of them (a float so that the
    # arithmetic is the same SQL on every backend).
    slot_epoch: Mapped[float] = mapped_column(Float, default=0.0)
    # Seconds per message the relay currently accepts, learnt from its "slow down"
    # answers and shared by all workers (services/dialer/pacing.py); 0 = no throttle,
    # only seconds_between applies. throttled_at: the last such answer.
    pace_interval: Mapped[float] = mapped_column(Float, default=0.0)
    throttled_at: Mapped[datetime | None]
    # Opt-in: links in the HTML part go through a signed redirect that counts clicks.
    click_tracking: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    lists: Mapped[list[DialerList]] = relationship(
        back_populates="dialer", cascade="all, delete-orphan", passive_deletes=True
    )


class DialerList(Base):
    __tablename__ = "ucmail_dialer_list"

    id: Mapped[int] = mapped_column(primary_key=True)
    dialer_id: Mapped[int] = mapped_column(
        ForeignKey("ucmail_dialer.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(998), default="")
    state: Mapped[str] = mapped_column(String(10), default="inactive")
    filename: Mapped[str] = mapped_column(String(255), default="")
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    accepted_rows: Mapped[int] = mapped_column(Integer, default=0)
    refused_rows: Mapped[int] = mapped_column(Integer, default=0)
    # JSON list of {"line": n, "reason": "..."}; capped, the counts above are exact.
    report: Mapped[str] = mapped_column(Text, default="[]")
    uploaded_by: Mapped[str | None] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Last sign of life of a worker sending this list: the beat starts one when stale.
    heartbeat_at: Mapped[datetime | None]

    dialer: Mapped[Dialer] = relationship(back_populates="lists")


class DialerRecord(Base):
    __tablename__ = "ucmail_dialer_record"
    __table_args__ = (
        Index(None, "list_id", "state", "priority", "id"),
        Index(None, "state", "next_attempt_at"),
        Index(None, "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("ucmail_dialer_list.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    email: Mapped[str] = mapped_column(String(320))
    message: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[str] = mapped_column(Text, default="")
    variables: Mapped[str] = mapped_column(Text, default="{}")
    priority: Mapped[int] = mapped_column(Integer, default=9999)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    # Deterministic, so a resent record is recognisably the same message. Stored
    # without angle brackets, like every Message-ID ucmail keeps (mail/parse.py).
    message_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    seen_at: Mapped[datetime | None]
    # First click on a tracked link (a click is also an open: seen_at is set with it).
    clicked_at: Mapped[datetime | None]
    status_code: Mapped[str] = mapped_column(String(16), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    # When the record last changed (its state, mostly): the time a failure is shown
    # with. ``onupdate`` applies to the pipeline's Core UPDATEs too, so no writer sets it.
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)


class DialerLink(Base):
    """A link of a list's HTML, as written in the template (``${var}`` kept): tracked
    links redirect only to this URL, rendered with the clicking record's values."""

    __tablename__ = "ucmail_dialer_link"
    __table_args__ = (UniqueConstraint("list_id", "url_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(
        ForeignKey("ucmail_dialer_list.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    # sha256 of the url: a unique key that fits any index, however long the URL.
    url_hash: Mapped[str] = mapped_column(String(64))
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    last_clicked_at: Mapped[datetime | None]


class DialerDomain(Base):
    """Pacing for one recipient domain of a dialer: the operator's limit and what the
    domain's "try later" answers taught (services/dialer/pacing.py), shared by workers."""

    __tablename__ = "ucmail_dialer_domain"
    __table_args__ = (UniqueConstraint("dialer_id", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dialer_id: Mapped[int] = mapped_column(
        ForeignKey("ucmail_dialer.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(String(255))
    # Messages per minute the operator allows this domain; 0 = none set (learnt only).
    per_minute: Mapped[int] = mapped_column(Integer, default=0)
    slot_epoch: Mapped[float] = mapped_column(Float, default=0.0)
    pace_interval: Mapped[float] = mapped_column(Float, default=0.0)
    throttled_at: Mapped[datetime | None]


class Upload(Base):
    """A dialer attachment; its token is pasted into the CSV's attachments column."""

    __tablename__ = "ucmail_upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    # The campaign of the dialer it was attached on: only that campaign's lists accept
    # the token. None for files attached before uploads had a campaign.
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("ucmail_campaign.id", ondelete="SET NULL"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    storage_key: Mapped[str] = mapped_column(String(80))
    uploaded_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BlacklistEntry(Base):
    __tablename__ = "ucmail_blacklist"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    # manual, spam, unsubscribe, bounce
    source: Mapped[str] = mapped_column(String(12), default="manual")
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
