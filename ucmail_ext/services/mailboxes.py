"""A campaign's stored account as transport settings, password decrypted only here."""

from __future__ import annotations

from flask import current_app

from ucmail_ext.crypto import decrypt_secret
from ucmail_ext.mail.imap import ImapSettings
from ucmail_ext.mail.smtp import SmtpSettings
from ucmail_ext.models import Campaign


def login_name(campaign: Campaign) -> str:
    return campaign.username or campaign.email_address


def imap_settings(campaign: Campaign, timeout: float | None = None) -> ImapSettings:
    cfg = current_app.config
    return ImapSettings(
        host=campaign.imap_host,
        port=campaign.imap_port,
        security=campaign.imap_security,  # type: ignore[arg-type]
        username=login_name(campaign),
        password=decrypt_secret(campaign.password_encrypted),
        timeout=float(timeout or cfg["UCMAIL_IMAP_TIMEOUT"]),
        folder=campaign.imap_folder or "INBOX",
        verify_tls=bool(cfg["UCMAIL_TLS_VERIFY"]),
    )


def smtp_settings(campaign: Campaign, timeout: float | None = None) -> SmtpSettings:
    cfg = current_app.config
    return SmtpSettings(
        host=campaign.smtp_host,
        port=campaign.smtp_port,
        security=campaign.smtp_security,  # type: ignore[arg-type]
        username=login_name(campaign),
        password=decrypt_secret(campaign.password_encrypted),
        timeout=float(timeout or cfg["UCMAIL_SMTP_TIMEOUT"]),
        sender=campaign.email_address,
        max_emails=int(cfg["UCMAIL_MAIL_MAX_EMAILS"]),
        verify_tls=bool(cfg["UCMAIL_TLS_VERIFY"]),
    )
