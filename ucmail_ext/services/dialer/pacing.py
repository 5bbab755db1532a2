"""How fast a dialer sends: its own floor, and what the relay currently accepts.

A relay that rate-limits (Postfix ``smtpd_client_message_rate_limit``, a provider's
hourly quota) answers "slow down" with a 4xx (``mail/replies.py``). The dialer then
sends less, for all its workers at once, and creeps back up while messages go
through: additive-increase / multiplicative-decrease, the rule TCP uses to share
a link it cannot see, written in seconds per message:

- throttled: ``interval / BACK_OFF`` (the rate drops to 70 %);
- each message accepted: ``interval * (1 - GROWTH)`` (the rate grows by 2 %), so
  recovering from one back-off takes about twenty messages;
- never faster than the dialer's ``seconds_between`` (the floor), and back to
  "not throttled" once the learnt interval is down to the floor.

Why these numbers (bench ``D10_throttle_efficiency``): a relay with a window limit
accepts N messages per window whatever their spacing, so what is lost is only the
time spent below its rate. Halving (TCP's 0.5) averages 75 % of the allowed rate
in a simulation of Postfix's anvil; 0.7 with 2 % growth averages about 90 %, at the
price of one refused attempt per five or so accepted, which costs a round trip and
no retry (``delivery.py`` puts a throttled record back as it was).

The learnt interval lives on the dialer row beside ``slot_epoch``, where workers
already book their sending slots: one UPDATE books the slots and reads the pace
the other workers have learnt. A back-off starts from the interval the throttled
batch was booked with (``seen``), so two workers hit by the same throttle back off
once, not twice.

Per-recipient-domain throttling (a later issue) is the same arithmetic on another
key: a row per (dialer, domain) holding ``pace_interval``/``slot_epoch``/
``throttled_at``, booked with the same ``book`` statement, and a claim that takes a
domain's records only when its slot is due. The rules below take and return plain
numbers so that they serve both keys unchanged.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, update
from sqlalchemy.orm import Session

from ucmail_ext.models import Dialer

DIALERS = Dialer.__table__

BACK_OFF = 0.7
GROWTH = 0.02
# Slower than one message an hour is not pacing any more; the floor of the back-off.
SLOWEST = 3600.0
# Faster than this is "not throttled": no relay limit is that generous.
FASTEST = 0.001
# Sending rate assumed for the first throttle when nothing was measured yet.
DEFAULT_RATE = 100.0


@dataclass(frozen=True)
class Booking:
    """Sending slots booked for one batch: the first one's epoch time and the spacing."""

    first: float
    interval: float
    # Whether the relay's pace, not the dialer's floor, set the spacing.
    throttled: bool
    at: datetime


def effective(floor: float, learnt: float) -> float:
    """Seconds between messages now: the slower of the dialer's and the relay's."""
    return max(floor, learnt)


def backed_off(seen: float, floor: float, measured_rate: float | None) -> float:
    """The learnt interval after a "slow down" answer to a batch booked at ``seen``.

    With no interval yet (sending as fast as possible) the start is the rate the
    worker was measured at, reduced as for any other back-off.
    """
    base = effective(floor, seen)
    if base <= 0:
        rate = measured_rate if measured_rate and measured_rate > 0 else DEFAULT_RATE
        base = 1.0 / rate
    return min(SLOWEST, base / BACK_OFF)


def per_minute(interval: float) -> int:
    """The rate a screen shows for an interval (messages per minute, at least 1)."""
    return max(1, math.floor(60.0 / interval)) if interval > 0 else 0


# --------------------------------------------------------------------------- storage


def book(session: Session, dialer_id: int, count: int, floor: float) -> Booking:
    """Book ``count`` slots at the current pace; one UPDATE, so workers take turns.

    The spacing is computed in SQL from the learnt interval as it is now, which is
    how a worker learns what the others' throttles taught them.
    """
    at = datetime.now(UTC)
    now = at.timestamp()
    learnt = DIALERS.c.pace_interval
    spacing = case((learnt > floor, learnt), else_=floor)
    current = DIALERS.c.slot_epoch
    stmt = (
        update(DIALERS)
        .where(DIALERS.c.id == dialer_id)
        .values(slot_epoch=case((current > now, current), else_=now) + spacing * count)
        .returning(DIALERS.c.slot_epoch, DIALERS.c.pace_interval)
    )
    end, learnt_now = session.execute(stmt).one()
    interval = effective(floor, float(learnt_now or 0.0))
    throttled = float(learnt_now or 0.0) > floor
    return Booking(float(end) - interval * count, interval, throttled, at)


def slow_down(
    session: Session, dialer_id: int, seen: float, floor: float, measured_rate: float | None
) -> float:
    """Record a throttle; returns the new learnt interval (not committed here).

    ``max`` with the stored value: another worker's back-off from the same ``seen``
    is not applied a second time, and a bigger one is kept. The next slot is one new
    interval away, so the relay gets a breath before the next attempt.
    """
    target = backed_off(seen, floor, measured_rate)
    learnt = DIALERS.c.pace_interval
    stmt = (
        update(DIALERS)
        .where(DIALERS.c.id == dialer_id)
        .values(
            pace_interval=case((learnt > target, learnt), else_=target),
            # The slots booked past now went unused (the batch stopped at the throttle):
            # keeping them would leave the relay idle for the rest of the batch's span.
            slot_epoch=time.time() + target,
            throttled_at=datetime.now(UTC),
        )
        .returning(DIALERS.c.pace_interval)
    )
    return float(session.execute(stmt).scalar_one())


def speed_up(
    session: Session, dialer_id: int, accepted: int, floor: float, booked: Booking
) -> None:
    """Messages of a batch went through: grow the shared rate (not committed here).

    Applied to the stored value, so every worker's successes count; skipped when a
    throttle came after the batch was booked, so a success never undoes a fresh
    back-off.
    """
    if not booked.throttled or accepted <= 0:
        return
    factor = (1.0 - GROWTH) ** accepted
    learnt = DIALERS.c.pace_interval
    grown = learnt * factor
    session.execute(
        update(DIALERS)
        .where(
            DIALERS.c.id == dialer_id,
            learnt > 0,
            DIALERS.c.throttled_at.is_(None) | (DIALERS.c.throttled_at <= booked.at),
        )
        .values(pace_interval=case((grown <= max(floor, FASTEST), 0.0), else_=grown))
    )


def note(dialer_state: str, floor: float, learnt: float) -> str:
    """What the monitoring screens say about the pace: empty unless the relay sets it."""
    if dialer_state != "running" or learnt <= floor:
        return ""
    return f"throttled by the relay, current rate {per_minute(learnt)}/min"
