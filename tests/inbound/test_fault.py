"""A poller killed with SIGKILL in the middle of a batch loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from example_host_app.extensions import db
from tests.inbound.helpers import connect, fill, mail, make_campaign, poll
from ucmail_ext.models import MailboxCursor, Message

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def stored_subjects(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Message.subject).order_by(Message.uid)))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_poller_killed_in_the_middle_of_a_batch_loses_and_duplicates_nothing(
    make_app, dovecot, imap_account, tmp_path, backend
):
    app = make_app(backend, UCMAIL_LOCK_TTL=1)
    campaign_id = make_campaign(app, imap_account)
    connect(app, campaign_id)
    fill(dovecot, imap_account, (mail(n) for n in range(30)))
    db_url = app.config["SQLALCHEMY_DATABASE_URI"]
    poller = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.inbound.poller_process",
            db_url,
            str(tmp_path),
            str(campaign_id),
            "0.05",
        ],  # fmt: skip
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Batches of 10: the 15th parse is mid-way through the second batch, whose
        # commit is at least 5 x 50 ms away; the first batch has committed.
        for _ in range(15):
            line = poller.stdout.readline()
            assert line == b"parsed\n", line + poller.stderr.read()
        os.kill(poller.pid, signal.SIGKILL)
    finally:
        poller.kill()
        poller.wait(10)
        poller.stdout.close()
        poller.stderr.close()
    assert poller.returncode == -signal.SIGKILL
    assert len(stored_subjects(app)) == 10

    deadline = time.monotonic() + 10
    while (result := poll(app, campaign_id)).status == "busy":  # the dead poller's lease
        assert time.monotonic() < deadline
        time.sleep(0.2)

    assert (result.status, result.imported) == ("ok", 20)
    assert stored_subjects(app) == [f"Question number {n}" for n in range(30)]
    with app.app_context():
        uids = list(db.session.scalars(select(Message.uid)))
        assert len(set(uids)) == 30
        assert db.session.scalar(select(MailboxCursor.last_uid)) == max(uids)
