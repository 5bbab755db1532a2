"""IMAP transport: a small, typed session over imapclient.

Everything the inbound flow needs from a mailbox and nothing else: open and select,
find UIDs past a cursor, check sizes, fetch raw bytes without touching \\Seen, set
flags after our commit, and IDLE. Every failure is one ``ImapError`` whose message is
safe to show and log: it never carries the password or an OAuth2 token.

OAuth2 (XOAUTH2, or OAUTHBEARER when the server advertises it, RFC 7628) takes a
*token source* instead of a password: a callable asked for a token on every login,
so a reconnect after a long IDLE logs in with a fresh token, not the expired one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import imaplib
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from imapclient import IMAPClient

Security = Literal["ssl", "starttls", "none"]
CHECK_TIMEOUT = 10.0
# UIDs go comma-separated on one command line; Dovecot refuses lines over 64 KiB.
_SIZES_BATCH = 1000


class ImapError(Exception):
    """Any IMAP failure: connection, TLS, login, protocol. The message is safe to show."""


class TokenUnavailable(Exception):
    """A token source cannot give a token now; the message is safe to show.

    Raised by the caller's token source (refresh failed, consent revoked); the
    adapters turn it into their own failure (``ImapError``, an SMTP tempfail).
    """


TokenSource = Callable[[], str]


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: Security
    username: str
    password: str = field(repr=False)
    timeout: float = 30.0
    folder: str = "INBOX"
    verify_tls: bool = True
    ca_file: str | None = None
    # OAuth2 instead of the password: called for a fresh access token at each login.
    oauth_token: TokenSource | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a "test connection" button: the server's own words on failure."""

    ok: bool
    message: str


def client_tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """TLS client context; ``verify=False`` is for self-hosted servers with their own cert."""
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def scrub(text: str, secret: str) -> str:
    """Remove a secret from a message that may reach a page or a log line."""
    return text.replace(secret, "***") if secret else text


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, imaplib.IMAP4.error):
        text = str(exc)
        # imapclient wraps server answers as "b'...'"; show the server's text.
        if text.startswith(("b'", 'b"')) and text.endswith(text[1]):
            text = text[2:-1]
        return text
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _errors(settings: ImapSettings, doing: str, token: str = "") -> Iterator[None]:
    try:
        yield
    except ImapError:
        raise
    except (imaplib.IMAP4.error, OSError, EOFError, TokenUnavailable) as exc:
        where = f"{settings.host}:{settings.port}"
        text = str(exc) if isinstance(exc, TokenUnavailable) else _describe(exc)
        message = scrub(scrub(f"IMAP {doing} failed at {where}: {text}", settings.password), token)
        # "from None": tracebacks and loggers then leave out the original exception,
        # which may quote what we sent.
        raise ImapError(message) from None


def _connect(settings: ImapSettings) -> IMAPClient:
    token = ""
    if settings.oauth_token is not None:
        # Before connecting: a campaign whose grant is gone then costs the server nothing.
        with _errors(settings, "login"):
            token = settings.oauth_token()
    # Loading the CA bundle costs more than a whole login on a LAN: only for TLS.
    context = None
    if settings.security != "none":
        context = client_tls_context(settings.verify_tls, settings.ca_file)
    with _errors(settings, "connection"):
        client = IMAPClient(
            settings.host,
            settings.port,
            ssl=settings.security == "ssl",
            ssl_context=context,
            timeout=settings.timeout,
        )
    try:
        if settings.security == "starttls":
            with _errors(settings, "STARTTLS"):
                client.starttls(context)
        if settings.oauth_token is not None:
            _oauth_login(client, settings, token)
            return client
        with _errors(settings, "login"):
            if settings.password.isascii() and settings.username.isascii():
                client.login(settings.username, settings.password)
            else:
                # LOGIN is ASCII-only in imaplib; AUTHENTICATE PLAIN carries UTF-8.
                client.plain_login(settings.username, settings.password)
    except BaseException:
        _close_quietly(client)
        raise
    return client


def _oauth_login(client: IMAPClient, settings: ImapSettings, token: str) -> None:
    with _errors(settings, "login", token):
        # Gmail offers both; Exchange Online only XOAUTH2 (its documented mechanism).
        if b"AUTH=OAUTHBEARER" in client.capabilities():
            client.oauthbearer_login(settings.username, token)
        else:
            client.oauth2_login(settings.username, token)


def _close_quietly(client: IMAPClient) -> None:
    with contextlib.suppress(Exception):
        client.shutdown()


def _chunks(uids: Iterable[int], size: int) -> Iterator[list[int]]:
    ordered = sorted(set(uids))
    for index in range(0, len(ordered), size):
        yield ordered[index : index + size]


class ImapSession:
    """A logged-in connection with one folder selected. Use it as a context manager."""

    def __init__(self, client: IMAPClient, settings: ImapSettings, readonly: bool) -> None:
        self._client = client
        self._settings = settings
        self.readonly = readonly
        with self._errors("SELECT"):
            info = client.select_folder(settings.folder, readonly=readonly)
            self.uidvalidity = int(info[b"UIDVALIDITY"])
            self.exists = int(info.get(b"EXISTS", 0))
            uidnext = info.get(b"UIDNEXT")
            if uidnext is None:
                uidnext = client.folder_status(settings.folder, ["UIDNEXT"])[b"UIDNEXT"]
            self.uidnext = int(uidnext)

    def _errors(self, doing: str) -> contextlib.AbstractContextManager[None]:
        return _errors(self._settings, doing)

    def __enter__(self) -> ImapSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Log out; a connection that is already broken is simply dropped."""
        try:
            self._client.logout()
        except Exception:
            _close_quietly(self._client)

    def search_new(self, last_uid: int) -> list[int]:
        """UIDs above the cursor, ascending.

        ``UID SEARCH UID n:*`` always matches the highest UID, even when it is below
        n (RFC 3501 §6.4.8: "*" is the largest UID in use), so filter the answer.
        """
        floor = max(last_uid, 0)
        with self._errors("UID SEARCH"):
            found = self._client.search(["UID", f"{floor + 1}:*"])
        return sorted(uid for uid in found if uid > floor)

    def sizes(self, uids: Iterable[int]) -> dict[int, int]:
        """RFC822.SIZE per UID, to skip oversized mail before downloading it."""
        result: dict[int, int] = {}
        for chunk in _chunks(uids, _SIZES_BATCH):
            with self._errors("FETCH RFC822.SIZE"):
                data = self._client.fetch(chunk, ["RFC822.SIZE"])
            for uid, item in data.items():
                if b"RFC822.SIZE" in item:
                    result[uid] = int(item[b"RFC822.SIZE"])
        return result

    def fetch_raw(self, uids: Iterable[int], batch: int = 100) -> Iterator[tuple[int, bytes]]:
        """(UID, raw bytes) in UID order; BODY.PEEK[] so \\Seen stays as the user left it.

        A UID expunged meanwhile is skipped, not an error.
        """
        for chunk in _chunks(uids, batch):
            with self._errors("FETCH BODY.PEEK[]"):
                data = self._client.fetch(chunk, ["BODY.PEEK[]"])
            for uid in sorted(data):
                raw = data[uid].get(b"BODY[]")
                if raw is not None:
                    yield uid, bytes(raw)

    def fetch_headers(self, uids: Iterable[int]) -> Iterator[tuple[int, bytes]]:
        """(UID, header block) for mail too large to download whole."""
        for chunk in _chunks(uids, _SIZES_BATCH):
            with self._errors("FETCH BODY.PEEK[HEADER]"):
                data = self._client.fetch(chunk, ["BODY.PEEK[HEADER]"])
            for uid in sorted(data):
                raw = data[uid].get(b"BODY[HEADER]")
                if raw is not None:
                    yield uid, bytes(raw)

    def add_flags(self, uids: Iterable[int], flags: Iterable[str | bytes]) -> None:
        if self.readonly:
            # Dovecot answers OK and ignores STORE on an EXAMINEd folder.
            raise ImapError(f"cannot set flags: {self._settings.folder} was opened read-only")
        flag_list = list(flags)
        for chunk in _chunks(uids, _SIZES_BATCH):
            with self._errors("STORE +FLAGS"):
                self._client.add_flags(chunk, flag_list, silent=True)

    def idle_wait(self, timeout: float) -> bool:
        """IDLE until new mail (EXISTS/RECENT) or ``timeout``; True if mail arrived."""
        deadline = time.monotonic() + timeout
        arrived = False
        with self._errors("IDLE"):
            self._client.idle()
            try:
                while not arrived:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    responses = self._client.idle_check(timeout=remaining)
                    arrived = _has_new_mail(responses)
                    if not responses and time.monotonic() < deadline - 0.01:
                        # Readable but nothing parsed: the server hung up. IDLE DONE
                        # below turns that into an error instead of a busy loop.
                        break
            finally:
                _, responses = self._client.idle_done()
            return arrived or _has_new_mail(responses)

    def interrupt(self) -> None:
        """From another thread: make a blocking :meth:`idle_wait` end now (in ImapError).

        Shutting the socket down wakes the waiting select at once; the session is
        unusable afterwards, which is the point: its owner is being stopped.
        """
        with contextlib.suppress(OSError):
            self._client.socket().shutdown(socket.SHUT_RDWR)

    def noop(self) -> bool:
        """Keep the connection alive; True if the server reported new mail meanwhile."""
        with self._errors("NOOP"):
            _, responses = self._client.noop()
        return _has_new_mail(responses)

    # IDLE in steps, so that one thread can wait on many mailboxes with a selector.
    def fileno(self) -> int:
        return int(self._client.socket().fileno())

    def idle_start(self) -> None:
        """Enter IDLE and return; when :meth:`fileno` is readable, call :meth:`idle_read`."""
        with self._errors("IDLE"):
            self._client.idle()

    def idle_read(self) -> bool:
        """Read what IDLE announced without blocking; True if new mail arrived.

        Readable with nothing to read means the server hung up: that is an ImapError.
        """
        with self._errors("IDLE"):
            responses = self._client.idle_check(timeout=0)
        if not responses:
            where = f"{self._settings.host}:{self._settings.port}"
            raise ImapError(f"IMAP IDLE failed at {where}: the server closed the connection")
        return _has_new_mail(responses)

    def idle_stop(self) -> bool:
        """Leave IDLE (DONE); True if new mail was announced meanwhile."""
        with self._errors("IDLE DONE"):
            _, responses = self._client.idle_done()
        return _has_new_mail(responses)


def _has_new_mail(responses: Iterable[object]) -> bool:
    return any(
        isinstance(item, tuple) and len(item) >= 2 and item[1] in (b"EXISTS", b"RECENT")
        for item in responses
    )


def open_mailbox(settings: ImapSettings, *, readonly: bool = False) -> ImapSession:
    """Connect, log in and select ``settings.folder``; raises ImapError."""
    client = _connect(settings)
    try:
        return ImapSession(client, settings, readonly)
    except BaseException:
        _close_quietly(client)
        raise


def check_login(settings: ImapSettings) -> CheckResult:
    """Try to connect and log in with a short timeout; never raises."""
    quick = dataclasses.replace(settings, timeout=min(settings.timeout, CHECK_TIMEOUT))
    try:
        client = _connect(quick)
    except ImapError as exc:
        return CheckResult(False, str(exc))
    except Exception as exc:
        message = f"IMAP check failed: {type(exc).__name__}: {exc}"
        return CheckResult(False, scrub(message, settings.password))
    try:
        with _errors(quick, "folder check"):
            folder_found = client.folder_exists(settings.folder)
    except ImapError as exc:
        return CheckResult(False, str(exc))
    finally:
        with contextlib.suppress(Exception):
            client.logout()
    where = f"{settings.host}:{settings.port} as {settings.username}"
    if not folder_found:
        return CheckResult(
            False, f"Logged in to {where}, but folder {settings.folder!r} does not exist."
        )
    return CheckResult(True, f"Logged in to {where}; folder {settings.folder!r} found.")


__all__ = [
    "CheckResult",
    "ImapError",
    "ImapSession",
    "ImapSettings",
    "TokenSource",
    "TokenUnavailable",
    "check_login",
    "client_tls_context",
    "open_mailbox",
]
