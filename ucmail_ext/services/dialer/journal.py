"""What a dialer worker did since its last commit, for recovery after a crash.

The dialer commits record states in batches (a statement per message would cost
more than the message), so a worker killed mid-batch leaves records in "sending"
whose fate the database does not know. Before each SMTP transaction the worker
appends ``A <id>`` to its journal, and after the server's answer ``D <id> <time>``
(delivered: the server said 250) or ``F <id>`` (refused or never sent). These are
``write(2)`` calls on an ``O_APPEND`` file: a few microseconds, and they survive the
process being killed (the kernel holds the data), though not a power cut.

The journal lives in the storage folder, which every worker already shares (dialer
attachments are read from it), so any worker can recover another's records. It is
emptied after each commit, since the database then knows everything in it.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ucmail_ext.services.storage import storage_root

_TOKEN = re.compile(r"[0-9a-f]{8,64}")


def journal_dir() -> Path:
    path = storage_root() / "dialer-journal"
    path.mkdir(exist_ok=True)
    return path


def journal_path(token: str) -> Path:
    if not _TOKEN.fullmatch(token):
        raise ValueError("not a worker token")
    return journal_dir() / f"{token}.log"


@dataclass
class JournalState:
    """What a dead worker's journal says: per record id, its last line's letter."""

    last: dict[int, str] = field(default_factory=dict)
    delivered: dict[int, datetime] = field(default_factory=dict)


class Journal:
    """The append-only log of one worker run (thread-safe: one write per line)."""

    def __init__(self, token: str) -> None:
        self.path = journal_path(token)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def attempt(self, record_id: int) -> None:
        os.write(self._fd, b"A %d\n" % record_id)

    def delivered(self, record_id: int, at: datetime) -> None:
        os.write(self._fd, b"D %d %.6f\n" % (record_id, at.timestamp()))

    def not_delivered(self, record_id: int) -> None:
        os.write(self._fd, b"F %d\n" % record_id)

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def clear(self) -> None:
        """After a commit: the database now knows all of it."""
        os.ftruncate(self._fd, 0)

    def close(self, keep: bool = False) -> None:
        """Removed after a clean run; ``keep`` it when the database may not know all."""
        os.close(self._fd)
        if not keep:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def read_journal(token: str) -> JournalState | None:
    """None when there is no journal (the worker ran where this folder is not shared)."""
    try:
        data = journal_path(token).read_bytes()
    except (FileNotFoundError, ValueError):
        return None
    state = JournalState()
    for line in data.splitlines():
        parts = line.split()
        # A line cut short by the kill is ignored: it proves nothing.
        if len(parts) < 2 or not parts[1].isdigit():
            continue
        record_id = int(parts[1])
        letter = parts[0].decode("ascii", "replace")
        if letter == "D":
            try:
                state.delivered[record_id] = datetime.fromtimestamp(float(parts[2]), UTC)
            except (IndexError, ValueError, OverflowError):
                continue
        elif letter not in ("A", "F"):
            continue
        # The last line wins: a record retried in a later batch starts a new story.
        state.last[record_id] = letter
    return state


def discard_journal(token: str) -> None:
    with contextlib.suppress(FileNotFoundError, ValueError):
        journal_path(token).unlink()
