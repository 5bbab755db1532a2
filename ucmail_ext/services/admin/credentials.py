"""Key rotation: re-encrypt every stored mailbox secret under the newest key.

After putting a new key first in ``UCMAIL_ENCRYPTION_KEYS`` (the old ones after it),
this makes the old keys removable without re-typing any password or reconnecting
any OAuth2 account or republishing any DKIM record: passwords, refresh tokens,
cached access tokens and DKIM private keys all move.
"""

from __future__ import annotations

from sqlalchemy import or_, select

from ucmail_ext.crypto import rotate_secret
from ucmail_ext.extension import get_state
from ucmail_ext.models import Campaign

SECRET_COLUMNS = (
    "password_encrypted",
    "oauth_refresh_token_encrypted",
    "oauth_access_token_encrypted",
    "dkim_private_key_encrypted",
    "dkim_ed25519_key_encrypted",
)


def rotate_mailbox_passwords() -> int:
    """Returns how many secrets were re-encrypted; one transaction, all or nothing."""
    session = get_state().session
    columns = [getattr(Campaign, name) for name in SECRET_COLUMNS]
    campaigns = session.scalars(
        select(Campaign).where(or_(*(column.is_not(None) for column in columns)))
    )
    count = 0
    for campaign in campaigns:
        for name in SECRET_COLUMNS:
            value = getattr(campaign, name)
            if value:
                setattr(campaign, name, rotate_secret(value))
                count += 1
    session.commit()
    return count
