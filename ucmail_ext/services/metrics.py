"""Prometheus metrics: what ops watch on shared workers without reading the database.

Two kinds of figures:

- **Events** (polls, imports, sends, routing, task durations) are counted where they
  happen, in whichever process that is: a gunicorn worker, a Celery child, the IDLE
  listener. With ``PROMETHEUS_MULTIPROC_DIR`` set (in the environment of every one of
  those processes, before they start) prometheus_client writes them to files there,
  and the scrape adds them up across processes (its multiprocess mode). Without it,
  each process counts for itself, which is enough for a single-process host.
- **State** (queue length, longest wait, agents by status) comes from the database at
  scrape time: a counter kept in one process could never know what another changed.

prometheus_client is an optional dependency (``pip install ucmail_ext[metrics]``):
without it every counting function here does nothing and the endpoint answers with
what to install, so the rest of ucmail never needs to care.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from ucmail_ext.extension import get_state
from ucmail_ext.models import AgentState, Campaign, Interaction, utcnow

try:
    import prometheus_client
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
    from prometheus_client.core import GaugeMetricFamily
except ImportError:  # pragma: no cover - exercised by hosts without the extra
    prometheus_client = None

MISSING_MESSAGE = (
    "Metrics need prometheus_client: pip install 'ucmail_ext[metrics]' "
    "(and set PROMETHEUS_MULTIPROC_DIR for gunicorn and Celery workers)."
)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TASK_PREFIX = "ucmail."

# One private registry: a host's own metrics never clash with ours, and a test can
# build several apps in one process without "Duplicated timeseries".
REGISTRY: Any = None
_metrics: dict[str, Any] = {}


def available() -> bool:
    return prometheus_client is not None


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


def _define() -> None:
    global REGISTRY
    if prometheus_client is None or REGISTRY is not None:
        return
    REGISTRY = CollectorRegistry(auto_describe=True)
    reg = REGISTRY
    _metrics.update(
        polls=Counter(
            "ucmail_polls",
            "Mailbox polls by campaign and outcome (ok, error, busy, conflict, lost-lock).",
            ["campaign", "status"],
            registry=reg,
        ),
        poll_errors=Counter(
            "ucmail_poll_errors",
            "Mailbox polls that failed (connection, login, decryption) by campaign.",
            ["campaign"],
            registry=reg,
        ),
        imported=Counter(
            "ucmail_messages_imported",
            "Inbound messages stored, by campaign.",
            ["campaign"],
            registry=reg,
        ),
        interactions=Counter(
            "ucmail_interactions_imported",
            "Interactions opened by inbound mail, by campaign (history imports included).",
            ["campaign"],
            registry=reg,
        ),
        outbound=Counter(
            "ucmail_outbound_messages",
            "Agent replies and auto-replies by campaign and result (sent, failed, deferred).",
            ["campaign", "state"],
            registry=reg,
        ),
        dialer=Counter(
            "ucmail_dialer_messages",
            "Dialer records by campaign, dialer and result (sent, failed, deferred, ...).",
            ["campaign", "dialer", "state"],
            registry=reg,
        ),
        routed=Counter(
            "ucmail_routed",
            "Interactions assigned to an agent, by campaign.",
            ["campaign"],
            registry=reg,
        ),
        token_refreshes=Counter(
            "ucmail_token_refreshes",
            "Mailbox access-token refreshes by campaign and result (ok, error).",
            ["campaign", "result"],
            registry=reg,
        ),
        idle=Gauge(
            "ucmail_idle_connections",
            "IMAP IDLE connections held open right now (all listener processes).",
            registry=reg,
            multiprocess_mode="livesum",
        ),
        tasks=Histogram(
            "ucmail_task_duration_seconds",
            "Run time of ucmail's Celery tasks by task name and final state.",
            ["task", "state"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=reg,
        ),
    )


_define()


def _inc(name: str, amount: float = 1, **labels: object) -> None:
    metric = _metrics.get(name)
    if metric is None or amount <= 0:
        return
    (metric.labels(**{k: str(v) for k, v in labels.items()}) if labels else metric).inc(amount)


# --------------------------------------------------------------------------- events


def observe_poll(result: Any) -> Any:
    """Count one ``ingest.PollResult``; returned as is so a caller can wrap its return."""
    if result.status == "skipped":
        return result
    _inc("polls", campaign=result.campaign_id, status=result.status)
    if result.status == "error":
        _inc("poll_errors", campaign=result.campaign_id)
    _inc("imported", result.imported, campaign=result.campaign_id)
    _inc("interactions", result.new_interactions, campaign=result.campaign_id)
    return result


def message_delivered(campaign_id: int | None, state: str) -> None:
    """An agent reply or auto-reply reached ``state`` (sent, failed, deferred)."""
    _inc("outbound", campaign=campaign_id or "", state=state)


def dialer_outcomes(campaign_id: int, dialer_id: int, outcomes: Iterable[Any]) -> None:
    """Outcomes (each with a ``state``) of one dialer batch, as the runner records them."""
    tally: dict[str, int] = {}
    for item in outcomes:
        tally[item.state] = tally.get(item.state, 0) + 1
    for state, count in tally.items():
        _inc("dialer", count, campaign=campaign_id, dialer=dialer_id, state=state)


def routed(campaign_id: int, count: int) -> None:
    _inc("routed", count, campaign=campaign_id)


def token_refreshed(campaign_id: int, ok: bool) -> None:
    _inc("token_refreshes", campaign=campaign_id, result="ok" if ok else "error")


def idle_connected(delta: int) -> None:
    """+1 when an IDLE connection opens, -1 when it closes."""
    gauge = _metrics.get("idle")
    if gauge is not None:
        gauge.inc(delta)


# --------------------------------------------------------------------------- Celery


_started: dict[str, float] = {}
_started_lock = threading.Lock()
_connected = False


def _task_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id and getattr(task, "name", "").startswith(TASK_PREFIX):
        with _started_lock:
            _started[task_id] = time.perf_counter()


def _task_postrun(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    with _started_lock:
        started = _started.pop(task_id or "", None)
    histogram = _metrics.get("tasks")
    if started is None or histogram is None:
        return
    histogram.labels(task=task.name, state=state or "UNKNOWN").observe(
        time.perf_counter() - started
    )


def _process_shutdown(pid: int | None = None, **_: Any) -> None:
    """A Celery child that exits takes its live IDLE gauge with it (multiprocess mode)."""
    if multiprocess_dir() and prometheus_client is not None:
        multiprocess.mark_process_dead(pid or os.getpid())


def connect_celery_signals() -> None:
    """Time every ``ucmail.*`` task in whichever worker runs it; once per process."""
    global _connected
    if _connected or prometheus_client is None:
        return
    from celery import signals

    signals.task_prerun.connect(_task_prerun, weak=False, dispatch_uid="ucmail-metrics-prerun")
    signals.task_postrun.connect(_task_postrun, weak=False, dispatch_uid="ucmail-metrics-postrun")
    signals.worker_process_shutdown.connect(
        _process_shutdown, weak=False, dispatch_uid="ucmail-metrics-shutdown"
    )
    _connected = True


# --------------------------------------------------------------------------- scrape


@dataclass
class CampaignFigures:
    campaign_id: int
    name: str
    queued: int = 0
    oldest_wait_seconds: float = 0.0


@dataclass
class Snapshot:
    """What the database says right now; read once per scrape."""

    campaigns: list[CampaignFigures] = field(default_factory=list)
    agents: dict[str, int] = field(default_factory=dict)


AGENT_DISPLAY = {
    "Disconnected": "offline",
    "Free": "free",
    "Busy": "busy",
    "Free on break": "break",
    "Busy on break": "break",
    "Paused": "paused",
}


def snapshot() -> Snapshot:
    """Two grouped queries and one read of the agent table (agents are hundreds, not more)."""
    from ucmail_ext.services.desk.presence import display_status

    session = get_state().session
    now = utcnow()
    queued = {
        row.campaign_id: (int(row.count), row.oldest)
        for row in session.execute(
            select(
                Interaction.campaign_id,
                func.count(Interaction.id).label("count"),
                func.min(Interaction.arrived_at).label("oldest"),
            )
            .where(Interaction.state == "queued")
            .group_by(Interaction.campaign_id)
        )
    }
    figures = []
    for campaign_id, name in session.execute(
        select(Campaign.id, Campaign.name)
        .where(Campaign.deleted_at.is_(None))
        .order_by(Campaign.id)
    ):
        count, oldest = queued.get(campaign_id, (0, None))
        wait = max(0.0, (now - _aware(oldest)).total_seconds()) if oldest is not None else 0.0
        figures.append(CampaignFigures(campaign_id, name, count, wait))
    agents = dict.fromkeys(sorted(set(AGENT_DISPLAY.values())), 0)
    for state in session.scalars(select(AgentState)):
        key = AGENT_DISPLAY.get(display_status(state, now), "offline")
        agents[key] += 1
    return Snapshot(figures, agents)


def _aware(value: datetime) -> datetime:
    """SQLite gives naive datetimes back; they were stored as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class _SnapshotCollector:
    def __init__(self, data: Snapshot) -> None:
        self.data = data

    def collect(self) -> Iterator[Any]:
        info = GaugeMetricFamily(
            "ucmail_campaign_info",
            "Campaign names, to label panels by name.",
            labels=["campaign", "name"],
        )
        length = GaugeMetricFamily(
            "ucmail_queue_length", "Interactions waiting for an agent.", labels=["campaign"]
        )
        wait = GaugeMetricFamily(
            "ucmail_queue_oldest_wait_seconds",
            "How long the oldest waiting interaction has waited.",
            labels=["campaign"],
        )
        for item in self.data.campaigns:
            key = str(item.campaign_id)
            info.add_metric([key, item.name], 1)
            length.add_metric([key], item.queued)
            wait.add_metric([key], item.oldest_wait_seconds)
        agents = GaugeMetricFamily("ucmail_agents", "Agents by status.", labels=["status"])
        for status, count in self.data.agents.items():
            agents.add_metric([status], count)
        yield from (info, length, wait, agents)


class _Forward:
    """Our event metrics as one more collector of the scrape's registry."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def collect(self) -> Iterator[Any]:
        yield from self.source.collect()


def exposition(data: Snapshot | None = None) -> bytes:
    """The text a Prometheus scrape gets: events from every process, plus the DB state."""
    if prometheus_client is None:
        raise RuntimeError(MISSING_MESSAGE)
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path:
        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(_SnapshotCollector(data if data is not None else snapshot()))
    return bytes(prometheus_client.generate_latest(registry))


def family_names(text: str) -> Sequence[str]:
    """The metric families a scrape names (its ``# TYPE`` lines), for checks and tests."""
    return [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
