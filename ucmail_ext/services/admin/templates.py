"""Templates: signatures, auto-replies, dialer bodies and agents' canned answers.

A template belongs to one campaign or, with no campaign, to all of them. Its HTML
body is sanitized on save so that whatever later sends it (auto-reply, dialer,
agent) sends allowlisted HTML; the ``${variable}`` placeholders are kept through
the sanitizer, including inside links (``<a href="${link}">``).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select, update

from ucmail_ext.extension import get_state
from ucmail_ext.i18n import gettext, lazy_gettext
from ucmail_ext.mail.render import render, render_html, variables_in
from ucmail_ext.mail.sanitize import sanitize_html
from ucmail_ext.models import Campaign, Dialer, Template
from ucmail_ext.services import audit
from ucmail_ext.services.access import can_see_campaign
from ucmail_ext.services.pagination import Page, paginate

log = logging.getLogger(__name__)

# What a preview puts in the common variables; any other shows as [name].
SAMPLE_VALUES: dict[str, Any] = {
    "name": "Jane Doe",
    "customer_name": "Jane Doe",
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "jane.doe@example.com",
    "customer_email": "jane.doe@example.com",
    "agent": "Alex Agent",
    "agent_name": "Alex Agent",
    "campaign": "Support",
    "campaign_name": "Support",
    "company": "Example Ltd",
    "subject": lazy_gettext("Question about my order"),
    "ticket": "1042",
    "date": "2024-05-17",
}

# What each sender can fill: the single source for the template screen and for the
# checks on save. autoreply.py fills the auto-reply's from the incoming mail;
# desk/compose.py fills the agent's (and the signature's, which must also work in a
# new interaction, before there is a customer: only the agent and the campaign).
# tests/admin/test_template_variables.py renders each list through those senders.
AUTOREPLY_VARIABLES: tuple[str, ...] = (
    "name",
    "customer_name",
    "email",
    "customer_email",
    "subject",
    "interaction_id",
    "ticket",
    "campaign",
)
SIGNATURE_VARIABLES: tuple[str, ...] = ("agent", "agent_name", "campaign")
REPLY_VARIABLES: tuple[str, ...] = (
    "agent",
    "agent_name",
    *AUTOREPLY_VARIABLES,
)
# The dialer fills its list's CSV variables column, plus these for every row.
DIALER_VARIABLES: tuple[str, ...] = ("email", "unsubscribe_url")


@dataclass(frozen=True)
class TemplateKind:
    key: str
    label: Any  # a lazy_gettext string: built at import, read in the request's language
    variables: tuple[str, ...]
    # The dialer also fills whatever its CSV rows carry: any name is allowed there.
    open_ended: bool = False


TEMPLATE_KINDS: tuple[TemplateKind, ...] = (
    TemplateKind("autoreply", lazy_gettext("Automatic reply"), AUTOREPLY_VARIABLES),
    TemplateKind("signature", lazy_gettext("Signature"), SIGNATURE_VARIABLES),
    TemplateKind("reply", lazy_gettext("Agent reply"), REPLY_VARIABLES),
    TemplateKind("dialer", lazy_gettext("Dialer message"), DIALER_VARIABLES, open_ended=True),
)
KINDS = {kind.key: kind for kind in TEMPLATE_KINDS}

_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
_PLACEHOLDER = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAX_BODY = 1_000_000


@dataclass(frozen=True)
class TemplateValues:
    name: str
    campaign_id: int | None
    subject: str
    body_html: str
    body_text: str


@dataclass
class TemplateResult:
    template: Template | None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Preview:
    """A template rendered with sample values; ``body_html`` is sanitized, for an iframe."""

    subject: str
    body_text: str
    body_html: str
    variables: list[str]
    samples: dict[str, str]


class TemplateNotFound(LookupError):
    pass


def _session() -> Any:
    return get_state().session


# --------------------------------------------------------------------------- reading


def get_template(template_id: int) -> Template:
    template = _session().get(Template, template_id)
    if template is None:
        raise TemplateNotFound(f"no template {template_id}")
    return template


def visible_template(template_id: int) -> Template:
    """The template if the current user may see it: a global one, or one of a campaign
    they may see; else TemplateNotFound, exactly like a missing one."""
    template = get_template(template_id)
    if template.campaign_id is not None and not can_see_campaign(template.campaign_id):
        raise TemplateNotFound(f"no template {template_id}")
    return template


def templates_for_campaign(campaign_id: int | None) -> list[Template]:
    """What a campaign may use: its own templates plus the global ones, by name."""
    condition = Template.campaign_id.is_(None)
    if campaign_id is not None:
        condition = or_(condition, Template.campaign_id == campaign_id)
    stmt = select(Template).where(condition).order_by(func.lower(Template.name), Template.id)
    return list(_session().scalars(stmt))


def list_templates(
    page: int = 1,
    per_page: int | None = None,
    campaign_id: int | None = None,
    visible: Collection[int] | None = None,
) -> Page[Template]:
    """All templates, or with ``campaign_id`` those usable in that campaign.

    ``visible`` (campaign ids, None for all) hides other campaigns' own templates.
    """
    per_page = per_page or int(current_app.config["UCMAIL_PAGE_SIZE"])
    stmt = select(Template).order_by(func.lower(Template.name), Template.id)
    if campaign_id is not None:
        stmt = stmt.where(or_(Template.campaign_id.is_(None), Template.campaign_id == campaign_id))
    if visible is not None:
        stmt = stmt.where(
            or_(Template.campaign_id.is_(None), Template.campaign_id.in_(list(visible)))
        )
    return paginate(_session(), stmt, page, per_page)


def template_as_dict(template: Template) -> dict[str, Any]:
    return {
        "id": template.id,
        "name": template.name,
        "campaign_id": template.campaign_id,
        "subject": template.subject,
        "body_html": template.body_html,
        "body_text": template.body_text,
        "variables": template_variables(template.subject, template.body_html, template.body_text),
        "updated_at": template.updated_at.isoformat() if template.updated_at else None,
    }


def template_variables(*texts: str) -> list[str]:
    """Placeholder names across subject and bodies, in order of first appearance."""
    seen: dict[str, None] = {}
    for text in texts:
        for name in variables_in(text or ""):
            seen.setdefault(name)
    return list(seen)


def unfillable_variables(kind: str, subject: str, body_html: str, body_text: str) -> list[str]:
    """Placeholders a template of this kind would send unfilled (``${plan}`` to a customer)."""
    template_kind = KINDS[kind]
    if template_kind.open_ended:
        return []
    # A signature is only ever its body, put under what the agent types.
    texts = (body_html, body_text) if kind == "signature" else (subject, body_html, body_text)
    return [name for name in template_variables(*texts) if name not in template_kind.variables]


def variables_message(kind: str, names: Collection[str]) -> str:
    template_kind = KINDS[kind]
    can = ", ".join(f"${{{name}}}" for name in template_kind.variables)
    used = ", ".join(f"${{{name}}}" for name in names)
    return gettext(
        "%(kind)s templates can only fill %(can)s; this one also uses %(used)s.",
        kind=template_kind.label,
        can=can,
        used=used,
    )


def campaigns_using(template_id: int) -> list[tuple[Campaign, str]]:
    """Live campaigns that send this template by themselves, with the kind of use."""
    stmt = (
        select(Campaign)
        .where(
            Campaign.deleted_at.is_(None),
            or_(
                Campaign.signature_template_id == template_id,
                Campaign.autoreply_template_id == template_id,
            ),
        )
        .order_by(func.lower(Campaign.name), Campaign.id)
    )
    uses = []
    for campaign in _session().scalars(stmt):
        if campaign.autoreply_template_id == template_id:
            uses.append((campaign, "autoreply"))
        if campaign.signature_template_id == template_id:
            uses.append((campaign, "signature"))
    return uses


def _check_uses(values: TemplateValues, current: Template, errors: dict[str, str]) -> None:
    """A template in use as an auto-reply or signature keeps to what that use can fill."""
    texts = {
        "subject": values.subject,
        "body_html": values.body_html,
        "body_text": values.body_text,
    }
    for campaign, kind in campaigns_using(current.id):
        if values.campaign_id is not None and campaign.id != values.campaign_id:
            continue  # moving the template to another campaign unhooks it here
        bad = unfillable_variables(kind, **texts)
        if not bad:
            continue
        key = next(k for k, text in texts.items() if set(bad) & set(template_variables(text)))
        errors.setdefault(
            key,
            gettext(
                "Campaign '%(name)s' uses this template as its %(use)s. %(problem)s",
                name=campaign.name,
                use=str(KINDS[kind].label).lower(),
                problem=variables_message(kind, bad),
            ),
        )


# --------------------------------------------------------------------------- sanitizing


def sanitize_template_html(html: str) -> str:
    """``sanitize_html`` that keeps ``${name}`` placeholders where they stood.

    The sanitizer drops URLs it cannot judge (``href="${link}"`` is relative), so
    each placeholder travels through it as a URL no template can contain and is
    put back afterwards.
    """
    if not html:
        return ""
    marker = f"http://ucmail-var-{secrets.token_hex(8)}.invalid/"

    def hide(match: re.Match[str]) -> str:
        return match.group(0) if match.group(1) is None else marker + match.group(1) + "/"

    clean = sanitize_html(_PLACEHOLDER.sub(hide, html))
    return re.sub(re.escape(marker) + r"([A-Za-z_][A-Za-z0-9_]*)/", r"${\1}", clean)


# --------------------------------------------------------------------------- validation


def _text(
    data: Mapping[str, Any],
    current: Template | None,
    key: str,
    errors: dict[str, str],
    label: str,
    max_len: int,
    single_line: bool,
) -> str:
    value = data[key] if key in data else (getattr(current, key) if current else "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[key] = gettext("%(label)s must be text.", label=label)
        return ""
    if len(value) > max_len:
        errors[key] = gettext(
            "%(label)s is longer than %(max)s characters.", label=label, max=max_len
        )
    elif single_line and _CONTROL.search(value):
        errors[key] = gettext(
            "%(label)s cannot contain line breaks or control characters.", label=label
        )
    elif "\x00" in value:
        errors[key] = gettext("%(label)s cannot contain NUL characters.", label=label)
    return value.strip() if single_line else value


def _campaign_id(data: Mapping[str, Any], current: Template | None, errors: dict[str, str]) -> Any:
    value = (
        data["campaign_id"] if "campaign_id" in data else (current.campaign_id if current else None)
    )
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool):
        errors["campaign_id"] = gettext("Campaign is not a valid choice.")
        return None
    campaign = _session().get(Campaign, value)
    if campaign is None or campaign.deleted_at is not None:
        errors["campaign_id"] = gettext("Campaign is not a valid choice.")
        return None
    return value


def validate_template(
    data: Mapping[str, Any], current: Template | None = None
) -> tuple[TemplateValues | None, dict[str, str]]:
    """The rules for the form and the API; a field left out keeps its current value."""
    if not isinstance(data, Mapping):
        return None, {"template": gettext("Send the template's fields as an object.")}
    errors: dict[str, str] = {}
    name = _text(data, current, "name", errors, gettext("Name"), 120, True)
    subject = _text(data, current, "subject", errors, gettext("Subject"), 998, True)
    body_html = _text(data, current, "body_html", errors, gettext("HTML body"), _MAX_BODY, False)
    body_text = _text(data, current, "body_text", errors, gettext("Text body"), _MAX_BODY, False)
    campaign_id = _campaign_id(data, current, errors)
    if not name and "name" not in errors:
        errors["name"] = gettext("Name is required.")
    if not body_html.strip() and not body_text.strip():
        errors.setdefault("body_text", gettext("Write an HTML body, a text body, or both."))
    if errors:
        return None, errors
    values = TemplateValues(name, campaign_id, subject, body_html, body_text)
    if current is not None:
        _check_uses(values, current, errors)
    if errors:
        return None, errors
    return values, {}


# --------------------------------------------------------------------------- writing


def save_template(
    data: Mapping[str, Any], template_id: int | None = None, *, actor_id: str
) -> TemplateResult:
    current = get_template(template_id) if template_id is not None else None
    values, errors = validate_template(data, current)
    if values is None:
        return TemplateResult(current, errors)
    session = _session()
    template = current if current is not None else Template()
    try:
        template.name = values.name
        template.campaign_id = values.campaign_id
        template.subject = values.subject
        template.body_html = sanitize_template_html(values.body_html)
        template.body_text = values.body_text
        if current is None:
            session.add(template)
            session.flush()
        else:
            _detach_from_other_campaigns(template)
        action = "template.create" if current is None else "template.update"
        audit.record(actor_id, action, detail=f"{template.id}: {template.name}")
        session.commit()
    except Exception:
        session.rollback()
        raise
    log.info("template %s saved by %s", template.id, actor_id)
    return TemplateResult(template)


def _detach_from_other_campaigns(template: Template) -> None:
    """A template moved to one campaign stops being another campaign's signature."""
    if template.campaign_id is None:
        return
    others = Campaign.id != template.campaign_id
    session = _session()
    session.execute(
        update(Campaign)
        .where(others, Campaign.signature_template_id == template.id)
        .values(signature_template_id=None)
    )
    session.execute(
        update(Campaign)
        .where(others, Campaign.autoreply_template_id == template.id)
        .values(autoreply_template_id=None, autoreply_enabled=False)
    )


def delete_template(template_id: int, *, actor_id: str, confirmed: bool) -> TemplateResult:
    """Delete, and unhook it from campaigns and dialers in the same transaction.

    The foreign keys say ``SET NULL``, but SQLite enforces them only with a pragma
    the host may not set, so the references are cleared here explicitly.
    """
    template = get_template(template_id)
    if not confirmed:
        return TemplateResult(
            template,
            {
                "confirm": gettext(
                    "Confirm that template “%(name)s” should be deleted.", name=template.name
                )
            },
        )
    session = _session()
    try:
        session.execute(
            update(Campaign)
            .where(Campaign.signature_template_id == template.id)
            .values(signature_template_id=None)
        )
        session.execute(
            update(Campaign)
            .where(Campaign.autoreply_template_id == template.id)
            .values(autoreply_template_id=None, autoreply_enabled=False)
        )
        session.execute(
            update(Dialer).where(Dialer.template_id == template.id).values(template_id=None)
        )
        audit.record(actor_id, "template.delete", detail=f"{template.id}: {template.name}")
        session.delete(template)
        session.commit()
    except Exception:
        session.rollback()
        raise
    log.info("template %s deleted by %s", template_id, actor_id)
    return TemplateResult(None)


# --------------------------------------------------------------------------- preview


def sample_values(names: list[str], given: Mapping[str, Any] | None = None) -> dict[str, str]:
    given = given or {}
    samples = {}
    for name in names:
        value = given.get(name)
        sample = value if value is not None else SAMPLE_VALUES.get(name, f"[{name}]")
        samples[name] = str(sample)
    return samples


def preview(
    subject: str, body_html: str, body_text: str, given: Mapping[str, Any] | None = None
) -> Preview:
    """Render with sample values; the HTML is sanitized again for showing it."""
    names = template_variables(subject, body_html, body_text)
    samples = sample_values(names, given)
    return Preview(
        subject=render(subject, samples).text,
        body_text=render(body_text, samples).text,
        body_html=sanitize_html(render_html(body_html, samples).text),
        variables=names,
        samples=samples,
    )


def preview_data(data: Mapping[str, Any]) -> tuple[Preview | None, dict[str, str]]:
    """Preview what a form or an API call holds, without saving it."""
    # A draft may be previewed before it has a name.
    values, errors = validate_template({**data, "name": data.get("name") or "Preview"})
    if values is None:
        return None, errors
    given = data.get("variables") if isinstance(data.get("variables"), Mapping) else None
    html = sanitize_template_html(values.body_html)
    return preview(values.subject, html, values.body_text, given), {}


def preview_template(template: Template, given: Mapping[str, Any] | None = None) -> Preview:
    return preview(template.subject, template.body_html, template.body_text, given)


def preview_as_dict(result: Preview) -> dict[str, Any]:
    return {
        "subject": result.subject,
        "body_text": result.body_text,
        "body_html": result.body_html,
        "variables": result.variables,
        "samples": result.samples,
    }
