"""Close reasons ("dispositions"): each campaign lists its own, optional or required.

The list is plain text on the campaign, one reason per line, so an admin edits it
like any other field; the chosen reason is stored on the interaction as written,
so renaming a reason later leaves the archive's past counts intact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select

from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext as _
from ucmail_ext.models import Campaign, Interaction

MAX_REASON = 80
MAX_REASONS = 50


class DispositionError(ValueError):
    """The close reason is missing or not one of the campaign's."""


def parse(text: str) -> list[str]:
    """The reasons in ``text``, one per line, trimmed, each once, in order."""
    reasons = (" ".join(line.split()) for line in (text or "").splitlines())
    return list(dict.fromkeys(r for r in reasons if r))


def check_list(text: str) -> tuple[str, str]:
    """The list as stored (normalised) and an error for the admin's form, "" if none."""
    reasons = parse(text)
    if any(len(r) > MAX_REASON for r in reasons):
        return text, f"a close reason holds at most {MAX_REASON} characters"
    if len(reasons) > MAX_REASONS:
        return text, f"at most {MAX_REASONS} close reasons"
    return "\n".join(reasons), ""


def options(campaign: Campaign | None) -> list[str]:
    return parse(campaign.dispositions) if campaign is not None else []


def required(campaign: Campaign | None) -> bool:
    return bool(campaign is not None and campaign.disposition_required and options(campaign))


def chosen(campaign: Campaign | None, value: str) -> str:
    """The reason to store for a close, or DispositionError with what to do."""
    value = " ".join((value or "").split())
    reasons = options(campaign)
    if value and value not in reasons:
        raise DispositionError(_("choose one of the campaign's close reasons"))
    if not value and required(campaign):
        raise DispositionError(_("choose a close reason: this campaign requires one"))
    return value


def counts_since(campaign_ids: Sequence[int], since: datetime) -> dict[int, dict[str, int]]:
    """Closed interactions per campaign and reason since ``since`` ("" is no reason)."""
    if not campaign_ids:
        return {}
    rows = get_state().session.execute(
        select(Interaction.campaign_id, Interaction.disposition, func.count(Interaction.id))
        .where(
            Interaction.campaign_id.in_(list(campaign_ids)),
            Interaction.state == "closed",
            Interaction.closed_at >= since,
        )
        .group_by(Interaction.campaign_id, Interaction.disposition)
    )
    counts: dict[int, dict[str, int]] = {}
    for campaign_id, disposition, count in rows:
        counts.setdefault(campaign_id, {})[disposition or ""] = int(count)
    return counts


def choices(campaigns: Sequence[Campaign]) -> list[str]:
    """Every reason of these campaigns, each once (filters read the lists, not the archive)."""
    return sorted({reason for campaign in campaigns for reason in options(campaign)})


__all__ = [
    "DispositionError",
    "check_list",
    "choices",
    "chosen",
    "counts_since",
    "options",
    "parse",
    "required",
]
