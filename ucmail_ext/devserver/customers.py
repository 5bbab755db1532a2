"""Simulated customers: they write in now and then, and thank the agent who answers."""

from __future__ import annotations

import logging
import random
import smtplib
import threading
from email.message import EmailMessage
from email.utils import make_msgid

log = logging.getLogger(__name__)

QUESTIONS = (
    (
        "My order has not arrived",
        "Hello,\n\nI ordered a blue kettle last week and it has not arrived yet. Can you check?\n",
    ),
    (
        "Invoice for October",
        "Hi,\n\ncould you send me the invoice for October again? I cannot find it.\n",
    ),
    (
        "Change of address",
        "Good morning,\n\nI moved. New address: 12 Harbour Street. Please update my account.\n",
    ),
    (
        "Question about the Gold plan",
        "Hello,\n\ndoes the Gold plan include phone support at weekends?\n",
    ),
    (
        "Refund request",
        "Hi team,\n\nthe headphones I received are broken. I would like a refund, please.\n",
    ),
)
NAMES = ("Maria Lopez", "John Smith", "Aiko Tanaka", "Pierre Martin", "Ana Souza", "Liam Byrne")


class CustomerSimulator:
    def __init__(
        self,
        smtp_host: str,
        smtp_port: int,
        campaign_addresses: list[str],
        interval: float,
        first_delay: float = 0.0,
    ) -> None:
        self.first_delay = first_delay
        self.smtp_host, self.smtp_port = smtp_host, smtp_port
        self.addresses = campaign_addresses
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-customers", daemon=True)
        self._answered: set[str] = set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=10) as smtp:
            smtp.send_message(message)

    def write_in(self) -> None:
        subject, body = random.choice(QUESTIONS)
        name = random.choice(NAMES)
        sender = name.lower().replace(" ", ".") + "@customers.test"
        message = EmailMessage()
        message["From"] = f"{name} <{sender}>"
        message["To"] = random.choice(self.addresses)
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain="customers.test")
        message.set_content(body + f"\n{name}\n")
        self._send(message)
        log.info("%s wrote to %s: %s", sender, message["To"], subject)

    def answer(self, customer: str, raw: bytes) -> None:
        """Thank the agent once per conversation, as a reply that must thread."""
        from email import message_from_bytes, policy

        original = message_from_bytes(raw, policy=policy.default)
        if original.get("Auto-Submitted", "no").lower() != "no" or original.get("List-Unsubscribe"):
            return
        subject = str(original.get("Subject", ""))
        key = f"{customer}:{subject}"
        if key in self._answered:
            return
        self._answered.add(key)
        reply = EmailMessage()
        reply["From"] = customer
        reply["To"] = str(original.get("Reply-To") or original.get("From"))
        reply["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
        reply["Message-ID"] = make_msgid(domain="customers.test")
        reply["In-Reply-To"] = str(original.get("Message-ID", ""))
        reply["References"] = (
            f"{original.get('References', '')} {original.get('Message-ID', '')}".strip()
        )
        reply.set_content("Thank you, that solves it!\n")
        threading.Timer(3.0, self._send, args=(reply,)).start()

    def _run(self) -> None:
        # Mail already in a mailbox when ucmail first connects is imported as history
        # (never routed); the first customers wait for that first poll.
        if self._stop.wait(self.first_delay):
            return
        for _ in range(3):
            self._safe(self.write_in)
        while not self._stop.wait(self.interval):
            self._safe(self.write_in)

    def _safe(self, fn) -> None:  # type: ignore[no-untyped-def]
        try:
            fn()
        except OSError as exc:
            log.warning("demo customer could not send: %s", exc)
