"""A local development mail server, so a demo needs no account anywhere.

pymap serves one IMAP mailbox per campaign; an aiosmtpd relay delivers mail addressed
to a campaign into that mailbox and keeps everything else (mail to customers) in a
local outbox folder; a simulator plays customers who write in and answer back.
Needs the ``dev`` extra (aiosmtpd, pymap).
"""
