"""Named leases on Redis and in the database: one holder, expiry, token-checked release."""

from __future__ import annotations

import threading
import time

import pytest

from ucmail_ext.services import locks


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def lock_app(request, make_app):
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        app = make_app(UCMAIL_LOCK_URL=url, UCMAIL_LOCK_PREFIX=prefix)
    else:
        app = make_app(request.param)
    with app.app_context():
        yield app


def test_a_held_lock_is_not_given_to_anyone_else(lock_app):
    with locks.hold("mailbox:1") as first:
        assert first is not None
        with locks.hold("mailbox:1") as second:
            assert second is None
        with locks.hold("mailbox:2") as other:
            assert other is not None


def test_a_released_lock_can_be_taken_again(lock_app):
    with locks.hold("mailbox:1") as first:
        assert first is not None
    with locks.hold("mailbox:1") as again:
        assert again is not None


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_touch_it(lock_app):
    old = locks.acquire("mailbox:1", ttl=0.2)
    assert old is not None
    time.sleep(0.35)

    new = locks.acquire("mailbox:1", ttl=30)
    assert new is not None
    assert old.extend() is False
    old.release()

    assert locks.acquire("mailbox:1") is None  # the new holder still has it
    assert new.extend() is True
    new.release()
    assert locks.acquire("mailbox:1") is not None


def test_extending_keeps_a_lease_alive(lock_app):
    lease = locks.acquire("job", ttl=0.4)
    for _ in range(3):
        time.sleep(0.2)
        assert lease.extend() is True
    assert locks.acquire("job") is None
    lease.release()


def test_many_threads_racing_for_one_lock_only_one_wins(lock_app):
    barrier = threading.Barrier(8)
    winners = []

    def contend():
        with lock_app.app_context():
            barrier.wait()
            lease = locks.acquire("race")
            if lease is not None:
                winners.append(lease)

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(winners) == 1
    winners[0].release()


def test_lock_backend_is_redis_when_the_celery_broker_is_redis(make_app):
    with make_app(CELERY={"broker_url": "redis://127.0.0.1:6379/3"}).app_context():
        assert locks.lock_url() == "redis://127.0.0.1:6379/3"
    with make_app(UCMAIL_LOCK_URL="redis://10.0.0.1/1").app_context():
        assert locks.lock_url() == "redis://10.0.0.1/1"
    with make_app().app_context():  # memory:// broker in tests
        assert locks.lock_url() is None
