"""What an SMTP server's temporary refusal means: "slow down", or something else.

A relay that rate-limits its clients answers with a 4xx, like any other temporary
failure, yet the cure is different: a record that failed because of the record (a
full mailbox, greylisting) is retried later on its own, while a relay that says
"too much mail" asks the *sender* to slow down, and every record sent meanwhile
would get the same answer. Telling them apart is what lets a dialer slow down
instead of spending its records' retries against a throttle.

Sources of the wording matched:
- RFC 5321 §4.2.3: 421 closes the channel ("service not available"), which servers
  use for "too many connections" and rate limits.
- RFC 3463 §3.8: class 4.7.x is a temporary security or policy refusal; Postfix
  (``smtpd_client_message_rate_limit``: ``450 4.7.1 Error: too much mail from ...``),
  Microsoft 365 (``4.7.500 Server busy``) and Gmail (``421 4.7.28``, ``4.7.0``
  "unusual rate") use it for throttling.
- Exim, Sendmail and others say "rate", "limit", "too many", "slow down".

Greylisting (``450 4.2.0 ... Greylisted``; some use 4.7.1) is about one recipient
and clears by waiting: it is never read as throttling, so it keeps its normal
back-off and retries.
"""

from __future__ import annotations

import re
from typing import Literal

ReplyKind = Literal["ok", "throttled", "temporary", "permanent"]

# Right after the reply code, or first in the text (RFC 3463 §2), never an IP's digits.
_ENHANCED = re.compile(r"(?:^\s*|\b\d{3}[ -])([245])\.(\d{1,3})\.(\d{1,3})\b")
_THROTTLE_WORDS = re.compile(
    r"\brate\b|throttl|too\s+(?:much|many|fast)|slow\s+down|\blimit|\bbusy\b|congest",
    re.IGNORECASE,
)
_GREYLIST = re.compile(r"gr[ae]ylist", re.IGNORECASE)


def enhanced_status(text: str) -> tuple[int, int, int] | None:
    """The RFC 3463 status code of a reply, if it has one."""
    match = _ENHANCED.search(text)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def is_throttling(code: int | None, text: str) -> bool:
    """True when a 4xx reply asks the client to send less, not to retry one message."""
    if code is None or not 400 <= code < 500 or _GREYLIST.search(text):
        return False
    if code == 421:
        return True
    status = enhanced_status(text)
    if status is not None:
        # An enhanced code says what it is about: x.2.x is the mailbox (over quota),
        # x.1.x the address; only x.7.x (policy) is the server's limit on us.
        return status[1] == 7
    return code in (450, 451, 452) and _THROTTLE_WORDS.search(text) is not None


def classify(code: int | None, text: str) -> ReplyKind:
    """The kind of a reply: sent, throttled, retry this message later, or never."""
    if code is not None and 200 <= code < 300:
        return "ok"
    if code is not None and 500 <= code < 600:
        return "permanent"
    return "throttled" if is_throttling(code, text) else "temporary"
