"""SMTP transport: Flask-Mail builds and sends, behind one small adapter.

Each campaign has its own account, so the adapter feeds Flask-Mail a ``MAIL_*`` dict
per account (``Mail().init_mail(config)``) and sends through ``flask_mail.Connection``,
never through the host app's mail settings.

Flask-Mail 0.10 reads ``current_app`` in two places: ``Message._message()`` (for
``ascii_attachments``) and ``Connection.send()`` (to emit ``email_dispatched``). A
worker must not depend on the host having configured Flask-Mail, so those two calls
run inside the app context of a private, otherwise empty Flask app. That is the only
use of Flask here; nothing of the host app is touched.

What the adapter adds to Flask-Mail: a socket timeout (Flask-Mail sets none, and a
hung server must never hang a worker), lazy reconnect and recycling, outcomes as
values (sent / tempfail / permfail) instead of exceptions, quoted-printable bodies
where Flask-Mail's raw 8-bit would be refused, refusal of CR/LF/NUL in header
values before anything is built, and AUTH XOAUTH2 (Flask-Mail only knows passwords):
with ``oauth_token`` set, each new session asks the token source for a fresh token.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import smtplib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.charset import QP, Charset
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr
from typing import Any, Literal

from flask import Flask
from flask.ctx import AppContext
from flask_mail import Attachment, BadHeaderError, Connection, Mail, Message

from ucmail_ext.mail.headers import HeaderInjectionError, check_header_value
from ucmail_ext.mail.imap import (
    CheckResult,
    TokenSource,
    TokenUnavailable,
    client_tls_context,
    scrub,
)

Security = Literal["ssl", "starttls", "none"]
SendStatus = Literal["sent", "tempfail", "permfail"]
Address = str | tuple[str, str]
CHECK_TIMEOUT = 10.0

# Headers Flask-Mail writes itself, or that have their own parameter here: setting
# them again through extra headers would duplicate them (RFC 5322 §3.6 allows one).
_MANAGED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "reply-to",
        "in-reply-to",
        "references",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 §2.2: printable ASCII except ":"
_MSG_ID = re.compile(r"<[!-;=?-~]+>")  # printable ASCII, no spaces or inner angle brackets
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*")
_CONTENT_ID = re.compile(r"[!-;=?-~]+")
_MAX_LINE = 998  # RFC 5322 §2.1.1, octets without CRLF; ASCII here, so characters


class InvalidHeaderError(ValueError):
    """A header we would build is malformed or would duplicate one Flask-Mail writes.

    Control characters (CR, LF, NUL, ...) raise ``HeaderInjectionError`` instead,
    from ``mail/headers.py``; both are ValueErrors.
    """


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: Security
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    sender: str = ""
    max_emails: int = 100
    verify_tls: bool = True
    ca_file: str | None = None
    # OAuth2 instead of the password: called for a fresh access token at each login.
    oauth_token: TokenSource | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class SendResult:
    """What happened to one message.

    ``tempfail`` is retryable (4xx, dropped connection, timeout, or the account could
    not connect or log in: ``stage == "connect"``, never the message's fault);
    ``permfail`` is the server's 5xx answer to this message. ``refused`` lists the
    recipients the server refused, with code and text, also when others got it.
    """

    status: SendStatus
    code: int | None = None
    text: str = ""
    refused: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    stage: Literal["connect", "send"] = "send"

    @property
    def ok(self) -> bool:
        return self.status == "sent"

    @property
    def retryable(self) -> bool:
        return self.status == "tempfail"


@dataclass(frozen=True)
class OutgoingAttachment:
    """A file to attach; with ``content_id`` it is an inline part for ``cid:`` links."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None


# --------------------------------------------------------------------------- building


def _check_address(what: str, address: Address) -> None:
    parts = address if isinstance(address, tuple) else (address,)
    for part in parts:
        check_header_value(part, what)


def _check_msg_id(what: str, value: str) -> None:
    check_header_value(value, what)
    if not _MSG_ID.fullmatch(value):
        raise InvalidHeaderError(f"{what} must look like <id@domain>, got {value[:80]!r}")


def _extra_header_value(name: str, value: str) -> str:
    if not _HEADER_NAME.fullmatch(name):
        raise InvalidHeaderError(f"invalid header name {name[:80]!r}")
    if name.lower() in _MANAGED_HEADERS:
        raise InvalidHeaderError(f"header {name} is set by its own parameter, not as extra")
    check_header_value(value, f"header {name}")
    return value if value.isascii() else Header(value, "utf-8").encode()


def _attachment(item: OutgoingAttachment) -> Attachment:
    check_header_value(item.filename, "attachment file name")
    if not _CONTENT_TYPE.fullmatch(item.content_type):
        raise InvalidHeaderError(f"invalid attachment content type {item.content_type[:80]!r}")
    if item.content_id is None:
        return Attachment(item.filename, item.content_type, item.data)
    if not _CONTENT_ID.fullmatch(item.content_id):
        raise InvalidHeaderError(f"invalid inline content id {item.content_id[:80]!r}")
    return Attachment(
        item.filename,
        item.content_type,
        item.data,
        disposition="inline",
        headers={"Content-ID": f"<{item.content_id}>"},
    )


class _Message(Message):
    """Flask-Mail's Message, with body parts that survive any SMTP server.

    Flask-Mail registers utf-8 with no body encoding, so a body goes out as raw
    8-bit with its lines as they are: a one-line HTML template over 998 octets is
    refused ("500 Line too long", RFC 5321 §4.5.3.1.6) and non-ASCII text needs an
    8BITMIME server. Such parts are quoted-printable here; short ASCII stays 7bit.
    """

    def _mimetext(self, text: str | None, subtype: str = "plain") -> MIMEText:
        text = text or ""
        if text.isascii() and all(len(line) <= _MAX_LINE for line in text.splitlines()):
            return super()._mimetext(text, subtype)
        charset = Charset("utf-8")
        charset.body_encoding = QP
        return MIMEText(text, _subtype=subtype, _charset=charset)  # type: ignore[arg-type]

    def _message(self) -> MIMEBase:
        """Inline images go with the HTML in a multipart/related (RFC 2387).

        Flask-Mail puts every file in the multipart/mixed beside the text, where
        Outlook and Apple Mail list a pasted image as an attachment as well as
        showing it; inside multipart/related they are the HTML's own resources.
        """
        message = super()._message()
        parts = message.get_payload() if message.is_multipart() else []
        if not parts or parts[0].get_content_type() != "multipart/alternative":
            return message
        inline = [
            part
            for part in parts[1:]
            if part.get("Content-ID") and part.get_content_disposition() == "inline"
        ]
        if not inline:
            return message
        related = MIMEMultipart("related")
        for part in (parts[0], *inline):
            related.attach(part)
        files = [part for part in parts[1:] if not any(part is item for item in inline)]
        message.set_payload([related, *files])
        return message


def build_message(
    *,
    sender: Address,
    to: Sequence[Address],
    subject: str,
    text: str = "",
    html: str | None = None,
    cc: Sequence[Address] = (),
    bcc: Sequence[Address] = (),
    reply_to: Address | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    attachments: Sequence[OutgoingAttachment] = (),
    headers: Mapping[str, str] | None = None,
    date: float | None = None,
) -> Message:
    """A Flask-Mail ``Message``, with every header value checked before building.

    Raises ``HeaderInjectionError`` for a control character in any value and
    ``InvalidHeaderError`` for a malformed one; both are ValueErrors naming the field.
    """
    if not (to or cc or bcc):
        raise ValueError("a message needs at least one recipient")
    _check_address("sender", sender)
    for what, addresses in (("To", to), ("Cc", cc), ("Bcc", bcc)):
        for address in addresses:
            _check_address(f"{what} address", address)
    if reply_to is not None:
        _check_address("Reply-To", reply_to)
    check_header_value(subject, "subject")
    extra = {name: _extra_header_value(name, value) for name, value in (headers or {}).items()}
    if in_reply_to:
        _check_msg_id("In-Reply-To", in_reply_to)
        extra["In-Reply-To"] = in_reply_to
    if references:
        for reference in references:
            _check_msg_id("References", reference)
        extra["References"] = " ".join(references)
    if message_id is not None:
        _check_msg_id("Message-ID", message_id)
    message = _Message(
        subject=subject,
        recipients=list(to),
        body=text,
        html=html,
        # Flask-Mail joins a (name, address) sender without quoting, which breaks
        # on "Doe, John"; formataddr quotes it.
        sender=formataddr(sender) if isinstance(sender, tuple) else sender,
        cc=list(cc),
        bcc=list(bcc),
        reply_to=reply_to,
        date=date,
        extra_headers=extra or None,
        attachments=[_attachment(item) for item in attachments],
    )
    if message_id is not None:
        # msgId, not extra_headers: Flask-Mail always writes msgId, so a second one
        # in extra headers would give the message two Message-ID fields.
        message.msgId = message_id
    return message


@functools.cache
def _private_app() -> Flask:
    app = Flask(__name__)
    Mail(app)
    return app


def _flask_mail_context() -> AppContext:
    return _private_app().app_context()


def message_bytes(message: Message) -> bytes:
    """Render a Flask-Mail message to the bytes that go on the wire (for ``send_raw``)."""
    with _flask_mail_context():
        return message.as_bytes()


# --------------------------------------------------------------------------- sending


_LEADING_PERIOD = re.compile(rb"(?m)^\.")


class _KeepsRefusals:
    """Connection.send() drops sendmail()'s partial refusals; keep the last ones.

    ``while_waiting`` (one message's): work to do once the body is sent, before
    the server's answer is read.
    """

    last_refused: dict[str, tuple[int, bytes]] = {}
    while_waiting: Callable[[], None] | None = None

    def sendmail(self, *args: Any, **kwargs: Any) -> dict[str, tuple[int, bytes]]:
        self.last_refused = {}
        refused = super().sendmail(*args, **kwargs)  # type: ignore[misc]
        self.last_refused = refused
        return refused

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        """smtplib's DATA, with ``while_waiting`` run while the server takes the body.

        Checking and storing the message is the server's longest step of a
        transaction; the dialer renders its next message meanwhile instead of after
        the answer (bench D1). Bytes only, as smtplib sends them: periods quoted
        (RFC 5321 §4.5.2), CRLF, then the final dot.
        """
        hook, self.while_waiting = self.while_waiting, None
        if hook is None or not isinstance(msg, bytes):
            return super().data(msg)  # type: ignore[misc,no-any-return]
        self.putcmd("data")  # type: ignore[attr-defined]
        code, reply = self.getreply()  # type: ignore[attr-defined]
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        body = _LEADING_PERIOD.sub(b"..", msg)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.send(body + b".\r\n")  # type: ignore[attr-defined]
        hook()
        return self.getreply()  # type: ignore[attr-defined,no-any-return]


class _SMTP(_KeepsRefusals, smtplib.SMTP):
    pass


class _SMTPSSL(_KeepsRefusals, smtplib.SMTP_SSL):
    pass


class _TimeoutConnection(Connection):
    """Flask-Mail's Connection with a socket timeout and verified TLS."""

    def __init__(self, settings: SmtpSettings) -> None:
        super().__init__(Mail().init_mail(_mail_config(settings)))
        self.settings = settings
        # The last token sent, to scrub from any error text.
        self.token = ""

    def configure_host(self) -> _SMTP:
        settings = self.settings
        if settings.oauth_token is not None:
            # Before connecting: a campaign whose grant is gone then costs the server nothing.
            self.token = settings.oauth_token()
        context = None
        if settings.security != "none":
            context = client_tls_context(settings.verify_tls, settings.ca_file)
        host: _SMTP
        if self.mail.use_ssl:
            host = _SMTPSSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        else:
            host = _SMTP(settings.host, settings.port, timeout=settings.timeout)
        try:
            if self.mail.use_tls:
                host.starttls(context=context)
            if settings.oauth_token is not None:
                _xoauth2_login(host, settings.username, self.token)
            elif self.mail.username and self.mail.password:
                host.login(self.mail.username, self.mail.password)
        except BaseException:
            host.close()
            raise
        return host


def _xoauth2_login(host: smtplib.SMTP, username: str, token: str) -> None:
    """AUTH XOAUTH2 (Google's and Microsoft's SASL profile of a bearer token).

    On a bad token the server first sends a 334 error challenge (base64 JSON); the
    client must answer it with an empty line to get the final 535.
    """
    auth_string = f"user={username}\x01auth=Bearer {token}\x01\x01"
    host.ehlo_or_helo_if_needed()
    host.auth("XOAUTH2", lambda challenge=None: "" if challenge else auth_string)


def _mail_config(settings: SmtpSettings) -> dict[str, Any]:
    return {
        "MAIL_SERVER": settings.host,
        "MAIL_PORT": settings.port,
        "MAIL_USE_SSL": settings.security == "ssl",
        "MAIL_USE_TLS": settings.security == "starttls",
        "MAIL_USERNAME": settings.username or None,
        "MAIL_PASSWORD": settings.password or None,
        "MAIL_DEFAULT_SENDER": settings.sender or None,
        # Recycling is SmtpConnection's: Flask-Mail reconnects right after a delivered
        # message, so a failed reconnect would look like that message's failure.
        "MAIL_MAX_EMAILS": None,
        "MAIL_SUPPRESS_SEND": False,
    }


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, UnicodeError):
        return "a non-ASCII address or credential needs SMTPUTF8, which is not in use"
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, smtplib.SMTPException) else f"{type(exc).__name__}: {text}"


def _status_for(code: int) -> SendStatus:
    return "permfail" if 500 <= code < 600 else "tempfail"


class SmtpConnection:
    """One SMTP session reused for a batch of messages.

    Connects on the first send, reconnects after a dropped connection, and starts a
    new session after ``max_emails`` messages. Every outcome is a ``SendResult``;
    only a malformed message raises (``ValueError``).
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._connection = _TimeoutConnection(settings)
        self._sent_on_session = 0
        self.sessions_opened = 0

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        host = self._connection.host
        self._connection.host = None
        if host is not None:
            try:
                host.quit()
            except (smtplib.SMTPException, OSError):
                host.close()

    def send(self, message: Message) -> SendResult:
        """Send a Flask-Mail message (see ``build_message``)."""
        if not message.send_to:
            raise ValueError("a message needs at least one recipient")
        if not message.sender:
            raise ValueError("a message needs a sender")

        def deliver() -> dict[str, tuple[int, bytes]]:
            with _flask_mail_context():
                self._connection.send(message)
            return self._host.last_refused

        return self._attempt(deliver)

    def send_raw(
        self,
        from_addr: str,
        to_addrs: Sequence[str],
        raw: bytes,
        while_waiting: Callable[[], None] | None = None,
    ) -> SendResult:
        """Send pre-rendered bytes on the same session: the dialer's fast path.

        ``while_waiting`` runs once the body is on its way, before the server's
        answer is read (not at all when the transaction fails earlier); it must not
        raise.
        """
        if not to_addrs:
            raise ValueError("a message needs at least one recipient")
        for address in (from_addr, *to_addrs):
            check_header_value(address, "envelope address")

        def deliver() -> dict[str, tuple[int, bytes]]:
            host = self._host
            host.while_waiting = while_waiting
            try:
                return host.sendmail(from_addr, list(to_addrs), raw)
            finally:
                host.while_waiting = None

        return self._attempt(deliver)

    @property
    def _host(self) -> _SMTP:
        host = self._connection.host
        assert host is not None
        return host  # type: ignore[return-value]

    def _ensure_session(self) -> None:
        host = self._connection.host
        alive = host is not None and host.sock is not None
        if alive and self._sent_on_session >= max(self.settings.max_emails, 1):
            self.close()
            alive = False
        if not alive:
            self._connection.host = None
            self._connection.host = self._connection.configure_host()
            self._sent_on_session = 0
            self.sessions_opened += 1

    def _drop_session(self) -> None:
        host = self._connection.host
        self._connection.host = None
        if host is not None:
            host.close()

    def _attempt(self, deliver: Callable[[], dict[str, tuple[int, bytes]]]) -> SendResult:
        password = self.settings.password
        try:
            self._ensure_session()
        except (smtplib.SMTPException, OSError, UnicodeError, TokenUnavailable) as exc:
            where = f"{self.settings.host}:{self.settings.port}"
            reason = str(exc) if isinstance(exc, TokenUnavailable) else _describe(exc)
            text = scrub(f"cannot connect or log in to {where}: {reason}", password)
            text = scrub(text, self._connection.token)
            code = exc.smtp_code if isinstance(exc, smtplib.SMTPResponseException) else None
            return SendResult("tempfail", code, text, stage="connect")
        self._sent_on_session += 1
        try:
            refused = deliver()
        except BadHeaderError:
            raise HeaderInjectionError("the message has a line break in a header") from None
        except smtplib.SMTPRecipientsRefused as exc:
            details = {rcpt: (code, _text(text)) for rcpt, (code, text) in exc.recipients.items()}
            if self._connection.host is not None and self._connection.host.sock is None:
                self._drop_session()
            status: SendStatus = (
                "tempfail"
                if any(_status_for(code) == "tempfail" for code, _ in details.values())
                else "permfail"
            )
            summary = "; ".join(f"{rcpt}: {code} {text}" for rcpt, (code, text) in details.items())
            first_code = next(iter(details.values()))[0] if details else None
            return SendResult(status, first_code, scrub(summary, password), details)
        except smtplib.SMTPResponseException as exc:
            if self._connection.host is not None and self._connection.host.sock is None:
                self._drop_session()
            text = scrub(_describe(exc), password)
            return SendResult(_status_for(exc.smtp_code), exc.smtp_code, text)
        except UnicodeError as exc:
            self._drop_session()
            return SendResult("permfail", None, _describe(exc))
        except (smtplib.SMTPException, OSError) as exc:
            # Disconnected, timed out, reset: the session's state is unknown.
            self._drop_session()
            return SendResult(
                "tempfail", None, scrub(f"connection lost: {_describe(exc)}", password)
            )
        partial = {rcpt: (code, _text(text)) for rcpt, (code, text) in refused.items()}
        return SendResult("sent", 250, "", partial)


def check_login(settings: SmtpSettings) -> CheckResult:
    """EHLO, STARTTLS or SSL, and AUTH with a short timeout; never raises."""
    quick = dataclasses.replace(settings, timeout=min(settings.timeout, CHECK_TIMEOUT))
    where = f"{settings.host}:{settings.port}"
    connection = _TimeoutConnection(quick)
    try:
        host = connection.configure_host()
    except TokenUnavailable as exc:
        return CheckResult(False, f"SMTP login failed at {where}: {exc}")
    except smtplib.SMTPAuthenticationError as exc:
        message = f"SMTP login failed at {where}: {_describe(exc)}"
        return CheckResult(False, scrub(scrub(message, settings.password), connection.token))
    except Exception as exc:
        message = f"SMTP connection to {where} failed: {_describe(exc)}"
        return CheckResult(False, scrub(scrub(message, settings.password), connection.token))
    try:
        host.quit()
    except (smtplib.SMTPException, OSError):
        host.close()
    if settings.oauth_token is not None:
        return CheckResult(
            True, f"Connected to {where} and logged in as {settings.username} (OAuth2)."
        )
    if settings.username and settings.password:
        return CheckResult(True, f"Connected to {where} and logged in as {settings.username}.")
    return CheckResult(True, f"Connected to {where} (no login configured).")
