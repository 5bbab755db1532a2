"""Every supervisor action leaves a line: who did what to whom, and when."""

from __future__ import annotations

from ucmail_ext.extension import get_state
from ucmail_ext.models import AuditEntry


def record(
    actor_id: str, action: str, target_agent_id: str | None = None, detail: str = ""
) -> None:
    """Added to the caller's transaction, so the action and its audit line commit together."""
    get_state().session.add(
        AuditEntry(actor_id=actor_id, action=action, target_agent_id=target_agent_id, detail=detail)
    )
