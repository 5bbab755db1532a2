"""Links to a message's images and files: one viewer, a limited time, that viewer's access.

The viewer's sandboxed frame sends no cookie with its image requests (an opaque
origin), so an inline image link is a credential of its own: it names the viewer,
their session epoch and when it was minted, and serving checks all three.
"""

from __future__ import annotations

import html as htmllib
import re
import time

from flask import Flask
from sqlalchemy import delete

from tests.agent.conftest import Floor
from tests.agent.helpers import add_file, assigned, reload
from tests.recordings.test_viewer import PNG
from tests.routing.helpers import session
from ucmail_ext.models import Interaction, Member
from ucmail_ext.services import mail_view
from ucmail_ext.services.desk import presence


def _with_inline_logo(floor: Floor) -> tuple[int, int]:
    interaction_id = assigned(floor, floor.agent1, "Logo")
    message = reload(Interaction, interaction_id).messages[0]
    message.html = '<p>Our logo</p><img src="cid:logo@x">'
    logo = add_file(message, "logo.png", PNG, "image/png")
    logo.content_id, logo.inline = "<logo@x>", True
    session().commit()
    return interaction_id, logo.id


def _image_link(client, interaction_id: int) -> str:  # type: ignore[no-untyped-def]
    page = client.get(f"/ucmail/agent/?open={interaction_id}").get_data(True)
    documents = [htmllib.unescape(d) for d in re.findall(r'srcdoc="([^"]*)"', page)]
    links = [m for d in documents for m in re.findall(r'src="https?://[^/"]+(/[^"]+)"', d)]
    assert len(links) == 1, documents
    return links[0]


def _status(client, link: str) -> int:  # type: ignore[no-untyped-def]
    response = client.get(link)
    response.close()
    return response.status_code


def test_the_viewers_frame_loads_the_image_without_cookies(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    interaction_id, _ = _with_inline_logo(floor)
    link = _image_link(client_for("agent1"), interaction_id)

    response = floor.app.test_client().get(link)  # what the sandboxed frame sends

    assert response.status_code == 200 and response.data == PNG
    response.close()


def test_a_link_minted_for_agent1_fails_for_an_agent_of_another_campaign(
    floor: Floor, client_for
) -> None:  # type: ignore[no-untyped-def]
    interaction_id, _ = _with_inline_logo(floor)
    link = _image_link(client_for("agent1"), interaction_id)

    assert _status(client_for("agent3"), link) == 401
    assert _status(client_for("agent1"), link) == 200


def test_a_link_dies_with_the_viewers_access(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    interaction_id, _ = _with_inline_logo(floor)
    link = _image_link(client_for("agent1"), interaction_id)

    session().execute(delete(Member).where(Member.agent_id == floor.agent1))
    session().commit()

    assert _status(floor.app.test_client(), link) == 401


def test_a_link_dies_when_a_supervisor_logs_the_viewer_out(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    interaction_id, _ = _with_inline_logo(floor)
    link = _image_link(client_for("agent1"), interaction_id)

    presence.force_logout(floor.agent1, "supervisor")

    assert _status(floor.app.test_client(), link) == 401


def test_an_expired_link_fails(floor: Floor, client_for, users) -> None:  # type: ignore[no-untyped-def]
    _, logo_id = _with_inline_logo(floor)
    max_age = floor.app.config["UCMAIL_FILE_LINK_MAX_AGE"]
    with floor.app.test_request_context():
        agent1 = users["agent1"]
        fresh = mail_view.inline_token(logo_id, agent1, issued_at=time.time() - max_age + 120)
        stale = mail_view.inline_token(logo_id, agent1, issued_at=time.time() - max_age - 1)

    assert _status(floor.app.test_client(), f"/ucmail/agent/inline/{fresh}") == 200
    assert _status(floor.app.test_client(), f"/ucmail/agent/inline/{stale}") == 401
    assert _status(client_for("agent1"), f"/ucmail/agent/inline/{stale}") == 401


def test_a_link_made_without_a_viewer_or_by_hand_fails(floor: Floor, app: Flask) -> None:
    from ucmail_ext.crypto import make_token

    _, logo_id = _with_inline_logo(floor)
    with app.test_request_context():
        anonymous = mail_view.inline_token(logo_id)
        old_style = make_token("attachment", {"a": logo_id})

    for token in (anonymous, old_style, "forged"):
        assert _status(app.test_client(), f"/ucmail/agent/inline/{token}") == 401


def test_a_file_download_follows_the_current_users_access(floor: Floor, client_for) -> None:  # type: ignore[no-untyped-def]
    _, logo_id = _with_inline_logo(floor)
    url = f"/ucmail/agent/attachments/{logo_id}"

    assert _status(client_for("agent1"), url) == 200
    assert _status(client_for("agent3"), url) in (403, 404)
    assert _status(floor.app.test_client(), url) in (302, 401, 403, 404)
