"""IMAP IDLE listeners: new mail is imported the moment the server announces it.

``flask ucmail idle`` runs an :class:`IdleSupervisor`: one :class:`MailboxListener`
thread per receiving campaign, each holding an IDLE connection (read-only) to the
campaign's folder. When the server reports EXISTS, the listener runs the ordinary
poll (``ingest.poll_mailbox``) itself, in its own thread: arrival does not wait for
a Celery worker, and the poll keeps every guarantee it has elsewhere (lock, cursor,
one transaction per batch). Routing and sending are still enqueued as usual.

Polling by beat stays on as the fallback: a listener that is down, reconnecting
or stopped loses nothing, it only makes arrival slower.

- A poll that finds the mailbox locked by another worker is retried for a few
  seconds: that worker may have selected the folder before our message arrived.
- EXISTS that arrive while the listener is polling are not lost: before IDLE is
  issued again, a NOOP on the IDLE connection collects them and polls again.
- A dropped connection or a login error reconnects with back-off (1 s doubling to
  ``max_backoff``); any other error is logged and treated the same way, so a
  listener thread never dies of an exception.
- IDLE is re-issued every ``UCMAIL_IDLE_TIMEOUT`` seconds (RFC 2177: less than 29
  minutes, or a NAT box forgets the connection). ``stop()`` does not wait for that:
  it shuts the connection's socket, which ends the wait at once.
- The supervisor re-reads the campaigns every ``refresh`` seconds: it starts
  listeners for new receiving campaigns, and restarts those whose campaign was
  edited (``updated_at``) so new settings take effect, or stops them.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from flask import Flask
from sqlalchemy import select

from ucmail_ext.extension import get_state
from ucmail_ext.mail.imap import ImapError, ImapSession, ImapSettings, open_mailbox
from ucmail_ext.models import Campaign
from ucmail_ext.services.inbound import ingest
from ucmail_ext.services.mailboxes import imap_settings

log = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 0.2
BUSY_RETRY_FOR_SECONDS = 10.0


class MailboxListener(threading.Thread):
    """IDLE on one campaign's mailbox until stopped; polls on every arrival."""

    def __init__(
        self,
        app: Flask,
        campaign_id: int,
        *,
        wake_interval: float | None = None,
        min_backoff: float = 1.0,
        max_backoff: float = 60.0,
        version: datetime | None = None,
    ) -> None:
        super().__init__(name=f"ucmail-idle-{campaign_id}", daemon=True)
        self.app = app
        self.campaign_id = campaign_id
        self.version = version
        idle_timeout = float(app.config["UCMAIL_IDLE_TIMEOUT"])
        self.wake_interval = min(wake_interval or idle_timeout, idle_timeout)
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.polls = 0
        self._stop_event = threading.Event()
        self._mailbox: ImapSession | None = None

    def stop(self) -> None:
        self._stop_event.set()
        mailbox = self._mailbox
        if mailbox is not None:
            mailbox.interrupt()

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def run(self) -> None:
        backoff = self.min_backoff
        while not self.stopping:
            try:
                settings = self._settings()
                if settings is None:
                    log.info("campaign %s no longer receives mail: IDLE ends", self.campaign_id)
                    return
                self._listen(settings)
                backoff = self.min_backoff
            except ImapError as exc:
                if self.stopping:
                    return
                log.warning("campaign %s IDLE: %s; retry in %.0f s", self.campaign_id, exc, backoff)
            except Exception:
                log.exception("campaign %s IDLE failed; retry in %.0f s", self.campaign_id, backoff)
            if self._stop_event.wait(backoff):
                return
            backoff = min(backoff * 2, self.max_backoff)

    def _settings(self) -> ImapSettings | None:
        with self.app.app_context():
            campaign = get_state().session.get(Campaign, self.campaign_id)
            if not ingest.is_receiving(campaign):
                return None
            assert campaign is not None
            return imap_settings(campaign)

    def _listen(self, settings: ImapSettings) -> None:
        with open_mailbox(settings, readonly=True) as mailbox:
            self._mailbox = mailbox
            try:
                self._idle(mailbox)
            finally:
                self._mailbox = None

    def _idle(self, mailbox: ImapSession) -> None:
        if not self._poll():  # what arrived while nobody listened
            return
        while not self.stopping:
            # A change made while this connection was not idling (during a poll) is
            # reported with the next command's answer, not once IDLE starts (Dovecot
            # holds it until DONE): collect it with a NOOP before idling again.
            if mailbox.noop() or mailbox.idle_wait(self.wake_interval):
                if not self._poll():
                    return

    def _poll(self) -> bool:
        """Run a poll now; False when the campaign stopped receiving mail."""
        waited = 0.0
        while not self.stopping:
            with self.app.app_context():
                result = ingest.poll_mailbox(self.campaign_id)
            self.polls += 1
            if result.status == "skipped":
                self.stop()
                return False
            if result.status != "busy" or waited >= BUSY_RETRY_FOR_SECONDS:
                return True
            self._stop_event.wait(BUSY_RETRY_SECONDS)
            waited += BUSY_RETRY_SECONDS
        return True


class IdleSupervisor:
    """Keeps one listener per receiving campaign, in step with the campaign table."""

    def __init__(
        self, app: Flask, *, refresh: float = 30.0, wake_interval: float | None = None
    ) -> None:
        self.app = app
        self.refresh = refresh
        self.wake_interval = wake_interval
        self.listeners: dict[int, MailboxListener] = {}

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set; then every listener is stopped and joined."""
        try:
            while not stop.is_set():
                try:
                    self.sync()
                except Exception:
                    log.exception("IDLE supervisor could not read the campaigns")
                stop.wait(self.refresh)
        finally:
            self.stop_all()

    def sync(self) -> None:
        wanted = self._receiving()
        for campaign_id, listener in list(self.listeners.items()):
            changed = wanted.get(campaign_id, listener.version) != listener.version
            if campaign_id not in wanted or changed or not listener.is_alive():
                listener.stop()
                del self.listeners[campaign_id]
        for campaign_id, version in wanted.items():
            if campaign_id not in self.listeners:
                listener = MailboxListener(
                    self.app, campaign_id, wake_interval=self.wake_interval, version=version
                )
                listener.start()
                self.listeners[campaign_id] = listener

    def stop_all(self, timeout: float = 30.0) -> None:
        listeners = list(self.listeners.values())
        self.listeners.clear()
        for listener in listeners:
            listener.stop()
        for listener in listeners:
            listener.join(timeout)

    def _receiving(self) -> dict[int, datetime | None]:
        with self.app.app_context():
            rows = get_state().session.execute(
                select(Campaign.id, Campaign.updated_at).where(ingest.receiving_clause())
            )
            return {campaign_id: updated_at for campaign_id, updated_at in rows}
