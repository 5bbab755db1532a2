"""Agent presence, supervisor chat and the audit trail of supervisor actions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ucmail_ext.models.base import Base, utcnow

AGENT_STATUSES = ("offline", "free", "busy", "break", "paused")


class AgentState(Base):
    """Keyed by the host user id (a string): ucmail keeps no foreign key into host tables."""

    __tablename__ = "ucmail_agent_state"

    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(10), default="offline")
    break_reason: Mapped[str] = mapped_column(String(120), default="")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_by: Mapped[str | None] = mapped_column(String(64))
    since: Mapped[datetime] = mapped_column(default=utcnow)
    last_heartbeat_at: Mapped[datetime | None]
    last_assigned_at: Mapped[datetime | None]
    active_count: Mapped[int] = mapped_column(Integer, default=0)
    # A supervisor's "log out" bumps this; the portal compares it with the session's.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    screen: Mapped[str] = mapped_column(Text, default="")
    screen_updated_at: Mapped[datetime | None]


class SupervisorMessage(Base):
    __tablename__ = "ucmail_supervisor_message"
    __table_args__ = (Index(None, "agent_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    supervisor_id: Mapped[str] = mapped_column(String(64))
    # "to_agent" or "to_supervisor"
    direction: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class AuditEntry(Base):
    __tablename__ = "ucmail_audit"
    __table_args__ = (Index(None, "created_at"), Index(None, "target_agent_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    target_agent_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
