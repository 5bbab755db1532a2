"""Test web servers when a browser drops its connection.

A page closed while its scripts load resets the connection. Werkzeug's dev server
then skipped closing the static file, whose ResourceWarning failed a later,
unrelated browser test in CI; and a request thread's printed traceback raced the
test thread's ``ast.parse`` on Python 3.11 (see ``QuietThreadingHTTPServer``).
"""

from __future__ import annotations

import gc
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.fixtures.http_server import QuietThreadingHTTPServer


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


def test_a_fixture_http_server_stays_quiet_when_its_client_leaves(capsys) -> None:
    """No traceback is printed from the request thread (see QuietThreadingHTTPServer)."""
    answered = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            client_gone.wait(10)
            try:
                self.send_response(200)
                self.end_headers()
                for _ in range(64):
                    self.wfile.write(b"x" * 65536)
            finally:
                answered.set()

        def log_message(self, *args: object) -> None:
            pass

    client_gone = threading.Event()
    server = QuietThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = socket.create_connection(("127.0.0.1", server.server_port))
        client.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        client_gone.set()
        assert answered.wait(10)
        for request_thread in threading.enumerate():
            if "process_request_thread" in request_thread.name:
                request_thread.join(10)
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
    assert "Traceback" not in capsys.readouterr().err
