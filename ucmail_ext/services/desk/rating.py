"""The customer's 1-5 rating of an answer, from the signed links in the email.

:func:`email_block` adds the links to an agent's answer; :func:`record_rating`
reads them back. The link carries a token signed for the "rating" purpose and naming one outgoing
message; it arrives without a session, from any mail client, possibly many times
(link scanners, a change of mind). One Rating per message: a later click updates
the score rather than adding a vote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ucmail_ext.crypto import make_token, read_token
from ucmail_ext.extension import get_state
from ucmail_ext.i18n import campaign_language, gettext, lazy_gettext
from ucmail_ext.models import Campaign, Message, Rating, utcnow
from ucmail_ext.services import links

SCORES = range(1, 6)
ENDPOINT = "ucmail_tracking.rate"
DEFAULT_THANKS = lazy_gettext("Thank you for your rating.")
INVALID_LINK = lazy_gettext("This rating link is not valid.")


@dataclass(frozen=True)
class RatingOutcome:
    ok: bool
    thanks: str = ""
    error: str = ""


@dataclass(frozen=True)
class RatingSummary:
    count: int
    average: float | None
    by_score: dict[int, int] = field(default_factory=dict)


def _session() -> Any:
    return get_state().session


def rating_links(message_id: int) -> list[tuple[int, str]]:
    token = make_token("rating", {"m": message_id})
    return [(n, links.external_url(ENDPOINT, token=token, score=n)) for n in SCORES]


def email_block(campaign: Campaign, message_id: int) -> tuple[str, str]:
    """The "motivation to qualify" title and 1-5 signed links, as text and as HTML."""
    if not campaign.rating_enabled or ENDPOINT not in current_app.view_functions:
        return "", ""
    with campaign_language(campaign):
        title = campaign.rating_motivation or gettext("How did we do?")
        stars = {n: gettext("%(score)s of 5", score=n) for n in SCORES}
    found = rating_links(message_id)
    text = "\n\n" + title + "\n" + "\n".join(f"{'★' * n}{'☆' * (5 - n)} {url}" for n, url in found)
    cells = "".join(
        f'<a href="{escape(url)}" title="{escape(stars[n])}" style="text-decoration:none;'
        f'font-size:24px;color:#f5a623;padding:0 4px">{"★" * n}</a>'
        for n, url in found
    )
    html = (
        '<div style="margin-top:24px;font-family:Arial,Helvetica,sans-serif">'
        f'<p style="font-weight:bold;margin:0 0 8px">{escape(title)}</p><p>{cells}</p></div>'
    )
    return text, html


def _rated_message(token: str) -> Message | None:
    payload = read_token("rating", token) if isinstance(token, str) else None
    message_id = payload.get("m") if isinstance(payload, dict) else None
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        return None
    message = _session().get(Message, message_id)
    if message is None or message.direction != "out":
        return None
    return message


def rated_campaign(token: str) -> Campaign | None:
    """The campaign a rating link belongs to: its page speaks the campaign's language."""
    message = _rated_message(token)
    return _session().get(Campaign, message.campaign_id) if message is not None else None


def record_rating(token: str, score: int) -> RatingOutcome:
    """Verify the link and keep the score; never raises on a bad link or score."""
    message = _rated_message(token)
    if message is None:
        return RatingOutcome(False, error=str(INVALID_LINK))
    if not isinstance(score, int) or score not in SCORES:
        return RatingOutcome(False, error=gettext("A rating goes from 1 to 5."))
    session = _session()
    campaign = session.get(Campaign, message.campaign_id)
    now = utcnow()
    rescore = (
        update(Rating)
        .where(Rating.message_id == message.id)
        .values(score=score, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not session.execute(rescore).rowcount:
        try:
            with session.begin_nested():
                session.add(
                    Rating(
                        message_id=message.id,
                        interaction_id=message.interaction_id,
                        campaign_id=message.campaign_id,
                        agent_id=message.agent_id,
                        score=score,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            # Two clicks at once: the other one inserted first, so this one updates.
            session.execute(rescore)
    session.commit()
    thanks = (campaign.rating_thanks if campaign else "") or str(DEFAULT_THANKS)
    return RatingOutcome(True, thanks=thanks)


def campaign_rating_summary(campaign_id: int, since: datetime | None = None) -> RatingSummary:
    """Ratings of a campaign (since a moment, e.g. today's start) for its statistics."""
    stmt = select(Rating.score, func.count(Rating.id)).where(Rating.campaign_id == campaign_id)
    if since is not None:
        stmt = stmt.where(Rating.updated_at >= since)
    by_score = {
        int(score): int(count) for score, count in _session().execute(stmt.group_by(Rating.score))
    }
    count = sum(by_score.values())
    average = sum(s * c for s, c in by_score.items()) / count if count else None
    return RatingSummary(count=count, average=average, by_score=by_score)
