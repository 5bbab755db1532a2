"""Key rotation: re-encrypt every stored mailbox password under the newest key.

After putting a new key first in ``UCMAIL_ENCRYPTION_KEYS`` (the old ones after it),
this makes the old keys removable without re-typing any password.
"""

from __future__ import annotations

from sqlalchemy import select

from ucmail_ext.crypto import rotate_secret
from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign


def rotate_mailbox_passwords() -> int:
    """Returns how many passwords were re-encrypted; one transaction, all or nothing."""
    session = get_state().session
    campaigns = session.scalars(select(Campaign).where(Campaign.password_encrypted.is_not(None)))
    count = 0
    for campaign in campaigns:
        campaign.password_encrypted = rotate_secret(campaign.password_encrypted)
        count += 1
    session.commit()
    return count
