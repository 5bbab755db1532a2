"""Named, expiring locks kept in the database when no Redis is configured."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ucmail_ext.models.base import Base


class LockLease(Base):
    """One row per held lock; ``services/locks.py`` explains why this is safe."""

    __tablename__ = "ucmail_lock"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Random per holder: only the holder extends or releases its own lease.
    token: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
