"""A real Celery worker on Redis runs a ucmail task inside the host's app context."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_worker_runs_ucmail_task_in_app_context(tmp_path, redis_url):
    db_file = tmp_path / "worker.db"
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT),
        HELPDESK_SQLALCHEMY_DATABASE_URI=f"sqlite:///{db_file}",
        HELPDESK_SECRET_KEY="celery-worker-test-secret",
        HELPDESK_BROKER_URL=redis_url,
        HELPDESK_CELERY__result_backend=redis_url,
        HELPDESK_CELERY__task_ignore_result="false",
    )
    migrate = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "example_host_app", "ucmail", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert migrate.returncode == 0, migrate.stderr
    queue = f"ucmail.system.test{os.getpid()}"
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "make_celery",
            "worker",
            "-P",
            "solo",
            "-Q",
            queue,
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "info",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = Celery("probe", broker=redis_url, backend=redis_url)
    try:
        result = client.send_task("ucmail.system.ping", queue=queue)
        summary = result.get(timeout=60)
        assert summary == {"app": "example_host_app", "campaigns": 0, "interactions": 0}
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        client.close()
    time.sleep(0)
