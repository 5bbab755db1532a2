"""Queued interactions to free member agents, oldest first, by the campaign's strategy.

Two routers may run at once (two Celery workers, a beat tick and an arrival). Safety
does not depend on them taking turns:

- the interaction is claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL),
  so two routers never work on the same one;
- the agent row is locked (``FOR UPDATE SKIP LOCKED``) before their load is counted,
  so two routers never both count "2 of 3" and push the agent to 4;
- the assignment itself is one conditional UPDATE (still queued, agent still
  routable, load still below the maximum) whose row count says whether it won. On
  SQLite, which ignores ``FOR UPDATE`` but runs one writer at a time, that single
  statement is the whole guarantee.

SKIP LOCKED never waits, so routers cannot deadlock on each other; an agent another
router is assigning to right now is simply tried again on the next pass.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from ucmail_ext.extension import get_state
from ucmail_ext.models import AgentState, Campaign, Interaction, Member, utcnow
from ucmail_ext.models.campaign import STRATEGIES
from ucmail_ext.services import audit, metrics, schedules
from ucmail_ext.services.desk import notes, presence

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RouteDecision:
    interaction_id: int
    agent_id: str
    campaign_id: int


@dataclass(frozen=True)
class Candidate:
    """A routable member agent as the strategies see them."""

    agent_id: str
    member_index: int
    load: int = 0
    last_assigned_at: datetime | None = None
    completed_today: int = 0


@dataclass(frozen=True)
class CampaignRules:
    """What routing reads of a campaign, kept apart from the ORM row.

    Commits expire ORM objects; re-reading the campaign after every assignment would
    double the statements per interaction for values that do not change in a pass.
    """

    id: int
    strategy: str
    timezone: str
    max_per_agent: int


def rules_of(campaign: Campaign) -> CampaignRules:
    return CampaignRules(
        id=campaign.id,
        strategy=campaign.strategy,
        timezone=campaign.timezone,
        max_per_agent=campaign.max_per_agent,
    )


def _session() -> Any:
    return get_state().session


# --------------------------------------------------------------------------- strategies


def order_candidates(
    strategy: str,
    candidates: Sequence[Candidate],
    last_agent_id: str | None = None,
    member_ids: Sequence[str] = (),
    rng: random.Random | None = None,
) -> list[Candidate]:
    """The order in which agents are offered the next interaction.

    ``member_ids`` is the whole member list in member order, so round robin can
    continue after the last agent even when that agent is offline now.
    """
    by_member = sorted(candidates, key=lambda c: c.member_index)
    if strategy == "rrmemory":
        members = list(member_ids) or [c.agent_id for c in by_member]
        if last_agent_id not in members:
            return by_member
        start = members.index(last_agent_id) + 1
        size = len(members)
        return sorted(by_member, key=lambda c: (c.member_index - start) % size)
    if strategy == "leastrecent":
        return sorted(by_member, key=lambda c: (c.last_assigned_at or _NEVER, c.member_index))
    if strategy == "fewestcalls":
        return sorted(by_member, key=lambda c: (c.completed_today, c.member_index))
    if strategy == "random":
        shuffled = list(by_member)
        (rng or random).shuffle(shuffled)
        return shuffled
    return by_member  # linear, and the safe reading of an unknown strategy


# --------------------------------------------------------------------------- queries


def local_day_start(tz_name: str, now: datetime) -> datetime:
    """Midnight today in the campaign's time zone, as an aware UTC datetime."""
    local = now.astimezone(schedules.zone(tz_name))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def assigned_load(campaign_id: int, agent_id: Any) -> Any:
    """How many of the campaign's interactions the agent holds, as a correlated subquery.

    Routing and transfer both compare it with the campaign's maximum; one definition
    keeps "has room" meaning the same thing on both paths.
    """
    counted = aliased(Interaction)
    return (
        select(func.count(counted.id))
        .where(
            counted.campaign_id == campaign_id,
            counted.agent_id == agent_id,
            counted.state == "assigned",
        )
        .scalar_subquery()
    )


def candidates_for(campaign: CampaignRules, now: datetime) -> tuple[list[Candidate], list[str]]:
    """Routable members below the campaign's maximum, and the full member order."""
    session = _session()
    member_ids = list(
        session.scalars(
            select(Member.agent_id)
            .where(Member.campaign_id == campaign.id)
            .order_by(Member.position, Member.id)
        )
    )
    if not member_ids:
        return [], member_ids
    index = {agent_id: i for i, agent_id in enumerate(member_ids)}
    states = session.execute(
        select(AgentState.agent_id, AgentState.last_assigned_at).where(
            AgentState.agent_id.in_(member_ids), presence.routable_clause(now)
        )
    ).all()
    if not states:
        return [], member_ids
    routable = [row.agent_id for row in states]
    loads = dict(
        session.execute(
            select(Interaction.agent_id, func.count(Interaction.id))
            .where(
                Interaction.campaign_id == campaign.id,
                Interaction.state == "assigned",
                Interaction.agent_id.in_(routable),
            )
            .group_by(Interaction.agent_id)
        ).all()
    )
    completed: dict[str, int] = {}
    if campaign.strategy == "fewestcalls":
        completed = dict(
            session.execute(
                select(Interaction.agent_id, func.count(Interaction.id))
                .where(
                    Interaction.campaign_id == campaign.id,
                    Interaction.state == "closed",
                    Interaction.agent_id.in_(routable),
                    Interaction.closed_at >= local_day_start(campaign.timezone, now),
                )
                .group_by(Interaction.agent_id)
            ).all()
        )
    maximum = max(campaign.max_per_agent, 0)
    candidates = [
        Candidate(
            agent_id=row.agent_id,
            member_index=index[row.agent_id],
            load=int(loads.get(row.agent_id, 0)),
            last_assigned_at=row.last_assigned_at,
            completed_today=int(completed.get(row.agent_id, 0)),
        )
        for row in states
    ]
    return [c for c in candidates if c.load < maximum], member_ids


def _live_campaign(campaign_id: int) -> Campaign | None:
    campaign = _session().get(Campaign, campaign_id)
    if campaign is None or campaign.deleted_at is not None or not campaign.enabled:
        return None
    return campaign


def is_open_now(campaign: Campaign, now: datetime | None = None) -> bool:
    return schedules.is_open(campaign.schedules, campaign.timezone, now or utcnow())


# --------------------------------------------------------------------------- assigning


def _claim_oldest(campaign_id: int) -> int | None:
    return _session().scalar(
        select(Interaction.id)
        .where(Interaction.campaign_id == campaign_id, Interaction.state == "queued")
        .order_by(Interaction.arrived_at, Interaction.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def _lock_agent(agent_id: str, now: datetime) -> bool:
    locked = _session().scalar(
        select(AgentState.agent_id)
        .where(AgentState.agent_id == agent_id, presence.routable_clause(now))
        .with_for_update(skip_locked=True)
    )
    return locked is not None


def _try_assign(campaign: CampaignRules, interaction_id: int, agent_id: str, now: datetime) -> bool:
    still_routable = exists().where(AgentState.agent_id == agent_id, presence.routable_clause(now))
    result = _session().execute(
        update(Interaction)
        .where(
            Interaction.id == interaction_id,
            Interaction.state == "queued",
            still_routable,
            assigned_load(campaign.id, agent_id) < campaign.max_per_agent,
        )
        .values(state="assigned", agent_id=agent_id, assigned_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _record_assignment(campaign: CampaignRules, agent_id: str, now: datetime) -> None:
    session = _session()
    active = session.scalar(
        select(func.count(Interaction.id)).where(
            Interaction.agent_id == agent_id, Interaction.state == "assigned"
        )
    )
    session.execute(
        update(AgentState)
        .where(AgentState.agent_id == agent_id)
        .values(last_assigned_at=now, **presence.active_values(int(active or 0), now))
        .execution_options(synchronize_session=False)
    )
    if campaign.strategy == "rrmemory":
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.id)
            .values(rr_last_agent_id=agent_id)
            .execution_options(synchronize_session=False)
        )


def _route_one(
    campaign: CampaignRules, now: datetime, rng: random.Random | None
) -> RouteDecision | None:
    """Assign the oldest queued interaction, or None when nothing more can be assigned."""
    session = _session()
    while True:
        candidates, member_ids = candidates_for(campaign, now)
        if not candidates:
            session.rollback()
            return None
        interaction_id = _claim_oldest(campaign.id)
        if interaction_id is None:
            session.rollback()
            return None
        last = session.scalar(select(Campaign.rr_last_agent_id).where(Campaign.id == campaign.id))
        ordered = order_candidates(campaign.strategy, candidates, last, member_ids, rng)
        for candidate in ordered:
            if not _lock_agent(candidate.agent_id, now):
                continue
            if _try_assign(campaign, interaction_id, candidate.agent_id, now):
                _record_assignment(campaign, candidate.agent_id, now)
                session.commit()
                return RouteDecision(interaction_id, candidate.agent_id, campaign.id)
            state = session.scalar(
                select(Interaction.state).where(Interaction.id == interaction_id)
            )
            if state != "queued":
                break  # taken or closed meanwhile (SQLite has no claim lock): next one
        else:
            # Every candidate was full or being assigned to by another router.
            session.commit()
            return None
        session.commit()


def route(
    campaign_id: int, now: datetime | None = None, rng: random.Random | None = None
) -> list[RouteDecision]:
    """Assign every queued interaction of a campaign that a free agent can take now.

    Each assignment is its own short transaction (locks are held for one decision
    only), so this commits and rolls back the session: call it after the caller's
    own commit, as ``dispatch.enqueue`` callers do.
    """
    campaign = _live_campaign(campaign_id)
    if campaign is None:
        return []
    moment = now or utcnow()
    if not is_open_now(campaign, moment):
        return []
    values = rules_of(campaign)
    decisions: list[RouteDecision] = []
    while (decision := _route_one(values, moment, rng)) is not None:
        decisions.append(decision)
    metrics.routed(campaign_id, len(decisions))
    return decisions


def campaigns_with_queue() -> list[int]:
    return list(
        _session().scalars(
            select(Campaign.id)
            .where(
                Campaign.deleted_at.is_(None),
                Campaign.enabled.is_(True),
                exists().where(
                    Interaction.campaign_id == Campaign.id, Interaction.state == "queued"
                ),
            )
            .order_by(Campaign.id)
        )
    )


# --------------------------------------------------------------------------- offline agents


def _offline_since(cutoff: datetime) -> Any:
    """Agents whose last sign of life is older than ``cutoff`` (or who never had one)."""
    return or_(
        AgentState.last_heartbeat_at < cutoff,
        and_(AgentState.last_heartbeat_at.is_(None), AgentState.since < cutoff),
    )


def requeue_offline(now: datetime | None = None) -> list[int]:
    """Interactions of agents offline longer than their campaign allows go back to its queue.

    Off unless a campaign sets ``offline_requeue_minutes``. Each move is conditional
    on the owner still being the offline agent, so an agent coming back (or a
    transfer) at the same moment keeps what they hold.
    """
    moment = now or utcnow()
    session = _session()
    campaigns = session.execute(
        select(Campaign.id, Campaign.offline_requeue_minutes).where(
            Campaign.offline_requeue_minutes > 0, Campaign.deleted_at.is_(None)
        )
    ).all()
    moved: list[int] = []
    for campaign_id, minutes in campaigns:
        cutoff = moment - timedelta(minutes=int(minutes))
        # An agent with no presence row at all has never been online.
        gone = or_(
            ~exists().where(AgentState.agent_id == Interaction.agent_id),
            exists().where(AgentState.agent_id == Interaction.agent_id, _offline_since(cutoff)),
        )
        rows = session.execute(
            select(Interaction.id, Interaction.agent_id).where(
                Interaction.campaign_id == campaign_id,
                Interaction.state == "assigned",
                Interaction.agent_id.is_not(None),
                gone,
            )
        ).all()
        for interaction_id, agent_id in rows:
            result = session.execute(
                update(Interaction)
                .where(
                    Interaction.id == interaction_id,
                    Interaction.state == "assigned",
                    Interaction.agent_id == agent_id,
                )
                .values(state="queued", agent_id=None, assigned_at=None, agent_seen_at=None)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                continue
            interaction = session.get(Interaction, interaction_id)
            line = f"Back to the queue: the agent was offline for more than {minutes} minutes"
            notes.add_line(interaction, "requeue", line, None, "ucmail")
            audit.record("ucmail", "requeue", agent_id, f"interaction {interaction_id}: {line}")
            presence.recount_active(agent_id)
            session.commit()
            moved.append(interaction_id)
    if not campaigns:
        session.rollback()
    return moved


def route_all(now: datetime | None = None) -> list[RouteDecision]:
    """Every campaign with a queue: the beat tick and the answer to a status change.

    Offline agents' interactions are requeued first, so the same pass routes them.
    """
    requeue_offline(now)
    decisions: list[RouteDecision] = []
    for campaign_id in campaigns_with_queue():
        decisions.extend(route(campaign_id, now))
    return decisions


__all__ = [
    "STRATEGIES",
    "CampaignRules",
    "Candidate",
    "RouteDecision",
    "candidates_for",
    "local_day_start",
    "order_candidates",
    "requeue_offline",
    "rules_of",
    "route",
    "route_all",
]
