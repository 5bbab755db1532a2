"""Campaigns (a mailbox plus how its mail is handled), schedules and members."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ucmail_ext.models.base import Base, utcnow

STRATEGIES = ("linear", "rrmemory", "leastrecent", "fewestcalls", "random")
SECURITY_MODES = ("starttls", "ssl", "none")
AUTH_METHODS = ("password", "oauth2")


class Campaign(Base):
    __tablename__ = "ucmail_campaign"
    # A live name is unique; deleted campaigns keep theirs so their archive stays
    # searchable under it (a partial index: PostgreSQL and SQLite both have them).
    __table_args__ = (
        Index(
            "uq_ucmail_campaign_live_name",
            "name",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    service_level_seconds: Mapped[int] = mapped_column(Integer, default=3600)
    strategy: Mapped[str] = mapped_column(String(20), default="rrmemory")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Language of what the campaign's customers read: rating, unsubscribe, auto-reply.
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    from_name: Mapped[str] = mapped_column(String(200), default="")
    email_address: Mapped[str] = mapped_column(String(320))
    username: Mapped[str] = mapped_column(String(320), default="")
    password_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    smtp_host: Mapped[str] = mapped_column(String(255), default="")
    smtp_port: Mapped[int] = mapped_column(Integer, default=587)
    smtp_security: Mapped[str] = mapped_column(String(10), default="starttls")
    smtp_connections: Mapped[int] = mapped_column(Integer, default=1)
    imap_host: Mapped[str] = mapped_column(String(255), default="")
    imap_port: Mapped[int] = mapped_column(Integer, default=993)
    imap_security: Mapped[str] = mapped_column(String(10), default="ssl")
    imap_folder: Mapped[str] = mapped_column(String(255), default="INBOX")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    receive_emails: Mapped[bool] = mapped_column(Boolean, default=True)
    max_per_agent: Mapped[int] = mapped_column(Integer, default=3)
    max_in_queue: Mapped[int] = mapped_column(Integer, default=0)
    signature_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("ucmail_template.id", ondelete="SET NULL")
    )
    autoreply_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    autoreply_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("ucmail_template.id", ondelete="SET NULL")
    )
    rating_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    rating_motivation: Mapped[str] = mapped_column(String(255), default="")
    rating_thanks: Mapped[str] = mapped_column(Text, default="")
    threshold_warning_seconds: Mapped[int] = mapped_column(Integer, default=0)
    threshold_critical_seconds: Mapped[int] = mapped_column(Integer, default=0)
    smtp_status: Mapped[str] = mapped_column(String(10), default="unknown")
    smtp_status_message: Mapped[str] = mapped_column(Text, default="")
    imap_status: Mapped[str] = mapped_column(String(10), default="unknown")
    imap_status_message: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[datetime | None]
    last_poll_at: Mapped[datetime | None]
    last_poll_error: Mapped[str] = mapped_column(Text, default="")
    poll_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_at: Mapped[datetime | None]
    rr_last_agent_id: Mapped[str | None] = mapped_column(String(64))
    # OAuth2 login (issue 11): "password" or "oauth2"; tokens encrypted like passwords.
    auth_method: Mapped[str] = mapped_column(String(10), default="password")
    oauth_provider: Mapped[str] = mapped_column(String(40), default="")
    oauth_account: Mapped[str] = mapped_column(String(320), default="")
    oauth_refresh_token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    oauth_access_token_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    oauth_expires_at: Mapped[datetime | None]
    # Set by invalid_grant: nothing contacts the provider again until a reconnect.
    oauth_error: Mapped[str] = mapped_column(Text, default="")
    oauth_failures: Mapped[int] = mapped_column(Integer, default=0)
    # The last temporary refresh failure (token endpoint down or slow), for the screens.
    oauth_last_failure: Mapped[str] = mapped_column(Text, default="")
    oauth_retry_at: Mapped[datetime | None]
    # DKIM signing (issue 13): keys encrypted like passwords; the Ed25519 one is a
    # second signature under the selector "<dkim_selector>-ed".
    dkim_domain: Mapped[str] = mapped_column(String(253), default="")
    dkim_selector: Mapped[str] = mapped_column(String(63), default="")
    dkim_private_key_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    dkim_ed25519_key_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    dkim_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Close reasons, one per line (issue 12); with the flag, closing needs one of them.
    dispositions: Mapped[str] = mapped_column(Text, default="")
    disposition_required: Mapped[bool] = mapped_column(Boolean, default=False)
    # An agent offline longer than this gives their interactions back to the queue; 0: never.
    offline_requeue_minutes: Mapped[int] = mapped_column(Integer, default=0)
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    schedules: Mapped[list[Schedule]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", passive_deletes=True
    )
    members: Mapped[list[Member]] = relationship(
        back_populates="campaign",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Member.position",
    )

    def __repr__(self) -> str:
        return f"<Campaign {self.id} {self.name!r}>"


class Schedule(Base):
    """A weekly time window; a campaign or dialer with none is always open."""

    __tablename__ = "ucmail_schedule"
    __table_args__ = (Index(None, "campaign_id"), Index(None, "dialer_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("ucmail_campaign.id", ondelete="CASCADE")
    )
    dialer_id: Mapped[int | None] = mapped_column(
        ForeignKey("ucmail_dialer.id", ondelete="CASCADE")
    )
    # Bit 0 is Monday, as datetime.weekday() counts.
    days_mask: Mapped[int] = mapped_column(Integer, default=0b0011111)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)

    campaign: Mapped[Campaign | None] = relationship(back_populates="schedules")


class Member(Base):
    __tablename__ = "ucmail_member"
    __table_args__ = (UniqueConstraint("campaign_id", "agent_id"), Index(None, "agent_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("ucmail_campaign.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="members")
