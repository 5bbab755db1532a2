"""Campaign members: which host agents receive a campaign's interactions.

Who is an agent is the host's to say (its ``user_lookup`` and ``role_checker``
hooks); ucmail stores only the user id as a string. Adding and removing work on
many campaigns and many agents at once, as the spec's Members screen does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext
from ucmail_ext.models import Campaign, Member
from ucmail_ext.services import audit

log = logging.getLogger(__name__)

_MAX_IDS = 1000


@dataclass(frozen=True)
class AgentInfo:
    id: str
    name: str
    email: str = ""


@dataclass(frozen=True)
class MemberRow:
    campaign_id: int
    campaign_name: str
    agent_id: str
    agent_name: str


@dataclass
class MembersResult:
    """How many memberships changed; ``errors`` maps field name to message."""

    changed: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _session() -> Any:
    return get_state().session


def display_name(user: Any) -> str:
    """What ucmail calls a host user: its ``name``, else ``display_name``, else ``str(user)``."""
    return str(getattr(user, "name", None) or getattr(user, "display_name", None) or user)


def user_name(agent_id: str, fallback: str = "") -> str:
    """The host's name for a user id (the ``user_lookup`` hook), else ``fallback`` or the id."""
    try:
        user = get_state().hooks["user_lookup"](agent_id)
    except Exception:  # a host lookup that fails must not blank the whole screen
        user = None
    if user is not None:
        name = display_name(user)
        if name:
            return name
    return fallback or agent_id


def _info(user: Any) -> AgentInfo:
    return AgentInfo(str(user.get_id()), display_name(user), str(getattr(user, "email", "") or ""))


def list_agents() -> list[AgentInfo]:
    """Host users with the agent role, as the host's ``agent_lister`` gives them."""
    hooks = get_state().hooks
    check = hooks["role_checker"]
    return [_info(user) for user in hooks["agent_lister"]() if check(user, "agent")]


def find_agent(agent_id: str) -> AgentInfo | None:
    """The host user behind an id, if it exists and holds the agent role."""
    hooks = get_state().hooks
    user = hooks["user_lookup"](agent_id)
    if user is None or not hooks["role_checker"](user, "agent"):
        return None
    return _info(user)


def members_of(campaign_ids: Iterable[int]) -> list[MemberRow]:
    ids = sorted(set(campaign_ids))
    if not ids:
        return []
    stmt = (
        select(Member, Campaign.name)
        .join(Campaign, Campaign.id == Member.campaign_id)
        .where(Member.campaign_id.in_(ids), Campaign.deleted_at.is_(None))
        .order_by(func.lower(Campaign.name), Member.position, Member.id)
    )
    names: dict[str, str] = {}
    rows = []
    for member, campaign_name in _session().execute(stmt):
        if member.agent_id not in names:
            names[member.agent_id] = user_name(member.agent_id, f"user {member.agent_id}")
        rows.append(
            MemberRow(member.campaign_id, campaign_name, member.agent_id, names[member.agent_id])
        )
    return rows


def member_as_dict(row: MemberRow) -> dict[str, Any]:
    return {
        "campaign_id": row.campaign_id,
        "campaign_name": row.campaign_name,
        "agent_id": row.agent_id,
        "agent_name": row.agent_name,
    }


def _id_list(values: Any) -> list[str] | None:
    if values is None:
        return []
    if isinstance(values, (str, int)) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, (list, tuple)) or len(values) > _MAX_IDS:
        return None
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None
        text = str(value).strip()
        if not text or len(text) > 64:
            return None
        out.append(text)
    return list(dict.fromkeys(out))


def _campaigns(values: Any, errors: dict[str, str]) -> list[int]:
    ids = _id_list(values)
    if ids is None or not all(i.isdigit() for i in ids):
        errors["campaign_ids"] = gettext("Campaigns must be a list of campaign ids.")
        return []
    if not ids:
        errors["campaign_ids"] = gettext("Select at least one campaign.")
        return []
    wanted = [int(i) for i in ids]
    found = set(
        _session().scalars(
            select(Campaign.id).where(Campaign.id.in_(wanted), Campaign.deleted_at.is_(None))
        )
    )
    missing = [i for i in wanted if i not in found]
    if missing:
        errors["campaign_ids"] = gettext(
            "No such campaign: %(ids)s.", ids=", ".join(map(str, missing))
        )
    return wanted


def _agents(values: Any, errors: dict[str, str], must_be_agents: bool) -> list[str]:
    ids = _id_list(values)
    if ids is None:
        errors["agent_ids"] = gettext("Agents must be a list of user ids.")
        return []
    if not ids:
        errors["agent_ids"] = gettext("Select at least one agent.")
        return []
    if must_be_agents:
        refused = [i for i in ids if find_agent(i) is None]
        if refused:
            errors["agent_ids"] = gettext(
                "Only users with the agent role can be members (refused: %(ids)s).",
                ids=", ".join(refused),
            )
    return ids


def add_members(campaign_ids: Any, agent_ids: Any, *, actor_id: str) -> MembersResult:
    """Every selected agent joins every selected campaign; existing members stay as they are."""
    errors: dict[str, str] = {}
    campaigns = _campaigns(campaign_ids, errors)
    agents = _agents(agent_ids, errors, must_be_agents=True)
    if errors:
        return MembersResult(0, errors)
    session = _session()
    added = 0
    try:
        for campaign_id in campaigns:
            existing = set(
                session.scalars(select(Member.agent_id).where(Member.campaign_id == campaign_id))
            )
            position = session.scalar(
                select(func.coalesce(func.max(Member.position), 0)).where(
                    Member.campaign_id == campaign_id
                )
            )
            for agent_id in agents:
                if agent_id in existing:
                    continue
                position += 1
                try:
                    # A concurrent add of the same pair is not an error: it is done.
                    with session.begin_nested():
                        session.add(
                            Member(campaign_id=campaign_id, agent_id=agent_id, position=position)
                        )
                    added += 1
                except IntegrityError:
                    pass
        if added:
            audit.record(
                actor_id,
                "members.add",
                detail=f"campaigns {campaigns}, agents {agents}",
            )
        session.commit()
    except Exception:
        session.rollback()
        raise
    log.info("%d membership(s) added by %s", added, actor_id)
    return MembersResult(added)


def remove_members(campaign_ids: Any, agent_ids: Any, *, actor_id: str) -> MembersResult:
    """Every selected agent leaves every selected campaign.

    Any id may be removed, agent role or not: a user who lost the role on the host
    must still be removable.
    """
    errors: dict[str, str] = {}
    campaigns = _campaigns(campaign_ids, errors)
    agents = _agents(agent_ids, errors, must_be_agents=False)
    if errors:
        return MembersResult(0, errors)
    session = _session()
    try:
        result = session.execute(
            delete(Member).where(Member.campaign_id.in_(campaigns), Member.agent_id.in_(agents))
        )
        removed = int(result.rowcount or 0)
        if removed:
            audit.record(
                actor_id,
                "members.remove",
                detail=f"campaigns {campaigns}, agents {agents}",
            )
        session.commit()
    except Exception:
        session.rollback()
        raise
    log.info("%d membership(s) removed by %s", removed, actor_id)
    return MembersResult(removed)
