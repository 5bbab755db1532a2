"""One mailbox poll in its own process, slowed down per message, for the SIGKILL test.

``python -m tests.inbound.poller_process DB_URL FILES_DIR CAMPAIGN_ID DELAY`` prints
``parsed`` (flushed) before each message of a batch is parsed, so the test knows
exactly where the poller is when it kills it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from example_host_app import create_app
from tests.fixtures.app import base_config
from ucmail_ext.services.inbound import ingest


def main(argv: list[str]) -> None:
    db_url, files_dir, campaign_id, delay = argv
    config = base_config(db_url, Path(files_dir))
    config.update(UCMAIL_DISPATCH="off", UCMAIL_FETCH_BATCH=10, UCMAIL_LOCK_TTL=1)
    app = create_app(config)
    parse = ingest.parse_message

    def slow_parse(raw, limits=None):  # type: ignore[no-untyped-def]
        print("parsed", flush=True)
        time.sleep(float(delay))
        return parse(raw, limits)

    ingest.parse_message = slow_parse  # type: ignore[assignment]
    with app.app_context():
        print(ingest.poll_mailbox(int(campaign_id)).status, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
