"""A dialer worker in its own process, for the SIGKILL and two-worker tests.

``python -m tests.dialer.worker_process DB_URL TMP_DIR LIST_ID [BARRIER]``: with a
BARRIER folder it writes ``ready-<pid>`` there once the app is built and waits for
``go`` (tests/dialer/workers.py starts several together that way); then it runs the
list and prints its result as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from example_host_app import create_app
from tests.fixtures.app import base_config
from ucmail_ext.services.dialer import send as dialer_send

GO_DEADLINE = 600.0


def wait_for_go(barrier: Path) -> None:
    (barrier / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + GO_DEADLINE
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go file: the test gave up")
        time.sleep(0.01)


def main(argv: list[str]) -> None:
    db_url, tmp_dir, list_id, *rest = argv
    config = base_config(db_url, Path(tmp_dir))
    config.update(UCMAIL_DISPATCH="off", UCMAIL_DIALER_RUN_SECONDS=600)
    app = create_app(config)
    with app.app_context():
        if rest and rest[0]:
            wait_for_go(Path(rest[0]))
        print("started", flush=True)
        result = dialer_send.run_list(int(list_id))
        sent = result.counts.get("sent", 0)
        # Nothing due yet (the other worker booked the domains' next slots): come
        # back, as the beat's next tick would, until the list is through.
        deadline = time.monotonic() + GO_DEADLINE
        while result.outcome == "waiting" and time.monotonic() < deadline:
            time.sleep(0.05)
            result = dialer_send.run_list(int(list_id))
            sent += result.counts.get("sent", 0)
        counts = {**result.counts, "sent": sent}
        print(json.dumps({"outcome": result.outcome, "counts": counts}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
