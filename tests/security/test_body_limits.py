"""Request bodies are bounded before they are read: role and CSRF first, then a per-
endpoint limit answered with 413 and a message in the units a person uses."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.dialer.helpers import make_campaign, make_dialer
from tests.fixtures.app import csrf_token
from ucmail_ext.auth import format_bytes

MB = 1024 * 1024
HUGE = 300 * MB


class CountingStream:
    """A body of ``size`` bytes that is never held in memory; counts what the app reads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.read_bytes = 0

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = self.size + offset if whence == 2 else offset
        return self.position

    def read(self, size: int = -1) -> bytes:
        left = self.size - self.position
        size = left if size is None or size < 0 else min(size, left)
        self.position += size
        self.read_bytes += size
        return b"x" * size

    def readline(self, size: int = -1) -> bytes:
        return self.read(64 * 1024 if size is None or size < 0 else size)


@pytest.fixture
def dialer_id(app: Any) -> int:
    with app.app_context():
        return make_dialer(make_campaign(2525))


def huge_post(client: Any, url: str, length: int = HUGE, **headers: str) -> tuple[Any, int]:
    stream = CountingStream(length)
    response = client.post(
        url,
        input_stream=stream,
        content_type="multipart/form-data; boundary=zzz",
        headers=headers,
    )
    return response, stream.read_bytes


def test_limits_read_as_a_person_would_say_them():
    assert format_bytes(200 * MB) == "200 MB"
    assert format_bytes(MB) == "1 MB"
    assert format_bytes(512 * 1024) == "512 KB"
    assert format_bytes(int(2.5 * MB)) == "2.5 MB"


def test_anonymous_huge_post_is_sent_to_login_unread(app, users, dialer_id):
    response, read = huge_post(app.test_client(), f"/ucmail/dialer/{dialer_id}/lists")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert read == 0


def test_wrong_role_huge_post_is_forbidden_unread(app, client_for, dialer_id):
    agent = client_for("agent1")
    token = csrf_token(agent, app)
    response, read = huge_post(agent, f"/ucmail/dialer/{dialer_id}/lists", **{"X-CSRFToken": token})
    assert response.status_code == 403
    assert read == 0


def test_upload_over_its_limit_is_413_in_megabytes_unread(app, client_for, dialer_id):
    supervisor = client_for("supervisor")
    token = csrf_token(supervisor, app)
    for url in (f"/ucmail/dialer/{dialer_id}/lists", f"/ucmail/dialer/{dialer_id}/attachments"):
        response, read = huge_post(supervisor, url, 201 * MB, **{"X-CSRFToken": token})
        assert response.status_code == 413
        assert "The file is larger than 200 MB." in response.get_data(as_text=True)
        assert read == 0


def test_upload_limit_follows_its_setting(app, client_for, dialer_id):
    app.config["UCMAIL_UPLOAD_MAX_BYTES"] = 5 * MB
    supervisor = client_for("supervisor")
    token = csrf_token(supervisor, app)
    url = f"/ucmail/dialer/{dialer_id}/lists"
    response, _ = huge_post(supervisor, url, 6 * MB, **{"X-CSRFToken": token})
    assert response.status_code == 413
    assert "The file is larger than 5 MB." in response.get_data(as_text=True)


def test_other_forms_take_one_megabyte(app, client_for):
    admin = client_for("admin")
    token = csrf_token(admin, app)
    response = admin.post("/ucmail/templates/", data={"csrf_token": token, "name": "x" * (2 * MB)})
    assert response.status_code == 413
    assert "The request is larger than 1 MB." in response.get_data(as_text=True)


def test_agent_reply_has_its_own_limit(app, client_for):
    agent = client_for("agent1")
    token = csrf_token(agent, app)
    response, read = huge_post(
        agent, "/ucmail/agent/interactions/1/send", 26 * MB, **{"X-CSRFToken": token}
    )
    assert response.status_code == 413
    assert "The message with its attachments is larger than 25 MB." in response.text
    assert read == 0


def test_json_clients_get_json_413(app, client_for):
    admin = client_for("admin")
    token = csrf_token(admin, app)
    response = admin.post(
        "/ucmail/api/campaigns",
        data=b"{" + b" " * (2 * MB) + b"}",
        headers={"X-CSRFToken": token, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "The request is larger than 1 MB."


def test_a_limit_the_host_set_lower_wins(app, client_for):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    admin = client_for("admin")
    token = csrf_token(admin, app)
    response = admin.post("/ucmail/templates/", data={"csrf_token": token, "name": "x" * 2000})
    assert response.status_code == 413


# --------------------------------------------------------------------------- real server


def raw_request(base: str, head: str, body_start: bytes) -> tuple[int, bytes]:
    """Send the head and the first bytes of a declared 300 MB body, then read the
    answer. A server that tried to read the whole body would never answer."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=120) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n" + body_start)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        head_end = answer.find(b"\r\n\r\n")
        length = 0
        for line in answer[:head_end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = answer[head_end + 4 :]
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(answer.split(b" ", 2)[1]), body


def post_head(path: str, length: int, cookie: str = "", token: str = "") -> str:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: multipart/form-data; boundary=zzz",
        f"Content-Length: {length}",
    ]
    if cookie:
        lines.append(f"Cookie: session={cookie}")
    if token:
        lines.append(f"X-CSRFToken: {token}")
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.integration
def test_real_server_refuses_a_huge_anonymous_post_without_reading_it(live_server, app):
    with app.app_context():
        dialer = make_dialer(make_campaign(2525))
    status, _ = raw_request(
        live_server, post_head(f"/ucmail/dialer/{dialer}/lists", HUGE), b"--zzz\r\n" * 8192
    )
    assert status == 302


@pytest.mark.integration
def test_real_server_answers_413_to_a_huge_upload_without_reading_it(live_server, app):
    with app.app_context():
        dialer = make_dialer(make_campaign(2525))
    client = app.test_client()
    from tests.fixtures.app import USERS, login

    login(client, app, USERS["supervisor"][0])
    token = csrf_token(client, app)
    cookie = client.get_cookie("session").value
    status, body = raw_request(
        live_server,
        post_head(f"/ucmail/dialer/{dialer}/lists", HUGE, cookie, token),
        b"--zzz\r\n" * 8192,
    )
    assert status == 413
    assert b"The file is larger than 200 MB." in body
