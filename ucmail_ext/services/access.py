"""Which campaigns a user may see: every endpoint asks this, nowhere else decides it."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from ucmail_ext.auth import agent_id_of, has_role
from ucmail_ext.extension import current_agent, get_state
from ucmail_ext.models import Campaign, Member


def visible_campaign_ids(user: Any = None) -> set[int] | None:
    """None means every campaign (admins; supervisors unless scoped to members)."""
    user = current_agent if user is None else user
    if not getattr(user, "is_authenticated", False):
        return set()
    if has_role("admin", user):
        return None
    if has_role("supervisor", user) and current_app.config["UCMAIL_SUPERVISOR_SCOPE"] == "all":
        return None
    session = get_state().session
    rows = session.scalars(
        select(Member.campaign_id)
        .join(Campaign, Campaign.id == Member.campaign_id)
        .where(Member.agent_id == agent_id_of(user))
    )
    return set(rows)


def can_see_campaign(campaign_id: int, user: Any = None) -> bool:
    visible = visible_campaign_ids(user)
    return visible is None or campaign_id in visible


def common_zone(user: Any = None) -> str | None:
    """The time zone of the campaigns ``user`` sees, when they all share one: the zone
    pages fall back to when the host does not say the user's own (issue 15)."""
    visible = visible_campaign_ids(user)
    if visible is not None and not visible:
        return None
    stmt = select(Campaign.timezone).where(Campaign.deleted_at.is_(None)).distinct().limit(2)
    if visible is not None:
        stmt = stmt.where(Campaign.id.in_(sorted(visible)))
    zones = list(get_state().session.scalars(stmt))
    return zones[0] if len(zones) == 1 else None
