"""What agents keep beside the mail: internal notes and moves, drafts, who is looking.

Notes live in their own table, not among the messages, so no path that builds mail
for a customer (send, auto-reply, quoting, forward, exports, rating) can pick one up.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ucmail_ext.models.base import Base, utcnow

# "note": written by an agent; the others are lines the desk writes when a
# conversation moves or closes.
NOTE_KINDS = ("note", "transfer", "requeue", "disposition")


class Note(Base):
    __tablename__ = "ucmail_note"
    __table_args__ = (Index(None, "interaction_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("ucmail_interaction.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(12), default="note")
    author_id: Mapped[str | None] = mapped_column(String(64))
    author_name: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Draft(Base):
    """One agent's unsent answer in one interaction, saved as they type."""

    __tablename__ = "ucmail_draft"
    __table_args__ = (UniqueConstraint("interaction_id", "agent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("ucmail_interaction.id", ondelete="CASCADE")
    )
    agent_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12), default="reply")
    to_addrs: Mapped[str] = mapped_column(Text, default="")
    cc_addrs: Mapped[str] = mapped_column(Text, default="")
    bcc_addrs: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(String(998), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    # The formatting editor's HTML; sanitized again when it is restored or sent.
    body_html: Mapped[str] = mapped_column(Text, default="")
    source_message_id: Mapped[int | None] = mapped_column(Integer)
    # The newest message the agent had seen when they started: newer ones are a collision.
    seen_message_id: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Viewer(Base):
    """Who has a conversation open (and is typing), when Redis is not configured."""

    __tablename__ = "ucmail_viewer"

    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("ucmail_interaction.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    typing_until: Mapped[datetime | None]
    expires_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
