"""ucmail's tables, all on one DeclarativeBase with the ``ucmail_`` prefix."""

from ucmail_ext.models.agent import AgentState, AuditEntry, SupervisorMessage
from ucmail_ext.models.base import TABLE_PREFIX, Base, UTCDateTime, utcnow
from ucmail_ext.models.campaign import Campaign, Member, Schedule
from ucmail_ext.models.desk import Draft, Note, Viewer
from ucmail_ext.models.dialer import (
    BlacklistEntry,
    Dialer,
    DialerDomain,
    DialerLink,
    DialerList,
    DialerRecord,
    Upload,
)
from ucmail_ext.models.interaction import (
    Attachment,
    AutoReplyLog,
    Interaction,
    MailboxCursor,
    Message,
    MessageRaw,
    Rating,
)
from ucmail_ext.models.lock import LockLease
from ucmail_ext.models.template import Template

__all__ = [
    "TABLE_PREFIX",
    "AgentState",
    "Attachment",
    "AuditEntry",
    "AutoReplyLog",
    "Base",
    "BlacklistEntry",
    "Campaign",
    "Dialer",
    "DialerDomain",
    "DialerLink",
    "DialerList",
    "DialerRecord",
    "Draft",
    "Interaction",
    "LockLease",
    "MailboxCursor",
    "Member",
    "Message",
    "MessageRaw",
    "Note",
    "Rating",
    "Schedule",
    "SupervisorMessage",
    "Template",
    "UTCDateTime",
    "Upload",
    "Viewer",
    "utcnow",
]
