"""Rows and page text for the translation tests."""

from __future__ import annotations

import re
from datetime import datetime
from html import unescape
from pathlib import Path

from babel.messages.pofile import read_po

from tests.admin.helpers import make_campaign
from ucmail_ext.crypto import make_token
from ucmail_ext.extension import get_state
from ucmail_ext.i18n import TRANSLATIONS_DIR
from ucmail_ext.models import Campaign, Dialer, DialerList, DialerRecord, Interaction, Message

SPANISH = {"Accept-Language": "es-UY,es;q=0.9"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def po_path(lang: str, domain: str = "ucmail") -> Path:
    return TRANSLATIONS_DIR / lang / "LC_MESSAGES" / f"{domain}.po"


def spanish_texts() -> set[str]:
    """Every Spanish msgstr (both plural forms), as the tokens a page may show."""
    with po_path("es").open("rb") as fh:
        catalog = read_po(fh)
    texts: set[str] = set()
    for message in catalog:
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        texts.update(form for form in forms if form)
    return texts


def visible_text(html: str) -> str:
    """What a person reads inside ucmail's part of the page (the host's layout aside)."""
    start = html.find('<div class="ucmail">')
    body = html[start:] if start >= 0 else html
    body = re.sub(r"<(script|style|template|textarea|pre|code)\b.*?</\1>", " ", body, flags=re.S)
    titles = re.findall(r'\b(?:title|placeholder|aria-label|alt)="([^"]*)"', body)
    text = re.sub(r"<[^>]+>", " ", body)
    return unescape(" ".join([text, *titles]))


def words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[^\W\d_]{3,}", text)}


def spanish_campaign(name: str = "Ventas", **values: object) -> Campaign:
    return make_campaign(name, language="es", timezone="America/Montevideo", **values)


def answered_interaction(campaign: Campaign, arrived_at: datetime | None = None) -> Message:
    """A customer's interaction with one answer sent from ``campaign``."""
    session = get_state().session
    extra = {"arrived_at": arrived_at} if arrived_at else {}
    interaction = Interaction(
        campaign_id=campaign.id,
        customer_email="cliente@example.org",
        subject="Consulta",
        state="closed",
        **extra,
    )
    session.add(interaction)
    session.flush()
    answer = Message(
        interaction_id=interaction.id,
        campaign_id=campaign.id,
        direction="out",
        status="sent",
        from_addr=campaign.email_address,
        to_addrs="cliente@example.org",
        subject="Re: Consulta",
        text="Listo.",
    )
    session.add(answer)
    session.commit()
    return answer


def rating_path(message: Message, score: int) -> str:
    return f"/ucmail/tracking/rate/{make_token('rating', {'m': message.id})}/{score}"


def dialer_record(campaign: Campaign, email: str = "cliente@example.org") -> DialerRecord:
    session = get_state().session
    dialer = Dialer(name="Boletín", campaign_id=campaign.id)
    session.add(dialer)
    session.flush()
    dialer_list = DialerList(dialer_id=dialer.id, name="Clientes")
    session.add(dialer_list)
    session.flush()
    record = DialerRecord(list_id=dialer_list.id, line=2, email=email, state="sent")
    session.add(record)
    session.commit()
    return record


def unsubscribe_path(record: DialerRecord) -> str:
    return f"/ucmail/tracking/u/{make_token('unsubscribe', record.id)}"


def make_member(campaign: Campaign, agent_id: str) -> None:
    from ucmail_ext.models import Member

    session = get_state().session
    session.add(Member(campaign_id=campaign.id, agent_id=agent_id))
    session.commit()
