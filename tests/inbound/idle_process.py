"""An IDLE node in its own process, for the shard tests.

``python -m tests.inbound.idle_process DB_URL TMP_DIR JSON_CONFIG`` runs an
:class:`IdleNode` until SIGTERM and prints one JSON line per lease event,
``{"box": 3, "on": true, "t": <time.time()>}``: "on" right after the lease was
taken, "off" once the listener is closed and right before the lease is released,
so two processes' lines order the hand-overs as the lease store saw them.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from example_host_app import create_app
from tests.fixtures.app import base_config
from ucmail_ext.services.inbound.idle_leases import IdleNode


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    db_url, tmp_dir, extra = argv
    config = base_config(db_url, Path(tmp_dir))
    config.update(UCMAIL_DISPATCH="off", **json.loads(extra))
    app = create_app(config)
    lock = threading.Lock()

    def changed(box: int, on: bool) -> None:
        with lock:
            print(json.dumps({"box": box, "on": on, "t": time.time()}), flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    node = IdleNode(app, workers=2, on_change=changed)
    print(json.dumps({"node": node.node_id}), flush=True)
    node.run(stop)
    print(json.dumps({"stopped": True}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
