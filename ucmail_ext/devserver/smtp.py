"""The relay: campaign mail into its IMAP mailbox, customer mail into an outbox folder."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from ucmail_ext.devserver.imap import Mailbox

log = logging.getLogger(__name__)


class RelayHandler:
    def __init__(
        self,
        mailboxes: dict[str, Mailbox],
        outbox: Path,
        on_customer_mail: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self.mailboxes = {address.lower(): box for address, box in mailboxes.items()}
        self.outbox = outbox
        self.outbox.mkdir(parents=True, exist_ok=True)
        self.on_customer_mail = on_customer_mail

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        for rcpt in envelope.rcpt_tos:
            box = self.mailboxes.get(rcpt.lower())
            if box is not None:
                box.append(raw)
                continue
            name = f"{time.time():.6f}-{rcpt.replace('/', '_')}.eml"
            (self.outbox / name).write_bytes(raw)
            subject = message_from_bytes(raw, policy=policy.default).get("Subject", "")
            log.info("customer %s received %r", rcpt, subject)
            if self.on_customer_mail is not None:
                self.on_customer_mail(rcpt, raw)
        return "250 2.0.0 delivered"


def _accept_campaign_logins(mailboxes: dict[str, Mailbox]) -> Callable[..., AuthResult]:
    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            user = data.login.decode().lower()
            box = mailboxes.get(user)
            if box is not None and data.password.decode() == box.password:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    return authenticate


def start_relay(
    host: str, port: int, handler: RelayHandler, mailboxes: dict[str, Mailbox]
) -> Controller:
    controller = Controller(
        handler,
        hostname=host,
        port=port,
        authenticator=_accept_campaign_logins({a.lower(): b for a, b in mailboxes.items()}),
        auth_require_tls=False,
    )
    controller.start()
    return controller
