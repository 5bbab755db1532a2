"""The production path on RabbitMQ (locks in the database) and on Redis, with real workers.

Mail appended to Dovecot -> ``ucmail.inbound.poll_mailbox`` on a Celery worker ->
routed to the online agent by the worker -> the agent's reply sent by the worker;
then a dialer list whose worker is SIGKILLed mid-run is finished by a second worker
with no record sent twice. Each run uses its own queue (and, on Redis, its own key
prefix), so it never meets another test session's workers on the shared brokers.
"""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kombu import Connection

from example_host_app.extensions import db
from tests.agent.conftest import post
from tests.dialer import helpers as dialer_helpers
from tests.fixtures.app import create_users, login
from tests.fixtures.celery_workers import CeleryWorkers, wait_until
from tests.fixtures.live import mail_server_settings
from tests.fixtures.servers import SmtpSink
from tests.inbound.helpers import mail
from ucmail_ext.dispatch import enqueue
from ucmail_ext.models import Campaign, DialerList, DialerRecord, Interaction, Member
from ucmail_ext.services import locks
from ucmail_ext.services.dialer import dialers as dialer_service
from ucmail_ext.services.dialer import recovery as dialer_recovery
from ucmail_ext.services.dialer import runners
from ucmail_ext.services.inbound import ingest

pytestmark = pytest.mark.integration

RABBITMQ_URL = os.environ.get("UCMAIL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def require_rabbitmq(url: str) -> None:
    try:
        with Connection(url, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        raise RuntimeError(
            f"RabbitMQ is not reachable at 127.0.0.1:5672 ({type(exc).__name__}): start it "
            "(`rabbitmq-server -detached`) or set UCMAIL_TEST_AMQP_URL"
        ) from None


@pytest.fixture(params=["rabbitmq", "redis"])
def broker(request, redis_url, redis_prefix) -> Iterator[dict[str, Any]]:
    """Celery settings for one private queue on RabbitMQ or Redis, and the lock settings."""
    queue = f"ucmail.test.{secrets.token_hex(4)}"
    celery: dict[str, Any] = {
        "task_routes": {"ucmail.*": {"queue": queue}},
        "task_ignore_result": True,
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "worker_enable_remote_control": False,
        "broker_connection_retry_on_startup": True,
    }
    if request.param == "rabbitmq":
        require_rabbitmq(RABBITMQ_URL)
        celery["broker_url"] = RABBITMQ_URL
        config: dict[str, Any] = {}  # no Redis anywhere: locks live in the database
    else:
        prefix = f"{redis_prefix}celery{secrets.token_hex(3)}:"
        celery["broker_url"] = redis_url
        celery["broker_transport_options"] = {"global_keyprefix": prefix}
        config = {"UCMAIL_LOCK_PREFIX": f"{prefix}lock:"}
    yield {"name": request.param, "queue": queue, "celery": celery, "config": config}
    if request.param == "rabbitmq":
        with Connection(RABBITMQ_URL) as conn:
            conn.default_channel.queue_delete(queue)


def _scalar(app, fn):  # type: ignore[no-untyped-def]
    with app.app_context():
        db.session.expire_all()
        return fn()


def test_poll_route_reply_and_a_killed_dialer_worker(
    make_app, broker, dovecot, imap_account, tmp_path
):
    app = make_app(
        "postgresql",
        UCMAIL_DISPATCH="celery",
        UCMAIL_DIALER_LEASE=10,
        CELERY=dict(broker["celery"]),  # the app adds its beat schedule to it
        **broker["config"],
    )
    with app.app_context():
        uses_redis = locks.lock_url() is not None
    assert uses_redis == (broker["name"] == "redis")  # RabbitMQ: locks in the database
    users = create_users(app)
    agent_id = str(users["agent1"].id)
    workers = CeleryWorkers(app, broker, tmp_path)
    with SmtpSink(credentials=(imap_account.user, imap_account.password)) as sink:
        try:
            with app.app_context():
                campaign = Campaign(
                    name="Support",
                    email_address="support@helpdesk.test",
                    **mail_server_settings(imap_account, sink),
                )
                db.session.add(campaign)
                db.session.flush()
                db.session.add(Member(campaign_id=campaign.id, agent_id=agent_id))
                db.session.commit()
                campaign_id = campaign.id
            agent = app.test_client()
            login(agent, app, users["agent1"].email)
            assert agent.get("/ucmail/agent/").status_code == 200  # online and free
            with app.app_context():
                # Connected while empty: what arrives next is live mail, not history.
                assert ingest.poll_mailbox(campaign_id).status == "ok"
            dovecot.append(imap_account.user, mail(1, subject="Printer on fire"))
            workers.start("-P", "threads", "-c", "4")

            with app.app_context():
                enqueue("ucmail.inbound.poll_mailbox", campaign_id)
            wait_until(
                lambda: _scalar(app, lambda: db.session.query(Interaction).one_or_none()),
                30,
                "the worker polls the mailbox",
            )
            wait_until(
                lambda: (
                    _scalar(app, lambda: db.session.query(Interaction).one().agent_id) == agent_id
                ),
                20,
                "the worker routes it to the agent",
            )
            interaction_id = _scalar(app, lambda: db.session.query(Interaction).one().id)
            response = post(
                agent,
                app,
                f"/ucmail/agent/interactions/{interaction_id}/send",
                {"kind": "reply", "to": "customer@example.com", "subject": "Re: Printer on fire",
                 "body": "Unplug it."},
            )  # fmt: skip
            assert response.status_code == 302, response.get_data(as_text=True)
            (reply,) = sink.wait_for(1, timeout=20)
            assert reply.rcpt_tos == ("customer@example.com",)
            assert b"Unplug it." in reply.raw

            with SmtpSink() as bulk_sink:  # the dialer's campaign logs in to no one
                _killed_dialer_worker_is_finished_by_another(app, workers, bulk_sink)
        finally:
            workers.stop_all()


def _killed_dialer_worker_is_finished_by_another(
    app, workers: CeleryWorkers, sink: SmtpSink
) -> None:
    total = 300
    with app.app_context():
        dialer_id = dialer_helpers.make_dialer(dialer_helpers.make_campaign(sink.port))
        csv = dialer_helpers.csv_text(dialer_helpers.simple_rows(total))
        list_id = dialer_helpers.upload(dialer_id, csv, subject="x").list_id
        assert dialer_service.play_list(list_id, None, "1").ok  # enqueues ucmail.dialer.run_list
    sink.wait_for(50, timeout=30)
    first = workers.processes[0]
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert sink.count < total
    workers.start("-P", "threads", "-c", "4")
    with app.app_context():
        # The beat, once the dead worker's lease has run out: settle and restart the list.
        dialer_recovery.tick(datetime.now(UTC) + timedelta(seconds=30))

    def finished() -> bool:
        return _scalar(app, lambda: db.session.get(DialerList, list_id).state) == "done"

    wait_until(finished, 45, "the second worker finishes the list")
    ids = dialer_helpers.message_ids([m.raw for m in sink.messages])
    assert len(ids) == len(set(ids)), "a record was sent twice"
    with app.app_context():
        records = db.session.query(DialerRecord).filter_by(list_id=list_id).all()
        # At most the one record whose delivery the kill cut short is left unsent, marked so:
        # one per runner the killed worker had (the list's runners all ran in its threads).
        interrupted = [r for r in records if r.state != "sent"]
        assert len(interrupted) <= runners.runners_per_list()
        assert all(r.error == dialer_recovery.INTERRUPTED for r in interrupted)
        assert len(set(ids)) >= total - len(interrupted)
