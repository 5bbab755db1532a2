"""The live supervision screen: who is doing what, who is waiting, how each campaign does.

Every poll reads the database afresh and keeps nothing in the process, so any
gunicorn worker answers any poll the same way. Each figure is one grouped query
over the selected campaigns (never one query per interaction), on indexes that keep
it fast with a big archive.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from ucmail_ext.extension import get_state
from ucmail_ext.models import AgentState, Campaign, Interaction, Member, utcnow
from ucmail_ext.services.access import visible_campaign_ids
from ucmail_ext.services.admin.members import user_name
from ucmail_ext.services.desk import dispositions, presence
from ucmail_ext.services.desk.rating import campaign_rating_summary
from ucmail_ext.services.desk.routing import local_day_start
from ucmail_ext.services.supervision import hourly
from ucmail_ext.services.supervision.service_level import service_level_today

WAITING_LIMIT = 200
OUT_ORIGINS = ("outbound",)


@dataclass(frozen=True)
class AgentRow:
    agent_id: str
    name: str
    status: str
    icon: str
    online: bool
    on_break: bool
    break_reason: str
    busy: bool
    paused: bool
    channels: tuple[str, ...]
    completed_in: int
    completed_out: int
    active: int
    seconds_in_status: int
    # ``status`` in the user's language (``status`` stays English: filters key on it).
    status_label: str = ""


@dataclass(frozen=True)
class WaitingRow:
    interaction_id: int
    campaign_id: int
    campaign_name: str
    customer_email: str
    seconds_on_hold: int
    level: str


@dataclass(frozen=True)
class CampaignFigures:
    campaign_id: int
    name: str
    queued: int
    in_progress: int
    answered_today: int
    service_level_percent: float | None
    avg_wait_seconds: float | None
    avg_wait_level: str
    oldest_wait_seconds: int | None
    oldest_wait_level: str
    warning_seconds: int
    critical_seconds: int
    ratings: dict[str, Any]
    # "Reconnect the account: <provider's words>" when the OAuth2 grant is gone.
    mailbox_error: str = ""
    # Closed today per close reason ("" for closed without one).
    dispositions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Feed:
    generated_at: datetime
    campaigns: list[CampaignFigures]
    agents: list[AgentRow]
    waiting: list[WaitingRow]
    waiting_total: int


def _session() -> Any:
    return get_state().session


def selectable_campaigns() -> list[Campaign]:
    """Live campaigns this supervisor may watch, by name."""
    stmt = select(Campaign).where(Campaign.deleted_at.is_(None)).order_by(Campaign.name)
    visible = visible_campaign_ids()
    if visible is not None:
        stmt = stmt.where(Campaign.id.in_(visible or [-1]))
    return list(_session().scalars(stmt))


def selected_campaigns(requested: Iterable[int] | None) -> list[Campaign]:
    """The requested campaigns this user may see; nothing requested means all of them."""
    campaigns = selectable_campaigns()
    wanted = set(requested or ())
    if not wanted:
        return campaigns
    return [c for c in campaigns if c.id in wanted]


def threshold_level(seconds: float | None, campaign: Campaign) -> str:
    """ "critical", "warning" or "" by the campaign's thresholds (0 switches one off)."""
    if seconds is None:
        return ""
    critical = campaign.threshold_critical_seconds or 0
    warning = campaign.threshold_warning_seconds or 0
    if critical > 0 and seconds >= critical:
        return "critical"
    if warning > 0 and seconds >= warning:
        return "warning"
    return ""


def today_clause(
    column: Any, campaign_column: Any, campaigns: Sequence[Campaign], now: datetime
) -> ColumnElement[bool]:
    """``column`` falls on today in its campaign's time zone; one clause per distinct day start."""
    by_start: dict[datetime, list[int]] = defaultdict(list)
    for campaign in campaigns:
        by_start[local_day_start(campaign.timezone, now)].append(campaign.id)
    return or_(
        *(and_(campaign_column.in_(ids), column >= start) for start, ids in by_start.items())
    )


def completed_today(
    agent_ids: Sequence[str], campaigns: Sequence[Campaign], now: datetime
) -> dict[str, tuple[int, int]]:
    """{agent_id: (incoming, outgoing)} interactions closed today in these campaigns."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    if not agent_ids or not campaigns:
        return {}
    rows = _session().execute(
        select(Interaction.agent_id, Interaction.origin, func.count())
        .where(
            Interaction.state == "closed",
            Interaction.agent_id.in_(agent_ids),
            today_clause(Interaction.closed_at, Interaction.campaign_id, campaigns, now),
        )
        .group_by(Interaction.agent_id, Interaction.origin)
    )
    for agent_id, origin, count in rows:
        counts[agent_id][1 if origin in OUT_ORIGINS else 0] += int(count)
    return {agent_id: (pair[0], pair[1]) for agent_id, pair in counts.items()}


def _active_counts(agent_ids: Sequence[str], campaign_ids: Sequence[int]) -> dict[str, int]:
    if not agent_ids:
        return {}
    rows = _session().execute(
        select(Interaction.agent_id, func.count())
        .where(
            Interaction.state == "assigned",
            Interaction.campaign_id.in_(campaign_ids),
            Interaction.agent_id.in_(agent_ids),
        )
        .group_by(Interaction.agent_id)
    )
    return {agent_id: int(count) for agent_id, count in rows}


def _member_ids(campaign_ids: Sequence[int]) -> list[str]:
    rows = _session().scalars(
        select(Member.agent_id).where(Member.campaign_id.in_(campaign_ids)).distinct()
    )
    return list(rows)


def _icon(state: AgentState | None, status: str) -> str:
    if state is None or status == "Disconnected":
        return "offline"
    if state.status == "break":
        return "break"
    if state.paused:
        return "paused"
    return "busy" if status.startswith("Busy") else "free"


def agent_rows(campaigns: Sequence[Campaign], now: datetime) -> list[AgentRow]:
    campaign_ids = [c.id for c in campaigns]
    if not campaign_ids:
        return []
    agent_ids = _member_ids(campaign_ids)
    if not agent_ids:
        return []
    states = {
        s.agent_id: s
        for s in _session().scalars(select(AgentState).where(AgentState.agent_id.in_(agent_ids)))
    }
    active = _active_counts(agent_ids, campaign_ids)
    completed = completed_today(agent_ids, campaigns, now)
    rows = []
    for agent_id in agent_ids:
        state = states.get(agent_id)
        status = presence.display_status(state, now) if state else "Disconnected"
        online = status != "Disconnected"
        busy = status.startswith("Busy")
        done_in, done_out = completed.get(agent_id, (0, 0))
        own_active = active.get(agent_id, 0)
        since = state.since if state else None
        rows.append(
            AgentRow(
                agent_id=agent_id,
                name=user_name(agent_id, state.display_name if state else ""),
                status=status,
                status_label=presence.status_label(status),
                icon=_icon(state, status),
                online=online,
                on_break=bool(state and online and state.status == "break"),
                break_reason=state.break_reason if state and online else "",
                busy=busy,
                paused=bool(state and state.paused),
                channels=("email",) if own_active else (),
                completed_in=done_in,
                completed_out=done_out,
                active=own_active,
                seconds_in_status=max(0, int((now - since).total_seconds())) if since else 0,
            )
        )
    rows.sort(key=lambda r: (not r.online, r.name.lower(), r.agent_id))
    return rows


def waiting_rows(campaigns: Sequence[Campaign], now: datetime) -> list[WaitingRow]:
    by_id = {c.id: c for c in campaigns}
    if not by_id:
        return []
    rows = _session().execute(
        select(
            Interaction.id,
            Interaction.campaign_id,
            Interaction.customer_email,
            Interaction.arrived_at,
        )
        .where(Interaction.state == "queued", Interaction.campaign_id.in_(list(by_id)))
        .order_by(Interaction.arrived_at, Interaction.id)
        .limit(WAITING_LIMIT)
    )
    waiting = []
    for interaction_id, campaign_id, email, arrived_at in rows:
        seconds = max(0, int((now - arrived_at).total_seconds()))
        campaign = by_id[campaign_id]
        waiting.append(
            WaitingRow(
                interaction_id=interaction_id,
                campaign_id=campaign_id,
                campaign_name=campaign.name,
                customer_email=email,
                seconds_on_hold=seconds,
                level=threshold_level(seconds, campaign),
            )
        )
    return waiting


def _state_counts(campaign_ids: Sequence[int]) -> dict[tuple[int, str], tuple[int, Any]]:
    rows = _session().execute(
        select(
            Interaction.campaign_id,
            Interaction.state,
            func.count(),
            func.min(Interaction.arrived_at),
        )
        .where(
            Interaction.campaign_id.in_(campaign_ids),
            Interaction.state.in_(("queued", "assigned")),
        )
        .group_by(Interaction.campaign_id, Interaction.state)
    )
    return {(cid, state): (int(count), oldest) for cid, state, count, oldest in rows}


def _disposition_counts(campaigns: Sequence[Campaign], now: datetime) -> dict[int, dict[str, int]]:
    """Today's closes per reason, "today" in each campaign's own time zone."""
    by_start: dict[datetime, list[int]] = defaultdict(list)
    for campaign in campaigns:
        by_start[local_day_start(campaign.timezone, now)].append(campaign.id)
    counts: dict[int, dict[str, int]] = {}
    for start, ids in by_start.items():
        counts.update(dispositions.counts_since(ids, start))
    return counts


def campaign_figures(campaigns: Sequence[Campaign], now: datetime) -> list[CampaignFigures]:
    if not campaigns:
        return []
    counts = _state_counts([c.id for c in campaigns])
    closes = _disposition_counts(campaigns, now)
    figures = []
    for campaign in campaigns:
        queued, oldest = counts.get((campaign.id, "queued"), (0, None))
        in_progress, _ = counts.get((campaign.id, "assigned"), (0, None))
        level = service_level_today(campaign.id, now)
        avg_wait = level.avg_wait_seconds
        oldest_wait = max(0, int((now - oldest).total_seconds())) if oldest else None
        figures.append(
            CampaignFigures(
                campaign_id=campaign.id,
                name=campaign.name,
                queued=queued,
                in_progress=in_progress,
                answered_today=level.answered,
                service_level_percent=level.percent if level.answered or level.overdue else None,
                avg_wait_seconds=avg_wait,
                avg_wait_level=threshold_level(avg_wait, campaign),
                oldest_wait_seconds=oldest_wait,
                oldest_wait_level=threshold_level(oldest_wait, campaign),
                warning_seconds=campaign.threshold_warning_seconds or 0,
                critical_seconds=campaign.threshold_critical_seconds or 0,
                ratings=asdict(
                    campaign_rating_summary(campaign.id, local_day_start(campaign.timezone, now))
                ),
                mailbox_error=campaign.oauth_error or "",
                dispositions=closes.get(campaign.id, {}),
            )
        )
    return figures


def feed(campaign_ids: Iterable[int] | None = None, now: datetime | None = None) -> Feed:
    """Everything the supervision screen shows, for the campaigns picked (default: all)."""
    now = now or utcnow()
    campaigns = selected_campaigns(campaign_ids)
    figures = campaign_figures(campaigns, now)
    return Feed(
        generated_at=now,
        campaigns=figures,
        agents=agent_rows(campaigns, now),
        waiting=waiting_rows(campaigns, now),
        waiting_total=sum(f.queued for f in figures),
    )


def feed_as_dict(value: Feed) -> dict[str, Any]:
    data = asdict(value)
    data["generated_at"] = value.generated_at.isoformat()
    for row in data["agents"]:
        row["channels"] = list(row["channels"])
    return data


def today_charts(
    campaign_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    zone: str | None = None,
) -> dict[str, Any]:
    """The supervision charts (queue length and service level by hour), laid out."""
    today = hourly.hourly_today(selected_campaigns(campaign_ids), now, zone)
    return {"queue": hourly.queue_chart(today), "level": hourly.service_level_chart(today)}
