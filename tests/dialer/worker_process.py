"""A dialer worker in its own process, for the SIGKILL and two-worker tests.

``python -m tests.dialer.worker_process DB_URL TMP_DIR LIST_ID START_AT`` waits until
the epoch time ``START_AT`` (so two workers start together), runs the list and prints
its result as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from example_host_app import create_app
from tests.fixtures.app import base_config
from ucmail_ext.services.dialer import send as dialer_send


def main(argv: list[str]) -> None:
    db_url, tmp_dir, list_id, start_at = argv
    config = base_config(db_url, Path(tmp_dir))
    config.update(UCMAIL_DISPATCH="off", UCMAIL_DIALER_RUN_SECONDS=600)
    app = create_app(config)
    with app.app_context():
        delay = float(start_at) - time.time()
        if delay > 0:
            time.sleep(delay)
        print("started", flush=True)
        result = dialer_send.run_list(int(list_id))
        print(json.dumps({"outcome": result.outcome, "counts": result.counts}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
