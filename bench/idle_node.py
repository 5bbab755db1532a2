"""One ``flask ucmail idle`` node for ``bench.scale_idle``, in its own process.

``python -m bench.idle_node DB_URL FILES_DIR CONFIG_JSON`` runs an IdleNode until
SIGTERM and prints ``{"listening": n, "round_s": s, "t": <time.time()>}`` whenever
the number of mailboxes with an IDLE running changes (and every second), so the
benchmark sees it from outside.
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
        reported = time.monotonic()
        while runner.is_alive():
            count = len(node.loop.listening())
            if count != last or time.monotonic() - reported > 1:
                line = {"listening": count, "round_s": node.round_seconds, "t": time.time()}
                print(json.dumps(line), flush=True)
                last, reported = count, time.monotonic()
            stop.wait(0.05)
        runner.join()


if __name__ == "__main__":
    main(sys.argv[1:])
