"""Dialer workers in their own processes, started together however busy the machine.

A fixed head start ("begin in 3 s") is not enough on a loaded machine: importing the
app can take longer, and the first worker then sends the whole list alone. Each
worker instead says it is ready (a file) and waits for the go file, which the test
writes once every worker is ready.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
READY_DEADLINE = 300.0


def start_worker(db_url: str, tmp_path: Path, list_id: int, barrier: Path | None = None):
    """One worker; with ``barrier`` it waits there for the go file, else starts at once."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.dialer.worker_process", db_url, str(tmp_path),
         str(list_id), str(barrier or "")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def start_workers_together(
    db_url: str, tmp_path: Path, list_id: int, count: int
) -> list[subprocess.Popen[str]]:
    barrier = tmp_path / f"barrier-{time.monotonic_ns()}"
    barrier.mkdir()
    workers = [start_worker(db_url, tmp_path, list_id, barrier) for _ in range(count)]
    deadline = time.monotonic() + READY_DEADLINE
    while len(list(barrier.glob("ready-*"))) < count:
        failed = [w for w in workers if w.poll() is not None]
        assert not failed, failed[0].communicate()[1]
        assert time.monotonic() < deadline, "workers never got ready"
        time.sleep(0.05)
    (barrier / "go").touch()
    return workers


def results(workers: list[subprocess.Popen[str]], timeout: float = 300) -> list[dict[str, Any]]:
    """Each worker's closing JSON line, once it has exited cleanly."""
    found = []
    for worker in workers:
        out, err = worker.communicate(timeout=timeout)
        assert worker.returncode == 0, err
        found.append(json.loads(out.splitlines()[-1]))
    return found
