"""The dialer's render stage: everything a list's messages share, prepared once.

``ListComposer`` is built once per list run: templates compiled, the MIME
skeleton encoded, link prefixes built, attachments encoded on first use. Per
record, ``render`` fills ``${var}`` slots, signs two tokens and joins bytes. A
record that cannot be sent as intended (a variable missing, a line break in the
rendered subject, an attachment deleted since the upload, event dates that do not
parse) is refused with the reason, never sent half-filled.
"""

from __future__ import annotations

import html
import json
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select
from werkzeug.routing import BuildError

from ucmail_ext.crypto import DecryptionError, token_maker
from ucmail_ext.extension import get_state
from ucmail_ext.mail.bulk import BulkSkeleton, EncodedPart, encode_attachment, encode_calendar
from ucmail_ext.mail.dkim import DkimSigner
from ucmail_ext.mail.headers import is_valid_address
from ucmail_ext.mail.ics import build_invite, parse_event_datetime
from ucmail_ext.mail.parse import html_to_text, normalize_message_id
from ucmail_ext.mail.render import CompiledTemplate, compile_template
from ucmail_ext.mail.thread import make_message_id
from ucmail_ext.models import Campaign, Dialer, DialerList, Template, Upload
from ucmail_ext.services import links, storage
from ucmail_ext.services.admin.dkim import signer_for
from ucmail_ext.services.dialer import clicks

_ATTACHMENT_CACHE_BYTES = 64 * 1024 * 1024
_PLACEHOLDER = "UCMAILTOKEN"
# Signed messages rendered ahead of the sender, at most this many at a time.
_SIGN_AHEAD = 16


class DialerConfigError(RuntimeError):
    """The dialer cannot send at all (not one record's fault); shown as the pause reason."""


@dataclass(frozen=True, slots=True)
class ClaimedRecord:
    id: int
    email: str
    message: str
    attachments: str
    variables: str
    attempts: int
    blacklisted: bool


@dataclass(frozen=True, slots=True)
class Prepared:
    record_id: int
    to: str
    message_id: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class NotSendable:
    record_id: int
    state: str
    reason: str


@dataclass(frozen=True, slots=True)
class _Body:
    text: CompiledTemplate
    html: CompiledTemplate


def _link_parts(endpoint: str) -> tuple[str, str]:
    """An external URL split around its token, so each record's link is one join."""
    try:
        url = links.external_url(endpoint, token=_PLACEHOLDER)
    except BuildError as exc:
        raise DialerConfigError(
            "dialer mail needs the tracking blueprint (pixel and unsubscribe links): "
            "register it with the others"
        ) from exc
    prefix, _, suffix = url.partition(_PLACEHOLDER)
    return prefix, suffix


def _text_to_html_template(text_source: str) -> CompiledTemplate:
    # Escaping the template text keeps every ${name} (none of its characters escape);
    # values are escaped at render time by render_html.
    escaped = html.escape(text_source, quote=False)
    return compile_template(
        '<!DOCTYPE html><html><body><div style="white-space:pre-wrap">'
        f"{escaped}</div></body></html>"
    )


def _body_from(text_source: str, html_source: str) -> _Body:
    if not text_source.strip() and html_source.strip():
        text_source = html_to_text(html_source)
    html_template = (
        compile_template(html_source)
        if html_source.strip()
        else _text_to_html_template(text_source)
    )
    return _Body(compile_template(text_source), html_template)


def _tokens(record: ClaimedRecord) -> list[str]:
    return [token for token in (t.strip() for t in record.attachments.split(",")) if token]


def _encoded(upload: Upload | None) -> EncodedPart | None:
    if upload is None:
        return None
    try:
        data = storage.read_stored(upload.storage_key)
    except (OSError, ValueError):
        return None
    return encode_attachment(upload.filename, upload.content_type, data)


def _with_pixel(document: str, pixel_url: str) -> str:
    tag = f'<img src="{pixel_url}" width="1" height="1" alt="" style="display:none">'
    for closing in ("</body>", "</BODY>"):
        at = document.rfind(closing)
        if at >= 0:
            return f"{document[:at]}{tag}{document[at:]}"
    return document + tag


class EventDates:
    """The invite's start and end, fixed or ``${variable}``: one rule for the upload's
    row check (a bad date is refused with its line) and for the render."""

    def __init__(self, dialer: Dialer) -> None:
        self.start = compile_template(dialer.event_start)
        self.end = compile_template(dialer.event_end)
        self.timezone = dialer.timezone or "UTC"

    def missing(self, values: Mapping[str, str]) -> list[str]:
        return self.start.render(values).missing + self.end.render(values).missing

    def resolve(self, values: Mapping[str, str]) -> tuple[datetime, datetime] | str:
        """Both times, or why they cannot be used (a missing variable included)."""
        times = []
        for label, template in (("start", self.start), ("end", self.end)):
            rendered = template.render(values)
            source = "".join(template.parts) if template.names else ""
            where = f"the event {label}" + (f" ({source[:40]})" if source else "")
            if rendered.missing:
                return f"{where} needs the variable {rendered.missing[0]}, which the row lacks"
            try:
                times.append(parse_event_datetime(rendered.text, self.timezone))
            except ValueError as exc:
                return f"{where}: {exc}"
        start, end = times
        if end <= start:
            return (
                f"the event ends ({end:%Y-%m-%d %H:%M}) before it starts "
                f"({start:%Y-%m-%d %H:%M}); it must end after it starts"
            )
        return start, end


def event_dates(dialer: Dialer) -> EventDates | None:
    """What the upload checks each row's event dates with; None without an event."""
    return EventDates(dialer) if dialer.event_enabled else None


class _EventTemplates:
    def __init__(self, dialer: Dialer, campaign: Campaign) -> None:
        self.title = compile_template(dialer.event_title)
        self.organizer_name = compile_template(dialer.event_organizer_name or campaign.from_name)
        self.organizer_email = compile_template(
            dialer.event_organizer_email or campaign.email_address
        )
        self.dates = EventDates(dialer)


class ListComposer:
    """Renders one list's records; build it with ``build_composer``."""

    def __init__(
        self,
        *,
        dialer: Dialer,
        campaign: Campaign,
        dialer_list: DialerList,
        template: Template | None,
        domain: str,
        mailto: str | None,
        signer: DkimSigner | None = None,
    ) -> None:
        self.sender = campaign.email_address
        self._signer = signer
        self.domain = domain
        subject = dialer_list.subject or (template.subject if template else "")
        self._subject = compile_template(subject)
        self._default_body = (
            _body_from(template.body_text, template.body_html)
            if template is not None
            else _body_from("", "")
        )
        self._pixel = _link_parts("ucmail_tracking.pixel")
        self._unsubscribe = _link_parts("ucmail_tracking.unsubscribe")
        self._pixel_token = token_maker("pixel")
        self._unsubscribe_token = token_maker("unsubscribe")
        self._click_token: Callable[[Any], str] | None = None
        if dialer.click_tracking and template is not None and template.body_html.strip():
            self._track_clicks(dialer_list.id, template)
        self._mailto = f", <mailto:{mailto}?subject=unsubscribe>" if mailto else ""
        self._skeleton = BulkSkeleton(
            from_name=campaign.from_name,
            from_address=campaign.email_address,
            fixed_headers=[
                ("List-Id", f"<dialer-{dialer.id}.{domain}>"),
                # RFC 8058: the https List-Unsubscribe URL takes a one-click POST.
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ],
        )
        self._event = _EventTemplates(dialer, campaign) if dialer.event_enabled else None
        self._stamp = dialer_list.started_at or datetime.now(UTC)
        self._parts: OrderedDict[str, EncodedPart | None] = OrderedDict()
        self._parts_bytes = 0
        self._recent: deque[set[str]] = deque(maxlen=3)
        self._ahead: dict[int, Future[Prepared | NotSendable]] = {}
        self._waiting: deque[ClaimedRecord] = deque()
        self._ahead_lock = threading.Lock()
        self._signing: ThreadPoolExecutor | None = None
        # Unsigned: the next record rendered while the sender waits (``render_next``).
        self._ready: dict[int, Prepared | NotSendable] = {}
        self._taken: set[int] = set()

    def _track_clicks(self, list_id: int, template: Template) -> None:
        """The template's links through the click redirect; the text part keeps them as
        written (it is derived from the original HTML when the template has none)."""
        own = self._pixel[0].rsplit("/p/", 1)[0]
        ids = clicks.register(list_id, clicks.links_in(template.body_html, own))
        if not ids:
            return
        try:
            url = links.external_url(
                "ucmail_tracking.click", link_id=int(clicks.LINK_SLOT), token=clicks.TOKEN_SLOT
            )
        except BuildError as exc:
            raise DialerConfigError(
                "click tracking needs the tracking blueprint: register it with the others"
            ) from exc
        prefix, _, suffix = url.partition(clicks.TOKEN_SLOT)
        tracked = clicks.rewrite(template.body_html, ids, (prefix, suffix))
        self._default_body = _Body(self._default_body.text, compile_template(tracked))
        self._click_token = token_maker("click")

    # -- attachments -----------------------------------------------------------------

    def prepare(self, records: Sequence[ClaimedRecord]) -> None:
        """Load the attachments a batch names, in the thread that owns the session.

        ``render`` then only reads them, from whichever sender thread. Eviction
        spares the last batches too: with overlapping batches, sender threads may
        still be rendering the previous ones.
        """
        wanted = list(dict.fromkeys(t for record in records for t in _tokens(record)))
        missing = [token for token in wanted if token not in self._parts]
        if missing:
            session = get_state().session
            uploads = session.scalars(select(Upload).where(Upload.token.in_(missing)))
            found = {upload.token: upload for upload in uploads}
            for token in missing:
                part = _encoded(found.get(token))
                self._parts[token] = part
                self._parts_bytes += len(part.data) if part else 0
        for token in wanted:
            self._parts.move_to_end(token)
        self._recent.append(set(wanted))
        keep = set().union(*self._recent)
        while self._parts_bytes > _ATTACHMENT_CACHE_BYTES:
            token = next(iter(self._parts))
            if token in keep:
                break
            old = self._parts.pop(token)
            self._parts_bytes -= len(old.data) if old else 0
        if self._signer is not None:
            self._render_ahead(records)
        else:
            self._ready.clear()
            self._taken.clear()
            self._waiting = deque(records)

    # -- signing ahead ---------------------------------------------------------------

    def _render_ahead(self, records: Sequence[ClaimedRecord]) -> None:
        """Signed mail is rendered in a thread of its own, a few records ahead.

        The RSA signature is the costliest step of a signed message (about 1 ms,
        more than a message's SMTP exchange with a local relay); measured in bench
        D7, rendering and signing the next records while the sender waits for the
        server's answer hides most of it. Unsigned mail stays inline (see
        ``InlineSender``: there the hand-off costs what the overlap saves). The
        thread ends with the run: an executor's idle worker exits once the
        executor (held by this composer only) is collected.
        """
        if self._signing is None:
            self._signing = ThreadPoolExecutor(1, thread_name_prefix="ucmail-dkim")
        with self._ahead_lock:
            # An earlier batch's records not yet taken render inline if they come.
            for future in self._ahead.values():
                future.cancel()
            self._ahead.clear()
            self._waiting = deque(records)
            self._fill()

    def _fill(self) -> None:
        assert self._signing is not None
        while self._waiting and len(self._ahead) < _SIGN_AHEAD:
            record = self._waiting.popleft()
            self._ahead[record.id] = self._signing.submit(self._render, record)

    # -- one record ------------------------------------------------------------------

    def _invite(
        self, record: ClaimedRecord, values: Mapping[str, str], missing: set[str]
    ) -> tuple[EncodedPart, EncodedPart] | str | None:
        event = self._event
        if event is None:
            return None
        rendered = {
            name: getattr(event, name).render(values)
            for name in ("title", "organizer_name", "organizer_email")
        }
        for item in rendered.values():
            missing.update(item.missing)
        missing.update(event.dates.missing(values))
        if missing:
            return None
        organizer = rendered["organizer_email"].text.strip()
        if not is_valid_address(organizer):
            return f"calendar event: the organizer {organizer[:80]!r} is not an email address"
        dates = event.dates.resolve(values)
        if isinstance(dates, str):
            return f"calendar event: {dates}"
        start, end = dates
        try:
            ics = build_invite(
                uid=f"ucmail.dialer.{record.id}@{self.domain}",
                title=rendered["title"].text,
                organizer_name=rendered["organizer_name"].text,
                organizer_email=organizer,
                attendee_email=record.email,
                start=start,
                end=end,
                dtstamp=self._stamp,
            )
        except ValueError as exc:
            return f"calendar event: {exc}"
        return encode_calendar(ics)

    def render(self, record: ClaimedRecord) -> Prepared | NotSendable:
        """The record's message, or why it cannot be sent. Never raises for bad data."""
        if self._signing is not None:
            with self._ahead_lock:
                future = self._ahead.pop(record.id, None)
                self._fill()
            if future is not None and not future.cancelled():
                return future.result()
        ready = self._ready.pop(record.id, None)
        if ready is not None:
            return ready
        self._taken.add(record.id)
        return self._render(record)

    def render_next(self) -> None:
        """Render the batch's next record not yet rendered, for ``render`` to hand out.

        Called by a single sender while the server takes the previous message
        (``SmtpConnection.send_raw``'s ``while_waiting``): that time is otherwise
        idle, and rendering in a thread would fight the sender for the GIL. Signed
        mail renders in its own thread instead (``_render_ahead``). Never raises: a
        record that fails here renders again when its turn comes.
        """
        if self._signer is not None or self._ready:
            return
        while self._waiting:
            record = self._waiting.popleft()
            if record.id in self._taken:
                continue
            try:
                self._ready[record.id] = self._render(record)
            except Exception:  # noqa: BLE001 - rendered again, and raises, in its turn
                return
            return

    def _render(self, record: ClaimedRecord) -> Prepared | NotSendable:
        if record.blacklisted:
            return NotSendable(record.id, "skipped", "the address is on the blacklist")
        try:
            row_values = json.loads(record.variables or "{}")
        except ValueError:
            row_values = None
        if not isinstance(row_values, dict):
            return NotSendable(record.id, "failed", "the stored variables are not readable")
        unsubscribe_token = self._unsubscribe_token(record.id)
        unsubscribe_url = f"{self._unsubscribe[0]}{unsubscribe_token}{self._unsubscribe[1]}"
        # Variables every message has; a CSV column of the same name cannot replace them.
        values = {**row_values, "email": record.email, "unsubscribe_url": unsubscribe_url}

        body = _body_from(record.message, "") if record.message.strip() else self._default_body
        subject = self._subject.render(values)
        text = body.text.render(values)
        document = body.html.render_html(values)
        missing = set(subject.missing) | set(text.missing) | set(document.missing)
        invite = self._invite(record, values, missing)
        if missing:
            names = ", ".join(sorted(missing))
            return NotSendable(record.id, "failed", f"missing variable(s): {names}")
        if isinstance(invite, str):
            return NotSendable(record.id, "failed", invite)

        files = []
        for token in _tokens(record):
            part = self._parts.get(token)
            if part is None:
                return NotSendable(
                    record.id, "failed", f"attachment {token} is no longer available"
                )
            files.append(part)

        pixel_url = f"{self._pixel[0]}{self._pixel_token(record.id)}{self._pixel[1]}"
        html_text = document.text
        if self._click_token is not None and body is self._default_body:
            html_text = html_text.replace(clicks.TOKEN_SLOT, self._click_token(record.id))
        header_id = make_message_id("dialer", str(record.id), self.domain)
        try:
            raw = self._skeleton.build(
                to=record.email,
                subject=subject.text,
                message_id=header_id,
                text=text.text,
                html=_with_pixel(html_text, pixel_url),
                per_recipient_headers=[("List-Unsubscribe", f"<{unsubscribe_url}>{self._mailto}")],
                calendar=invite,
                attachments=files,
            )
        except ValueError as exc:
            return NotSendable(record.id, "failed", str(exc))
        if self._signer is not None:
            # Last, over the bytes that go on the wire: one signature per message.
            raw = self._signer.sign(raw)
        return Prepared(record.id, record.email, normalize_message_id(header_id), raw)


def build_composer(dialer_list: DialerList) -> ListComposer:
    """Raises DialerConfigError when nothing of this list can be sent."""
    dialer = dialer_list.dialer
    session = get_state().session
    campaign = session.get(Campaign, dialer.campaign_id)
    if campaign is None or campaign.deleted_at is not None:
        raise DialerConfigError("the dialer's campaign was deleted")
    if not is_valid_address(campaign.email_address):
        raise DialerConfigError("the campaign has no valid sender address")
    template = session.get(Template, dialer.template_id) if dialer.template_id else None
    try:
        return ListComposer(
            dialer=dialer,
            campaign=campaign,
            dialer_list=dialer_list,
            template=template,
            domain=links.message_id_domain(),
            mailto=current_app.config["UCMAIL_DIALER_UNSUBSCRIBE_MAILTO"],
            signer=signer_for(campaign),
        )
    except DecryptionError as exc:
        raise DialerConfigError(
            "the campaign's DKIM key cannot be decrypted with the configured keys: "
            "generate a new key or turn signing off"
        ) from exc
    except ValueError as exc:
        # A line break in the sender name, an unusable Message-ID domain...
        raise DialerConfigError(str(exc)) from exc
