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

Per recipient domain (issue 13), the same arithmetic on another key: a
``DialerDomain`` row per (dialer, domain) holds the operator's limit ("gmail.com
100/min"), ``pace_interval``, ``slot_epoch`` and ``throttled_at``. With at least one
limit set the dialer paces per domain (``DomainPacing``):

- the claim leaves out the records of domains whose next slot is not due yet, so a
  slow domain's records wait in the queue without holding a connection, and the
  other domains' records go past them;
- each claimed record of a paced domain gets a slot booked on its domain's row, as
  many per batch as fit in one commit interval (the rest go straight back);
- a "try later" (421/451 x.7.x) for a recipient slows that recipient's domain only:
  the record goes back unsent, the domain's interval backs off, the batch goes on.

Without any domain limit, a "try later" to the recipient (RCPT refused) is the
domain's and turns this on for the run; one to the sender or the message (MAIL
FROM, DATA: Postfix's own rate limit) is the relay's, and slows the list as before.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ucmail_ext.i18n import gettext as _
from ucmail_ext.models import Dialer, DialerDomain

DIALERS = Dialer.__table__
DOMAINS = DialerDomain.__table__

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
    # The dialer's slot_epoch after this booking: still the same later means no other
    # worker booked since, so the batch's unused slots can be given back.
    end: float = 0.0


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
    return Booking(float(end) - interval * count, interval, throttled, at, float(end))


def slow_down(
    session: Session,
    dialer_id: int,
    seen: float,
    floor: float,
    measured_rate: float | None,
    booked: Booking | None = None,
) -> float:
    """Record a throttle; returns the new learnt interval (not committed here).

    ``max`` with the stored value: another worker's back-off from the same ``seen``
    is not applied a second time, and a bigger one is kept. The next slot is one new
    interval away, so the relay gets a breath before the next attempt.
    """
    target = backed_off(seen, floor, measured_rate)
    learnt = DIALERS.c.pace_interval
    current = DIALERS.c.slot_epoch
    after = time.time() + target
    # The slots this batch booked past now went unused (it stopped at the throttle):
    # kept, they would leave the relay idle for the rest of its span. Given back only
    # when nobody booked after them: another worker's slots are its own.
    whens = [(current == booked.end, after)] if booked is not None and booked.end else []
    stmt = (
        update(DIALERS)
        .where(DIALERS.c.id == dialer_id)
        .values(
            pace_interval=case((learnt > target, learnt), else_=target),
            slot_epoch=case(*whens, (current > after, current), else_=after),
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
    return _("throttled by the relay, current rate %(rate)s/min", rate=per_minute(learnt))


# --------------------------------------------------------------------------- per domain

MAX_DOMAIN_RULES = 200
MAX_PER_MINUTE = 100_000
_RULE = re.compile(
    r"^(?P<domain>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)"
    r"\s*[:= ]\s*(?P<count>\d{1,6})\s*(?:/\s*(?P<unit>m|min|minute|h|hour))?$"
)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower()


def parse_domain_limits(text: str) -> tuple[dict[str, int], str | None]:
    """Operator rules, one per line or comma: ``gmail.com 100/min`` (``/h`` too, kept
    as its per-minute equivalent, at least 1). The error names the line to fix."""
    limits: dict[str, int] = {}
    items = [item.strip() for item in re.split(r"[\n,;]", text or "") if item.strip()]
    if len(items) > MAX_DOMAIN_RULES:
        return {}, _("At most %(max)s domain limits.", max=MAX_DOMAIN_RULES)
    for number, item in enumerate(items, start=1):
        match = _RULE.match(item.lower())
        if match is None:
            return {}, _(
                "Domain limit %(number)s (%(rule)s): write a domain and a number of "
                "messages per minute, e.g. gmail.com 100/min.",
                number=number,
                rule=repr(item[:60]),
            )
        count = int(match["count"])
        if match["unit"] in ("h", "hour"):
            count = max(1, round(count / 60))
        if not 1 <= count <= MAX_PER_MINUTE:
            return {}, _(
                "Domain limit %(number)s (%(domain)s): from 1 to %(max)s messages per minute.",
                number=number,
                domain=match["domain"],
                max=MAX_PER_MINUTE,
            )
        limits[match["domain"]] = count
    return limits, None


def format_domain_limits(limits: Mapping[str, int]) -> str:
    return "\n".join(f"{domain} {count}/min" for domain, count in sorted(limits.items()))


def domain_limits(session: Session, dialer_id: int) -> dict[str, int]:
    rows = session.execute(
        select(DOMAINS.c.domain, DOMAINS.c.per_minute).where(
            DOMAINS.c.dialer_id == dialer_id, DOMAINS.c.per_minute > 0
        )
    )
    return {domain: count for domain, count in rows}


def set_domain_limits(session: Session, dialer_id: int, limits: Mapping[str, int]) -> None:
    """Store the operator's rules (not committed); what was learnt per domain is kept."""
    stored = set(session.scalars(select(DOMAINS.c.domain).where(DOMAINS.c.dialer_id == dialer_id)))
    session.execute(
        update(DOMAINS)
        .where(DOMAINS.c.dialer_id == dialer_id, DOMAINS.c.domain.not_in(list(limits)))
        .values(per_minute=0)
    )
    for domain, count in limits.items():
        if domain in stored:
            session.execute(
                update(DOMAINS)
                .where(DOMAINS.c.dialer_id == dialer_id, DOMAINS.c.domain == domain)
                .values(per_minute=count)
            )
        else:
            session.execute(
                insert(DOMAINS).values(
                    dialer_id=dialer_id,
                    domain=domain,
                    per_minute=count,
                    slot_epoch=0.0,
                    pace_interval=0.0,
                )
            )


def domain_floor(per_minute: int) -> float:
    return 60.0 / per_minute if per_minute > 0 else 0.0


class _Claimed(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def email(self) -> str: ...


@dataclass
class DomainBooking:
    """Sending times for a batch's records of paced domains, and those that must wait."""

    at: dict[int, float] = field(default_factory=dict)
    waiting: list[int] = field(default_factory=list)
    # record id -> domain, for the records that got a domain slot
    domains: dict[int, str] = field(default_factory=dict)
    booked_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class DomainPacing:
    """One run's view of its dialer's per-domain pacing; every figure lives in the
    database, so workers on other machines share it."""

    def __init__(self, session: Session, dialer_id: int, horizon: float) -> None:
        self.dialer_id = dialer_id
        self.horizon = max(horizon, 0.05)
        # On with a limit set, or a pace learnt from a domain's "try later" (which
        # turns it on during a run too: a recipient refused with a throttle).
        self.enabled = bool(
            session.scalar(
                select(func.count(DOMAINS.c.id)).where(
                    DOMAINS.c.dialer_id == dialer_id,
                    (DOMAINS.c.per_minute > 0) | (DOMAINS.c.pace_interval > 0),
                )
            )
        )

    def blocked(self, session: Session, now: float | None = None) -> list[str]:
        """Domains whose next slot is past this batch's horizon: the claim leaves them."""
        if not self.enabled:
            return []
        now = time.time() if now is None else now
        stmt = select(DOMAINS.c.domain).where(
            DOMAINS.c.dialer_id == self.dialer_id, DOMAINS.c.slot_epoch > now + self.horizon
        )
        return list(session.scalars(stmt))

    def next_due(self, session: Session) -> float | None:
        """When the first waiting domain may send again (epoch seconds), if any waits."""
        if not self.enabled:
            return None
        value = session.scalar(
            select(func.min(DOMAINS.c.slot_epoch)).where(
                DOMAINS.c.dialer_id == self.dialer_id, DOMAINS.c.slot_epoch > time.time()
            )
        )
        return float(value) if value is not None else None

    def book(self, session: Session, records: Sequence[_Claimed]) -> DomainBooking:
        """Book a slot on its domain's row for each record of a paced domain.

        Every domain is booked up to the same moment (now + horizon): the batch then
        ends when each domain's next slot is just ahead, so the next claim books on
        from there and no domain idles between batches. One UPDATE per domain,
        conditional on the domain being due within the horizon, so two workers that
        both saw it due still take turns: the second one's slots follow the first
        one's, or it gets none and puts its records back.
        """
        booking = DomainBooking()
        if not self.enabled or not records:
            return booking
        by_domain: dict[str, list[int]] = {}
        for item in records:
            by_domain.setdefault(domain_of(item.email), []).append(item.id)
        rows = session.execute(
            select(
                DOMAINS.c.domain,
                DOMAINS.c.per_minute,
                DOMAINS.c.pace_interval,
                DOMAINS.c.slot_epoch,
            ).where(DOMAINS.c.dialer_id == self.dialer_id, DOMAINS.c.domain.in_(list(by_domain)))
        ).all()
        now = time.time()
        until = now + self.horizon
        for domain, per_minute, learnt, epoch in rows:
            interval = effective(domain_floor(int(per_minute or 0)), float(learnt or 0.0))
            if interval <= 0:
                continue
            ids = by_domain[domain]
            # A next slot that passed less than one interval ago is kept: the claim
            # came late (a busy machine), and booking from now would lose that time
            # at every batch. One older than that means the domain was idle.
            recent = now - interval
            start = float(epoch or 0.0)
            start = start if start > recent else now
            count = min(len(ids), max(1, int((until - start) / interval) + 1))
            current = DOMAINS.c.slot_epoch
            end = session.execute(
                update(DOMAINS)
                .where(
                    DOMAINS.c.dialer_id == self.dialer_id,
                    DOMAINS.c.domain == domain,
                    current <= now + self.horizon,
                )
                .values(slot_epoch=case((current > recent, current), else_=now) + interval * count)
                .returning(DOMAINS.c.slot_epoch)
            ).scalar_one_or_none()
            if end is None:
                count = 0
            first = float(end or 0.0) - interval * count
            for index, record_id in enumerate(ids):
                if index < count:
                    booking.at[record_id] = first + index * interval
                    booking.domains[record_id] = domain
                else:
                    booking.waiting.append(record_id)
        return booking

    def slow_down(self, session: Session, domain: str, seen: float) -> float:
        """A "try later" for this domain's recipients: its interval only backs off.

        Learnt on a row of its own when the domain had no rule; returns the new
        interval (not committed here).
        """
        row = session.execute(
            select(DOMAINS.c.per_minute, DOMAINS.c.pace_interval).where(
                DOMAINS.c.dialer_id == self.dialer_id, DOMAINS.c.domain == domain
            )
        ).first()
        if row is None:
            try:
                with session.begin_nested():
                    session.execute(
                        insert(DOMAINS).values(
                            dialer_id=self.dialer_id,
                            domain=domain,
                            per_minute=0,
                            slot_epoch=0.0,
                            pace_interval=0.0,
                        )
                    )
            except IntegrityError:
                pass  # another worker created it meanwhile
            floor = 0.0
        else:
            floor = domain_floor(int(row.per_minute or 0))
            seen = max(seen, float(row.pace_interval or 0.0))
        target = backed_off(seen, floor, None)
        learnt = DOMAINS.c.pace_interval
        return float(
            session.execute(
                update(DOMAINS)
                .where(DOMAINS.c.dialer_id == self.dialer_id, DOMAINS.c.domain == domain)
                .values(
                    pace_interval=case((learnt > target, learnt), else_=target),
                    slot_epoch=time.time() + target,
                    throttled_at=datetime.now(UTC),
                )
                .returning(DOMAINS.c.pace_interval)
            ).scalar_one()
        )

    def speed_up(self, session: Session, accepted: Iterable[str], booked_at: datetime) -> None:
        """Messages of these domains went through: each one's learnt rate grows back."""
        counts: dict[str, int] = {}
        for domain in accepted:
            counts[domain] = counts.get(domain, 0) + 1
        learnt = DOMAINS.c.pace_interval
        for domain, count in counts.items():
            grown = learnt * (1.0 - GROWTH) ** count
            floor = case((DOMAINS.c.per_minute > 0, 60.0 / DOMAINS.c.per_minute), else_=0.0)
            session.execute(
                update(DOMAINS)
                .where(
                    DOMAINS.c.dialer_id == self.dialer_id,
                    DOMAINS.c.domain == domain,
                    learnt > 0,
                    DOMAINS.c.throttled_at.is_(None) | (DOMAINS.c.throttled_at <= booked_at),
                )
                .values(
                    pace_interval=case((grown <= floor, 0.0), (grown <= FASTEST, 0.0), else_=grown)
                )
            )


def domain_notes(session: Session, dialer_ids: Sequence[int]) -> dict[int, str]:
    """What the screens say about the domains each dialer is holding back (one query):
    those whose "try later" slowed them below their limit, with the current rate."""
    notes: dict[int, list[str]] = {}
    if not dialer_ids:
        return {}
    rows = session.execute(
        select(DOMAINS.c.dialer_id, DOMAINS.c.domain, DOMAINS.c.per_minute, DOMAINS.c.pace_interval)
        .where(DOMAINS.c.dialer_id.in_(list(dialer_ids)), DOMAINS.c.pace_interval > 0)
        .order_by(DOMAINS.c.domain)
    )
    for dialer_id, domain, limit, learnt in rows:
        if float(learnt) > domain_floor(int(limit or 0)):
            notes.setdefault(dialer_id, []).append(
                f"{domain} throttled, current rate {per_minute(float(learnt))}/min"
            )
    return {dialer_id: "; ".join(items) for dialer_id, items in notes.items()}
