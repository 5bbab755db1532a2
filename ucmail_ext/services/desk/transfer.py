"""Handing an interaction on: to another agent of its campaign, or to a queue.

The holder (or a supervisor: "reassign") moves it. The move is one conditional
UPDATE that names the owner the actor saw (``agent_id = expected``): when two people
move the same interaction at once, the first statement wins and the second finds no
row, so the interaction ends with exactly one owner and one line saying how it got
there. Every move writes a line in the conversation and one in the audit, in the
same transaction as the move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select, update

from ucmail_ext.dispatch import enqueue
from ucmail_ext.extension import get_state
from ucmail_ext.i18n import format_number
from ucmail_ext.i18n import gettext as _
from ucmail_ext.models import AgentState, Campaign, Interaction, Member, utcnow
from ucmail_ext.services import audit
from ucmail_ext.services.access import can_see_campaign, visible_campaign_ids
from ucmail_ext.services.admin.members import user_name
from ucmail_ext.services.desk import notes, portal, presence, routing
from ucmail_ext.services.mail_view import visible_interaction

MAX_NOTE = 2_000


class TransferError(ValueError):
    """Why the move did not happen, in words for the person who asked for it."""


@dataclass(frozen=True)
class AgentChoice:
    agent_id: str
    name: str
    load: int
    maximum: int


@dataclass(frozen=True)
class QueueChoice:
    campaign_id: int
    name: str


def _session() -> Any:
    return get_state().session


def _movable(interaction_id: int, user: Any) -> Interaction:
    """The interaction, if this user may move it: its holder, or a supervisor."""
    interaction = visible_interaction(interaction_id, user)
    if interaction.state == "closed":
        raise TransferError(_("this interaction is closed; reopen it by answering first"))
    mine = interaction.state == "assigned" and interaction.agent_id == portal.my_id(user)
    if not mine and not portal.is_supervising(user):
        raise portal.NotAllowed(_("only the agent who holds it (or a supervisor) can transfer it"))
    return interaction


def agent_choices(interaction_id: int, user: Any = None) -> list[AgentChoice]:
    """Members of its campaign who are online and below the campaign's maximum."""
    interaction = visible_interaction(interaction_id, user)
    campaign = _session().get(Campaign, interaction.campaign_id)
    if campaign is None:
        return []
    now = utcnow()
    rows = _session().execute(
        select(AgentState, routing.assigned_load(campaign.id, AgentState.agent_id))
        .join(Member, Member.agent_id == AgentState.agent_id)
        .where(Member.campaign_id == campaign.id)
        .order_by(Member.position, Member.id)
    )
    holder = interaction.agent_id if interaction.state == "assigned" else None
    return [
        AgentChoice(
            state.agent_id,
            user_name(state.agent_id, state.display_name),
            int(load),
            campaign.max_per_agent,
        )
        for state, load in rows
        if state.agent_id != holder
        and presence.is_online(state, now)
        and load < campaign.max_per_agent
    ]


def queue_choices(user: Any = None) -> list[QueueChoice]:
    """Every live campaign this user may see."""
    stmt = select(Campaign.id, Campaign.name).where(
        Campaign.deleted_at.is_(None), Campaign.enabled.is_(True)
    )
    visible = visible_campaign_ids(user)
    if visible is not None:
        stmt = stmt.where(Campaign.id.in_(sorted(visible) or [-1]))
    return [
        QueueChoice(cid, name) for cid, name in _session().execute(stmt.order_by(Campaign.name))
    ]


def _note_text(note: str) -> str:
    text = " ".join((note or "").split())
    if len(text) > MAX_NOTE:
        raise TransferError(
            _("the transfer note holds at most %(max)s characters", max=format_number(MAX_NOTE))
        )
    return text


def _line(source: str, target: str, actor: str, note: str) -> str:
    line = f"Transferred from {source} to {target} by {actor}"
    return f"{line}: {note}" if note else line


def _holder_name(interaction: Interaction) -> str:
    if interaction.state == "assigned" and interaction.agent_id:
        return user_name(interaction.agent_id)
    return f"the queue of {interaction.campaign.name}" if interaction.campaign else "the queue"


def _moved(
    interaction: Interaction, values: dict[str, Any], extra: list[Any] | None = None
) -> bool:
    """The conditional UPDATE: only if it is still where the actor saw it."""
    owner = Interaction.agent_id
    expected_owner = (
        owner.is_(None) if interaction.agent_id is None else owner == interaction.agent_id
    )
    result = _session().execute(
        update(Interaction)
        .where(
            Interaction.id == interaction.id,
            Interaction.state == interaction.state,
            Interaction.campaign_id == interaction.campaign_id,
            expected_owner,
            *(extra or []),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _finish(
    interaction: Interaction, previous_owner: str | None, line: str, actor_id: str, actor: str
) -> Interaction:
    session = _session()
    notes.add_line(interaction, "transfer", line, actor_id, actor)
    audit.record(actor_id, "transfer", previous_owner, f"interaction {interaction.id}: {line}")
    session.flush()
    session.refresh(interaction)
    for agent_id in {previous_owner, interaction.agent_id} - {None}:
        presence.recount_active(agent_id)  # type: ignore[arg-type]
    session.commit()
    enqueue("ucmail.routing.route_all")
    return interaction


def to_agent(interaction_id: int, agent_id: str, note: str = "", user: Any = None) -> Interaction:
    """To another online member of the campaign who has room for it."""
    interaction = _movable(interaction_id, user)
    text = _note_text(note)
    campaign = _session().get(Campaign, interaction.campaign_id)
    choices = {c.agent_id: c for c in agent_choices(interaction.id, user)}
    if agent_id not in choices:
        raise TransferError(
            _("choose an agent of this campaign who is online and below the campaign's maximum")
        )
    previous, source = interaction.agent_id, _holder_name(interaction)
    target = choices[agent_id].name
    now = utcnow()
    room = routing.assigned_load(campaign.id, agent_id) < campaign.max_per_agent
    moved = _moved(
        interaction,
        {"state": "assigned", "agent_id": agent_id, "assigned_at": now, "agent_seen_at": None},
        [room, exists().where(Member.campaign_id == campaign.id, Member.agent_id == agent_id)],
    )
    if not moved:
        _session().rollback()
        raise TransferError(_("it was moved or answered meanwhile; look at it again"))
    actor_id, actor = portal.my_id(user), portal.display_name(user)
    return _finish(interaction, previous, _line(source, target, actor, text), actor_id, actor)


def to_queue(
    interaction_id: int, campaign_id: int, note: str = "", user: Any = None
) -> Interaction:
    """Back to the queue of its campaign or of any live campaign this user may see."""
    interaction = _movable(interaction_id, user)
    text = _note_text(note)
    campaign = _session().get(Campaign, campaign_id) if campaign_id > 0 else None
    if (
        campaign is None
        or campaign.deleted_at is not None
        or not campaign.enabled
        or not can_see_campaign(campaign.id, user)
    ):
        raise TransferError(_("choose a campaign you work in"))
    if interaction.state == "queued" and interaction.campaign_id == campaign.id:
        raise TransferError(_("it is already waiting in that queue"))
    previous, source = interaction.agent_id, _holder_name(interaction)
    moved = _moved(
        interaction,
        {
            "state": "queued",
            "agent_id": None,
            "assigned_at": None,
            "agent_seen_at": None,
            "campaign_id": campaign.id,
        },
    )
    if not moved:
        _session().rollback()
        raise TransferError(_("it was moved or answered meanwhile; look at it again"))
    actor_id, actor = portal.my_id(user), portal.display_name(user)
    target = f"the queue of {campaign.name}"
    return _finish(interaction, previous, _line(source, target, actor, text), actor_id, actor)


__all__ = [
    "AgentChoice",
    "QueueChoice",
    "TransferError",
    "agent_choices",
    "queue_choices",
    "to_agent",
    "to_queue",
]
