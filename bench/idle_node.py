"""One ``flask ucmail idle`` node for ``bench.scale_idle``, in its own process.

``python -m bench.idle_node DB_URL FILES_DIR CONFIG_JSON`` runs an IdleNode until
SIGTERM and prints ``{"listening": n, "t": <time.time()>}`` whenever the number of
mailboxes with an IDLE running changes, so the benchmark sees it from outside.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time

from bench.common import bench_app
from ucmail_ext.services.inbound.idle_leases import IdleNode


def main(argv: list[str]) -> None:
    db_url, files, extra = argv
    with bench_app(db_url, files, **json.loads(extra)) as app:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        node = IdleNode(app)
        runner = threading.Thread(target=node.run, args=(stop,), daemon=True)
        runner.start()
        last = -1
        while runner.is_alive():
            count = len(node.loop.listening())
            if count != last:
                print(json.dumps({"listening": count, "t": time.time()}), flush=True)
                last = count
            stop.wait(0.05)
        runner.join()


if __name__ == "__main__":
    main(sys.argv[1:])
