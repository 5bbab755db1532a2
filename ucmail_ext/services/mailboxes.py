"""A campaign's stored account as transport settings, password decrypted only here.

An OAuth2 campaign gets no password but a token source, asked at every login, so
a long IDLE or dialer run reconnects with a fresh token (services/oauth/tokens.py).
"""

from __future__ import annotations

from flask import current_app

from ucmail_ext.crypto import decrypt_secret
from ucmail_ext.i18n import gettext as _
from ucmail_ext.mail.imap import ImapSettings, TokenSource
from ucmail_ext.mail.smtp import SmtpSettings
from ucmail_ext.models import Campaign
from ucmail_ext.services.oauth import tokens
from ucmail_ext.services.oauth.campaign import uses_oauth


def login_name(campaign: Campaign) -> str:
    return campaign.username or campaign.email_address


def _credentials(campaign: Campaign) -> tuple[str, TokenSource | None]:
    """(password, token source): exactly one of them is used."""
    if uses_oauth(campaign):
        if campaign.id is None:
            return "", _no_campaign
        return "", tokens.token_source(campaign.id)
    return decrypt_secret(campaign.password_encrypted), None


def _no_campaign() -> str:
    raise tokens.ReconnectNeeded(_("Save the campaign, then connect the account."))


def imap_settings(campaign: Campaign, timeout: float | None = None) -> ImapSettings:
    cfg = current_app.config
    password, token = _credentials(campaign)
    return ImapSettings(
        host=campaign.imap_host,
        port=campaign.imap_port,
        security=campaign.imap_security,  # type: ignore[arg-type]
        username=login_name(campaign),
        password=password,
        oauth_token=token,
        timeout=float(timeout or cfg["UCMAIL_IMAP_TIMEOUT"]),
        folder=campaign.imap_folder or "INBOX",
        verify_tls=bool(cfg["UCMAIL_TLS_VERIFY"]),
    )


def smtp_settings(campaign: Campaign, timeout: float | None = None) -> SmtpSettings:
    cfg = current_app.config
    password, token = _credentials(campaign)
    return SmtpSettings(
        host=campaign.smtp_host,
        port=campaign.smtp_port,
        security=campaign.smtp_security,  # type: ignore[arg-type]
        username=login_name(campaign),
        password=password,
        oauth_token=token,
        timeout=float(timeout or cfg["UCMAIL_SMTP_TIMEOUT"]),
        sender=campaign.email_address,
        max_emails=int(cfg["UCMAIL_MAIL_MAX_EMAILS"]),
        verify_tls=bool(cfg["UCMAIL_TLS_VERIFY"]),
    )
