"""`make demo` brings the whole helpdesk up with mail flowing; an agent can log in."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.fixtures.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def consecutive_free_ports() -> int:
    """pymap takes two consecutive ports, one per demo campaign."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def _open(opener, url, data=None, timeout=10):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    with opener.open(url, data=body, timeout=timeout) as response:
        return response.status, response.geturl(), response.read().decode()


@pytest.mark.integration
def test_demo_runs_mail_flows_and_an_agent_logs_in(tmp_path):
    web, smtp, imap = free_port(), free_port(), consecutive_free_ports()
    env = dict(os.environ)
    env.update(
        DEMO_DATA=str(tmp_path / "demo"),
        DEMO_WEB_PORT=str(web),
        DEMO_SMTP_PORT=str(smtp),
        DEMO_IMAP_PORT=str(imap),
        DEMO_CUSTOMER_INTERVAL="600",
        PYTHONPATH=str(ROOT),
    )
    out = open(tmp_path / "demo.out", "wb")
    demo = subprocess.Popen(
        [sys.executable, "-m", "example_host_app.demo"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while b"demo helpdesk runs at" not in (tmp_path / "demo.out").read_bytes():
            assert demo.poll() is None, (tmp_path / "demo.out").read_text()
            assert time.monotonic() < deadline, "demo did not start in 90 s"
            time.sleep(0.5)

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        base = f"http://127.0.0.1:{web}"
        _status, _url, page = _open(opener, f"{base}/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        status, url, page = _open(
            opener,
            f"{base}/login",
            {"email": "agent1@example.com", "password": "demo", "csrf_token": token},
        )
        assert status == 200 and url.rstrip("/") == base
        status, _url, portal = _open(opener, f"{base}/ucmail/agent/")
        assert status == 200

        db = tmp_path / "demo" / "helpdesk.db"
        deadline = time.monotonic() + 60
        count = 0
        while time.monotonic() < deadline:
            with sqlite3.connect(db, timeout=10) as conn:
                count = conn.execute("select count(*) from ucmail_interaction").fetchone()[0]
            if count >= 3:
                break
            time.sleep(1)
        assert count >= 3, "the simulated customers' mail did not become interactions"
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)
            try:
                demo.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()
        out.close()
