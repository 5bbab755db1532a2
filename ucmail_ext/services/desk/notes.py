"""Internal notes and the desk's own lines (transfers, requeues) in a conversation.

Notes are rows of their own table (models/desk.py), never messages: every path that
builds mail for a customer reads messages only, so a note cannot leak into a reply,
a quote, a forward, an auto-reply, a rating mail or an .eml/mbox export. Agents and
supervisors who see the interaction see its notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ucmail_ext.extension import get_state
from ucmail_ext.i18n import format_number
from ucmail_ext.i18n import gettext as _
from ucmail_ext.models import Interaction, Note, utcnow
from ucmail_ext.services.mail_view import visible_interaction

MAX_NOTE = 20_000


class NoteError(ValueError):
    """What the agent must fix in the note they wrote."""


@dataclass(frozen=True)
class NoteView:
    id: int
    kind: str
    author_name: str
    body: str
    at: datetime
    # Lets a template tell a note from a message in the merged timeline.
    is_note: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "author": self.author_name,
            "body": self.body,
            "at": self.at.isoformat(),
        }


def _session() -> Any:
    return get_state().session


def clean_body(text: str) -> str:
    body = (text or "").replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not body:
        raise NoteError(_("write the note first"))
    if len(body) > MAX_NOTE:
        raise NoteError(_("a note holds at most %(max)s characters", max=format_number(MAX_NOTE)))
    return body


def add_line(
    interaction: Interaction, kind: str, body: str, author_id: str | None, author: str
) -> Note:
    """Into the caller's transaction, so the move and its line commit together."""
    note = Note(
        interaction_id=interaction.id,
        kind=kind,
        author_id=author_id,
        author_name=author[:200],
        body=body,
        created_at=utcnow(),
    )
    _session().add(note)
    return note


def add_note(interaction_id: int, text: str, author_id: str, author: str, user: Any = None) -> Note:
    """An agent's or supervisor's note; whoever sees the interaction may write one."""
    interaction = visible_interaction(interaction_id, user)
    note = add_line(interaction, "note", clean_body(text), author_id, author)
    _session().commit()
    return note


def notes_of(interaction_id: int) -> list[NoteView]:
    rows = _session().scalars(
        select(Note).where(Note.interaction_id == interaction_id).order_by(Note.id)
    )
    return [NoteView(n.id, n.kind, n.author_name, n.body, n.created_at) for n in rows]


def export_text(interaction_id: int, user: Any = None) -> str:
    """The notes alone as plain text: the separate export, never inside the mail one."""
    interaction = visible_interaction(interaction_id, user)
    lines = [f"Internal notes of interaction {interaction.id}: {interaction.subject}", ""]
    for note in notes_of(interaction.id):
        lines.append(f"[{note.at:%Y-%m-%d %H:%M UTC}] {note.kind} by {note.author_name}")
        lines.extend([note.body, ""])
    return "\n".join(lines)


__all__ = ["NoteError", "NoteView", "add_line", "add_note", "clean_body", "export_text", "notes_of"]
