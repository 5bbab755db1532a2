import os
from pathlib import Path

import pytest

from ucmail_ext.mail.dsn import Feedback, classify

CORPUS = Path(
    os.environ.get("UCMAIL_CORPUS_DIR", Path(__file__).resolve().parents[3] / "shared" / "corpus")
)


def corpus(name: str) -> bytes:
    path = CORPUS / name
    if not path.is_file():
        pytest.fail(f"corpus file missing: {path} (set UCMAIL_CORPUS_DIR)")
    return path.read_bytes()


# (file, recipient, status, hard, action, original Message-ID)
BOUNCES = [
    (
        "mailgun-flanker/bounce/zed.eml",
        "asdfasdfasdfasdfasdfasdfewrqertrtyrthsfgdfgadfqeadvxzvz@gmail.com",
        "5.1.1",
        True,
        "failed",
        "<20090708054735.GC7578@example.com>",
    ),
    (
        "mailgun-flanker/bounce/mailbox-full.eml",
        "user@aol.com",
        "5.2.2",
        True,
        "failed",
        "<4E326A95.3010907@example.com>",
    ),
    (
        "mailgun-flanker/bounce/office365.eml",
        "noname@example.com",
        "5.1.10",
        True,
        "failed",
        "<20171013111011.20866.254C2F3A4D7AA526@ninomail.com>",
    ),
    (
        "mailgun-flanker/bounce/no-mx.eml",
        "user@example.com",
        "4.4.4",
        False,
        "delayed",
        "<19E44CA63F984902B7D654F8FF40F89D@bo>",
    ),
    ("mailgun-flanker/bounce/delayed.eml", "foo@example.com", "4.0.0", False, "failed", None),
    (
        "mailgun-flanker/bounce/delayed-broken.eml",
        "demo@example.com",
        "4.2.2",
        False,
        "failed",
        None,
    ),
    (
        "mailgun-flanker/bounce/gmail-invalid-address.eml",
        "awfawfawfawfawfaw@someserverhere.com",
        "5.1.0",
        True,
        "failed",
        "<CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com>",
    ),
    ("mailgun-flanker/bounce/gmail-no-dns.eml", "user@example.comm", "5.0.0", True, "failed", None),
    ("mailgun-flanker/bounce/broken-mime.eml", "info@example.net", "5.0.0", True, "failed", None),
    (
        "postal-mime/bounce.eml",
        "htfgvhyufthdgcvhgjyfthgc@ethereal.email",
        "5.0.0",
        True,
        "failed",
        "<e85f1c9b-9b51-4028-8ec0-0a657155028e@app.fastmail.com>",
    ),
    (
        "nodemailer-mailparser/delivery-status.eml",
        "xxxx@xxxx.com",
        "5.1.1",
        True,
        "failed",
        "<xxxxx@email.amazonses.com>",
    ),
    (
        "mikel-mail/multipart_report_emails/multi_address_bounce1.eml",
        "bbbbvhvbbvkjbhfbvbvjhb@gmail.com",
        "5.1.1",
        True,
        "failed",
        "<118707422.15521266992174819.JavaMail.root@lvmail01>",
    ),
    (
        "mikel-mail/multipart_report_emails/multipart_report_multiple_status.eml",
        "u@ci.com",
        "5.3.0",
        True,
        "failed",
        "<4c2a146147ac8_61ff157c4ec1652df@s.h.c.mail>",
    ),
    (
        "mikel-mail/multipart_report_emails/report_422.eml",
        "fraser@oooooooo.com.au",
        "4.2.2",
        False,
        "delayed",
        "<15655788.13.1200472642578.JavaMail.Administrator@mail.ttttt.com.au>",
    ),
    (
        "mikel-mail/mime_emails/raw_email_with_mimepart_without_content_type.eml",
        "larose.julie@courrier.uqam.ca",
        "4.5.0",
        False,
        "delayed",
        "<89d7557c0610181510r6fa5ebd8n66a7deec71ade118@mail.gmail.com>",
    ),
    (
        "mimekit/messages/bounce.txt",
        "netec.test@netecgc.com",
        "5.1.1",
        True,
        "failed",
        "<44565655.JitbitHelpdesk.13439.691a0afc-a0a0-457c-8208-f20b7c4a4cb1@jitbit.com>",
    ),
    (
        "mimekit/messages/delivery-status.txt",
        "newsletter-request@imusic.com",
        "5.0.0",
        True,
        "failed",
        "<31FC7EB4.41C6@netscape.com>",
    ),
    (
        "mimekit/messages/delivery-status-no-blank-line.txt",
        "newsletter-request@imusic.com",
        "5.0.0",
        True,
        "failed",
        "<31FC7EB4.41C6@netscape.com>",
    ),
    (
        "mimekit/messages/delivery-status-multiple-blank-lines.txt",
        "orig_recip@customer.com",
        "5.5.0",
        True,
        "failed",
        None,
    ),
    (
        "spamscope-mail-parser/mail_malformed_2",
        "abh@netpar.com.br",
        "4.2.2",
        False,
        "failed",
        "<004801d1fc84$01c934ac$b247f0b7$@infospacemail.com>",
    ),
]

# (file, recipient, feedback type, original Message-ID)
COMPLAINTS = [
    (
        "mailgun-flanker/complaints/aol.eml",
        "redacted@aol.com",
        "abuse",
        "<20101117174130.28884.55421@luna>",
    ),
    (
        "mailgun-flanker/complaints/yahoo.eml",
        "user@yahoo.com",
        "abuse",
        "<20120711015015.4A8BE2E088E@www.example.com>",
    ),
    # The original's headers are cut by a blank line: its Message-ID is body text.
    ("postal-mime/arf.eml", "user@example.com", "abuse", None),
    (
        "mimekit/messages/feedback-report.txt",
        "user@example.com",
        "abuse",
        "<8787KJKJ3K4J3K4J3K4J3.mail@example.net>",
    ),
]


@pytest.mark.parametrize(
    ("name", "recipient", "status", "hard", "action", "message_id"),
    BOUNCES,
    ids=[entry[0] for entry in BOUNCES],
)
def test_real_bounces_are_classified(name, recipient, status, hard, action, message_id):
    feedback = classify(corpus(name))
    assert feedback is not None
    assert feedback.kind == "bounce"
    assert feedback.recipient == recipient
    assert feedback.status == status
    assert feedback.hard is hard
    assert feedback.action == action
    assert feedback.original_message_id == message_id
    assert recipient in feedback.recipients


@pytest.mark.parametrize(
    ("name", "recipient", "feedback_type", "message_id"),
    COMPLAINTS,
    ids=[entry[0] for entry in COMPLAINTS],
)
def test_real_complaints_are_classified(name, recipient, feedback_type, message_id):
    feedback = classify(corpus(name))
    assert feedback is not None
    assert feedback.kind == "complaint"
    assert feedback.recipient == recipient
    assert feedback.feedback_type == feedback_type
    assert feedback.original_message_id == message_id


def test_diagnostic_is_the_remote_servers_answer():
    feedback = classify(corpus("mailgun-flanker/bounce/mailbox-full.eml"))
    assert feedback.diagnostic == "552 5.2.2 E4.12 user MAILBOX FULL"


def test_multi_recipient_bounce_lists_every_failed_address():
    feedback = classify(corpus("mikel-mail/multipart_report_emails/multi_address_bounce1.eml"))
    assert feedback.recipients == (
        "bbbbvhvbbvkjbhfbvbvjhb@gmail.com",
        "bscdbcjhasbcjhbdscbhbsdhcbj@gmail.com",
        "egyfefsdvsfvvhjsd@gmail.com",
        "kfhejkfbsjkjsbhds@gmail.com",
        "qfvhgsvhgsduiohncdhcvhsdfvsfygusd@gmail.com",
    )


@pytest.mark.parametrize(
    "name",
    [
        "mailgun-flanker/disposition-notification.eml",
        "mimekit/messages/disposition-notification.txt",
        "zbateson-mail-mime-parser/m4006.txt",
    ],
)
def test_read_receipts_are_not_bounces(name):
    assert classify(corpus(name)) is None


@pytest.mark.parametrize(
    "name",
    [
        "mailgun-flanker/iphone.eml",
        "mailgun-flanker/outlook-express.eml",
        "postal-mime/calendar-event.eml",
        "nodemailer-mailparser/mixed.eml",
        "nodemailer-mailparser/spam.eml",
        "mikel-mail/attachment_emails/attachment_message_rfc822.eml",
        "zbateson-mail-mime-parser/m0001.txt",
        "mimekit/tnef/ukr.eml",
    ],
)
def test_ordinary_mail_is_not_a_report(name):
    assert classify(corpus(name)) is None


def test_no_other_corpus_file_is_taken_for_a_report():
    reports = {entry[0] for entry in BOUNCES + COMPLAINTS}
    checked = 0
    for path in sorted(CORPUS.rglob("*")):
        relative = path.relative_to(CORPUS).as_posix()
        if not path.is_file() or relative in reports or path.suffix in (".md", ".tnef"):
            continue
        assert classify(path.read_bytes()) is None, relative
        checked += 1
    assert checked > 100


# --- synthetic forms ---------------------------------------------------------------

QMAIL = b"""\
Return-Path: <>
From: MAILER-DAEMON@mail.example.com
To: sender@example.com
Subject: failure notice
Date: Mon, 2 Mar 2026 10:00:00 +0000

Hi. This is the qmail-send program at mail.example.com.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<nobody@Example.ORG>:
192.0.2.1 does not like recipient.
Remote host said: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown
Giving up on 192.0.2.1.

--- Below this line is a copy of the message.

Return-Path: <sender@example.com>
From: Sender <sender@example.com>
To: nobody@example.org
Subject: Your invoice
Message-ID: <dialer-1-42@ucmail.example.com>

Hello
"""

EXIM = b"""\
Return-path: <>
From: Mail Delivery System <Mailer-Daemon@mx.example.net>
To: sender@example.com
Subject: Mail delivery failed: returning message to sender
X-Failed-Recipients: gone@example.org
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  gone@example.org
    host mx.example.org [192.0.2.2]
    SMTP error from remote mail server after RCPT TO:<gone@example.org>:
    550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown

------ This is a copy of the message, including all the headers. ------

Return-path: <sender@example.com>
Message-Id: <dialer-1-43@ucmail.example.com>
From: sender@example.com
To: gone@example.org
Subject: Offer

Hi
"""

POSTFIX_PLAIN_DELAY = b"""\
From: MAILER-DAEMON@relay.example.com (Mail Delivery System)
To: sender@example.com
Subject: Delayed Mail (still being retried)

This is the mail system at host relay.example.com.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

<slow@example.org>: connect to mx.example.org[192.0.2.3]:25: Connection timed out
"""


def test_qmail_bounce():
    feedback = classify(QMAIL)
    assert feedback == Feedback(
        kind="bounce",
        recipient="nobody@example.org",
        status="5.1.1",
        hard=True,
        diagnostic=(
            "Remote host said: 550 5.1.1 <nobody@example.org>: "
            "Recipient address rejected: User unknown"
        ),
        original_message_id="<dialer-1-42@ucmail.example.com>",
        action="failed",
        recipients=("nobody@example.org",),
    )


def test_exim_bounce():
    feedback = classify(EXIM)
    assert feedback.recipient == "gone@example.org"
    assert feedback.status == "5.1.1"
    assert feedback.hard
    assert feedback.original_message_id == "<dialer-1-43@ucmail.example.com>"


def test_plain_text_delay_warning_is_soft():
    feedback = classify(POSTFIX_PLAIN_DELAY)
    assert feedback.recipient == "slow@example.org"
    assert feedback.status == "4.0.0"
    assert not feedback.hard
    assert feedback.action == "delayed"


def _report(status_part: bytes, report_type: bytes = b"delivery-status") -> bytes:
    return (
        b"From: MAILER-DAEMON@mx.example.com\r\n"
        b"To: sender@example.com\r\n"
        b"Subject: Delivery Status Notification\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=" + report_type + b'; boundary="b"\r\n'
        b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the report.\r\n"
        b"--b\r\n" + status_part + b"\r\n"
        b"--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        b"Message-ID: <dialer-9-1@ucmail.example.com>\r\nTo: x@example.org\r\n"
        b"\r\n--b--\r\n"
    )


def test_a_success_notification_is_not_a_bounce():
    part = (
        b"Content-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.com\r\n\r\n"
        b"Final-Recipient: rfc822; x@example.org\r\nAction: delivered\r\nStatus: 2.0.0\r\n"
    )
    assert classify(_report(part)) is None


def test_a_base64_encoded_delivery_status_part_is_read():
    import base64

    fields = (
        b"Reporting-MTA: dns; mx.example.com\r\n\r\n"
        b"Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\nStatus: 5.7.1\r\n"
        b"Diagnostic-Code: smtp; 550 5.7.1 Blocked by policy\r\n"
    )
    part = (
        b"Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(fields).replace(b"\n", b"\r\n")
    )
    feedback = classify(_report(part))
    assert (feedback.recipient, feedback.status, feedback.diagnostic) == (
        "x@example.org",
        "5.7.1",
        "550 5.7.1 Blocked by policy",
    )
    assert feedback.original_message_id == "<dialer-9-1@ucmail.example.com>"


def test_a_global_delivery_status_with_a_utf8_recipient():
    part = (
        "Content-Type: message/global-delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        "Final-Recipient: utf-8; josé@exämple.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    ).encode()
    feedback = classify(_report(part))
    assert feedback.recipient == "josé@exämple.com"
    assert feedback.hard


def test_missing_status_falls_back_to_the_diagnostic_code():
    part = (
        b"Content-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.com\r\n\r\n"
        b"Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\n"
        b"Diagnostic-Code: smtp; 554 5.7.1 rejected\r\n"
    )
    assert classify(_report(part)).status == "5.7.1"


def test_a_bounce_forwarded_by_a_customer_is_not_a_bounce():
    inner = corpus("mailgun-flanker/bounce/zed.eml")
    forwarded = (
        b"From: Customer <customer@example.org>\r\n"
        b"To: support@example.com\r\n"
        b"Subject: Fwd: Undelivered Mail Returned to Sender\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="f"\r\n\r\n'
        b"--f\r\nContent-Type: text/plain\r\n\r\nWhat does this mean?\r\n"
        b"--f\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--f--\r\n"
    )
    assert classify(forwarded) is None


def test_a_person_writing_about_undeliverable_mail_is_not_a_bounce():
    mail = (
        b"From: Ann <ann@example.org>\r\nTo: support@example.com\r\n"
        b"Subject: Undeliverable: my order\r\n\r\n"
        b"My mail to bob@example.net failed with 550 5.1.1, can you help?\r\n"
    )
    assert classify(mail) is None


def test_an_auto_reply_from_postmaster_is_not_a_bounce():
    mail = (
        b"From: postmaster@example.org\r\nTo: sender@example.com\r\n"
        b"Subject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\n"
        b"I am away until Monday. Write to help@example.org.\r\n"
    )
    assert classify(mail) is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 1000,
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x",
        b"Content-Type: message/delivery-status\r\n\r\n" + b"Final-Recipient: ;;;\r\n" * 1000,
        b"Content-Type: message/feedback-report\r\n\r\n\r\n",
        "From: MAILER-DAEMON@x.example\r\nSubject: Undeliverable\r\n\r\n<ünï@\udcff>\r\n".encode(
            "utf-8", "surrogateescape"
        ),
    ],
)
def test_garbage_never_raises(raw):
    classify(raw)


def test_non_bytes_input_gives_none():
    assert classify("From: x") is None  # type: ignore[arg-type]
    assert classify(None) is None  # type: ignore[arg-type]


def test_deeply_nested_multipart_never_raises():
    depth = 2000
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    raw = b"From: MAILER-DAEMON@x.example\r\nSubject: failure notice\r\n" + head + b"\r\nx\r\n"
    assert classify(raw) is None


def test_huge_input_is_read_only_up_to_the_cap():
    raw = corpus("mailgun-flanker/bounce/zed.eml") + b"x" * (8 * 1024 * 1024)
    assert classify(raw).recipient.startswith("asdfasdf")
