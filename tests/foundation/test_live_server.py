"""The test web server leaves no file open when a browser drops a connection.

A page closed while its scripts load resets the connection; werkzeug's dev server
then skipped closing the static file, and the ResourceWarning failed a later,
unrelated browser test (CI, test_desk_browser). This test resets connections the
same way and collects the garbage while it still runs.
"""

from __future__ import annotations

import gc
import socket
import struct
import time
from urllib.parse import urlsplit


def test_a_static_file_is_closed_when_the_browser_resets_the_connection(live_server: str) -> None:
    port = urlsplit(live_server).port
    request = b"GET /ucmail/agent/static/ucmail/editor.js HTTP/1.1\r\nHost: t\r\n\r\nleftover"
    for _ in range(20):
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(request)
        time.sleep(0.005)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
    time.sleep(0.5)
    gc.collect()
