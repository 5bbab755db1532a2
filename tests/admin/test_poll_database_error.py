"""A database error while a poll stores mail is recorded on the campaign, and no mail is lost.

The error is real: on PostgreSQL a trigger refuses every stored message; on SQLite
the message table is taken away for the length of one poll.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import text

from example_host_app.extensions import db
from tests.inbound.helpers import connect, fill, interactions, mail, make_campaign, poll
from ucmail_ext.models import Campaign

pytestmark = pytest.mark.integration

PG_BREAK = [
    """CREATE FUNCTION ucmail_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'disk quota exceeded (test)'; END $$""",
    """CREATE TRIGGER ucmail_test_refuse BEFORE INSERT ON ucmail_message
       FOR EACH ROW EXECUTE FUNCTION ucmail_test_refuse()""",
]
PG_MEND = [
    "DROP TRIGGER ucmail_test_refuse ON ucmail_message",
    "DROP FUNCTION ucmail_test_refuse()",
]
SQLITE_BREAK = ["ALTER TABLE ucmail_message RENAME TO ucmail_message_away"]
SQLITE_MEND = ["ALTER TABLE ucmail_message_away RENAME TO ucmail_message"]


def run(app: Flask, statements: list[str]) -> None:
    with app.app_context():
        for statement in statements:
            db.session.execute(text(statement))
        db.session.commit()


def campaign_state(app: Flask, campaign_id: int) -> tuple[int, str]:
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.poll_failures, campaign.last_poll_error


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_error_while_storing_is_recorded_like_an_imap_error(
    make_app, dovecot, imap_account, backend: str
) -> None:
    app = make_app(backend, UCMAIL_DISPATCH="off")
    campaign_id = make_campaign(app, imap_account)
    connect(app, campaign_id)
    fill(dovecot, imap_account, [mail(1), mail(2)])
    broken, mended = (PG_BREAK, PG_MEND) if backend == "postgresql" else (SQLITE_BREAK, SQLITE_MEND)

    run(app, broken)
    try:
        result = poll(app, campaign_id)
    finally:
        run(app, mended)

    assert result.status == "error"
    assert result.error.startswith("Database error while storing mail")
    failures, error = campaign_state(app, campaign_id)
    assert failures == 1 and error == result.error
    assert interactions(app, campaign_id) == []
    assert dovecot.message_count(imap_account.user) == 2

    # Nothing lost: the cursor did not move, so the next poll imports both.
    again = poll(app, campaign_id)

    assert again.status == "ok", again
    assert len(interactions(app, campaign_id)) == 2
    assert campaign_state(app, campaign_id) == (0, "")
