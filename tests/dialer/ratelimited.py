"""An SMTP relay that enforces a message rate the way Postfix does.

Postfix's ``smtpd_client_message_rate_limit`` counts a client's MAIL FROM commands
per fixed time unit (anvil) and, past the limit, answers
``450 4.7.1 Error: too much mail from <ip>`` until the unit is over. This aiosmtpd
handler does the same with ``burst`` messages per ``window`` seconds, so tests and
the benchmark can scale time down while keeping the burst-to-window shape.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from aiosmtpd.smtp import Envelope, Session

from tests.fixtures.servers import LOOPBACK, _ClosingController, free_port

THROTTLE_REPLY = "450 4.7.1 Error: too much mail from 127.0.0.1"


class FixedWindow:
    """Postfix anvil's counter: ``burst`` admissions per fixed ``window`` of seconds.

    Shared by the relays here and in the per-domain pacing tests so that both throttle
    by the same rule; callers hold their own lock around ``admit``.
    """

    def __init__(self, burst: int, window: float) -> None:
        self.burst = burst
        self.window = window
        self.throttled = 0
        self._start = time.monotonic()
        self._unit = -1
        self._in_unit = 0

    def restart(self) -> None:
        self._start = time.monotonic()

    def admit(self) -> bool:
        unit = int((time.monotonic() - self._start) // self.window)
        if unit != self._unit:
            self._unit, self._in_unit = unit, 0
        if self._in_unit >= self.burst:
            self.throttled += 1
            return False
        self._in_unit += 1
        return True


class RateLimitedRelay:
    """A recording relay accepting at most ``burst`` messages per ``window`` seconds."""

    host = LOOPBACK

    def __init__(self, burst: int, window: float, *, keep: bool = True) -> None:
        self.burst = burst
        self.window = window
        self.keep = keep
        self.port = 0
        self.accepted = 0
        self.raws: list[bytes] = []
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._limit = FixedWindow(burst, window)
        self._cond = threading.Condition()
        self._controller: _ClosingController | None = None

    @property
    def throttled(self) -> int:
        return self._limit.throttled

    @property
    def allowed_rate(self) -> float:
        return self.burst / self.window

    def start(self) -> RateLimitedRelay:
        self.port = free_port()
        self._controller = _ClosingController(
            _Handler(self), hostname=self.host, port=self.port, server_hostname="ucmail-relay"
        )
        self._controller.start()
        self._limit.restart()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> RateLimitedRelay:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def admit(self) -> bool:
        """One MAIL FROM: inside this time unit's allowance, or refused."""
        with self._cond:
            return self._limit.admit()

    def record(self, raw: bytes) -> None:
        with self._cond:
            now = time.monotonic()
            self.accepted += 1
            self.first_at = self.first_at if self.first_at is not None else now
            self.last_at = now
            if self.keep:
                self.raws.append(raw)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.accepted >= count, timeout):
                raise TimeoutError(f"relay got {self.accepted} message(s), expected {count}")


class _Handler:
    def __init__(self, relay: RateLimitedRelay) -> None:
        self.relay = relay

    async def handle_MAIL(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not self.relay.admit():
            return THROTTLE_REPLY
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.relay.record(bytes(envelope.original_content or envelope.content or b""))
        return "250 2.0.0 OK: queued"
