"""Templates: signatures, auto-replies, dialer bodies and canned answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ucmail_ext.models.base import Base, utcnow


class Template(Base):
    __tablename__ = "ucmail_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    # None: offered in every campaign (spec: "Templates").
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("ucmail_campaign.id", ondelete="SET NULL", use_alter=True), index=True
    )
    subject: Mapped[str] = mapped_column(String(998), default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
