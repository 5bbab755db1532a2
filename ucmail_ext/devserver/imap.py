"""One pymap process per mailbox (its in-memory backend holds one user)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient


@dataclass(frozen=True)
class Mailbox:
    address: str
    password: str
    port: int
    host: str = "127.0.0.1"

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        with IMAPClient(self.host, self.port, ssl=False, timeout=10) as client:
            client.login(self.address, self.password)
            client.append(folder, raw)


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing answers on {host}:{port}") from None
            time.sleep(0.1)


def start_pymap(mailbox: Mailbox, log_file: Path) -> subprocess.Popen[bytes]:
    pymap = Path(sys.executable).with_name("pymap")
    command = [str(pymap)] if pymap.exists() else [sys.executable, "-m", "pymap"]
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            [
                *command,
                "--host",
                mailbox.host,
                "--port",
                str(mailbox.port),
                "--no-tls",
                "dict",
                "--demo-user",
                mailbox.address,
                "--demo-password",
                mailbox.password,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    wait_for_port(mailbox.host, mailbox.port)
    return process
