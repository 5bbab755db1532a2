"""A small read of ucmail's state: what a worker or an operator checks first."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign, Interaction


def database_summary() -> dict[str, object]:
    session = get_state().session
    return {
        "app": current_app.name,
        "campaigns": session.scalar(select(func.count(Campaign.id))) or 0,
        "interactions": session.scalar(select(func.count(Interaction.id))) or 0,
    }
