"""Unsent answers kept on the server while the agent types, one per agent and interaction.

The portal saves a second after typing stops; reopening the interaction, on this
device or another, brings the draft back. Sending it (compose.answer) or discarding
it deletes it. The draft also remembers the newest message the agent had seen when
they began, so a collision is still caught when they finish on another device.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext as _
from ucmail_ext.models import Draft, utcnow
from ucmail_ext.services.desk import portal

KINDS = ("reply", "replyall", "history", "forward")
MAX_BODY = 500_000
MAX_ADDRESSES = 10_000
MAX_SUBJECT = 998


class DraftError(ValueError):
    """What cannot be kept as a draft (too long, unknown kind)."""


@dataclass(frozen=True)
class DraftFields:
    """What the editor holds, as the browser sent it."""

    kind: str
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""
    source_message_id: int | None = None
    seen_message_id: int = 0
    body_html: str = ""


def _session() -> Any:
    return get_state().session


def _checked(fields: DraftFields) -> DraftFields:
    if fields.kind not in KINDS:
        raise DraftError(_("unknown kind of answer"))
    if max(len(fields.body), len(fields.body_html)) > MAX_BODY:
        raise DraftError(_("the message is too long to keep as a draft"))
    if max(len(fields.to), len(fields.cc), len(fields.bcc)) > MAX_ADDRESSES:
        raise DraftError(_("too many addresses"))
    return fields


def save(interaction_id: int, fields: DraftFields, user: Any = None) -> datetime:
    """Create or overwrite this agent's draft; returns when it was saved."""
    interaction = portal.visible_interaction(interaction_id, user)
    if not portal.may_answer(interaction, user):
        raise portal.NotAllowed(_("this interaction is assigned to another agent"))
    fields = _checked(fields)
    agent_id = portal.my_id(user)
    session = _session()
    row = session.scalar(
        select(Draft).where(Draft.interaction_id == interaction.id, Draft.agent_id == agent_id)
    )
    if row is None:
        try:
            with session.begin_nested():
                row = Draft(
                    interaction_id=interaction.id,
                    agent_id=agent_id,
                    seen_message_id=max(fields.seen_message_id, 0),
                )
                session.add(row)
        except IntegrityError:  # the other device saved first: overwrite theirs
            row = session.scalar(
                select(Draft).where(
                    Draft.interaction_id == interaction.id, Draft.agent_id == agent_id
                )
            )
    assert row is not None
    row.kind = fields.kind
    row.to_addrs = fields.to
    row.cc_addrs = fields.cc
    row.bcc_addrs = fields.bcc
    row.subject = fields.subject.replace("\r", " ").replace("\n", " ")[:MAX_SUBJECT]
    row.body = fields.body.replace("\x00", "")
    row.body_html = fields.body_html.replace("\x00", "")
    row.source_message_id = fields.source_message_id
    row.updated_at = utcnow()
    saved = row.updated_at
    session.commit()
    return saved


def of(interaction_id: int, user: Any = None) -> Draft | None:
    """This agent's saved draft in the interaction, if any."""
    interaction = portal.visible_interaction(interaction_id, user)
    return _session().scalar(
        select(Draft).where(
            Draft.interaction_id == interaction.id, Draft.agent_id == portal.my_id(user)
        )
    )


def remove(interaction_id: int, agent_id: str) -> None:
    """Into the caller's transaction (compose.answer deletes on send)."""
    _session().execute(
        delete(Draft).where(Draft.interaction_id == interaction_id, Draft.agent_id == agent_id)
    )


def discard(interaction_id: int, user: Any = None) -> None:
    interaction = portal.visible_interaction(interaction_id, user)
    remove(interaction.id, portal.my_id(user))
    _session().commit()


__all__ = ["DraftError", "DraftFields", "discard", "of", "remove", "save"]
