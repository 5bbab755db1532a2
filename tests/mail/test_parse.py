import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ucmail_ext.mail.parse import (
    UNREADABLE_SUBJECT,
    ParseLimits,
    normalize_message_id,
    parse_message,
    safe_filename,
)

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


def mail(*headers: str, body: str | bytes = "Hello.\n") -> bytes:
    """A message from header lines and a body, with CRLF line ends as on the wire."""
    head = "\r\n".join(headers).encode("utf-8")
    data = body if isinstance(body, bytes) else body.replace("\n", "\r\n").encode("utf-8")
    return head + b"\r\n\r\n" + data


BASIC = (
    "From: Ann Customer <Ann@Example.COM>",
    "To: support@ucmail.test",
    "Subject: Order 17",
    "Date: Tue, 07 May 2024 23:11:57 +0200",
    "Message-ID: <abc.123@example.com>",
)


def multipart(subtype: str, *parts: str, boundary: str = "BOUNDARY") -> str:
    body = "".join(f"--{boundary}\n{part}\n" for part in parts)
    return f"Content-Type: multipart/{subtype}; boundary={boundary}\n\n{body}--{boundary}--\n"


def with_body(mime: str, *headers: str) -> bytes:
    """A message whose MIME structure (headers + body) is given as one text."""
    mime_headers, _, body = mime.partition("\n\n")
    return mail(*headers, "MIME-Version: 1.0", *mime_headers.split("\n"), body=body)


# --------------------------------------------------------------------------- basics


def test_plain_message_fields():
    parsed = parse_message(mail(*BASIC, "Cc: B <b@example.com>, c@example.com"))

    assert parsed.subject == "Order 17"
    assert parsed.from_addr == "ann@example.com"
    assert parsed.from_name == "Ann Customer"
    assert parsed.to == ["support@ucmail.test"]
    assert parsed.cc == ["b@example.com", "c@example.com"]
    assert parsed.date == datetime(2024, 5, 7, 21, 11, 57, tzinfo=UTC)
    assert parsed.text == "Hello."
    assert parsed.html == ""
    assert parsed.attachments == []
    assert not parsed.unparseable
    assert not parsed.is_auto_submitted


def test_message_ids_are_stored_without_angle_brackets():
    parsed = parse_message(
        mail(
            *BASIC,
            "In-Reply-To: <parent@example.com> (sent by Ann)",
            "References: <root@example.com>\r\n <parent@example.com>",
        )
    )

    assert parsed.message_id == "abc.123@example.com"
    assert parsed.in_reply_to == "parent@example.com"
    assert parsed.references == ["root@example.com", "parent@example.com"]
    assert normalize_message_id("<abc.123@example.com>") == parsed.message_id
    assert normalize_message_id(" abc.123@example.com ") == parsed.message_id


def test_missing_message_id_is_empty_and_recorded():
    headers = [h for h in BASIC if not h.startswith("Message-ID")]

    parsed = parse_message(mail(*headers))

    assert parsed.message_id == ""
    assert "missing Message-ID header" in parsed.defects


def test_duplicate_message_id_uses_the_first_one():
    parsed = parse_message(mail(*BASIC, "Message-ID: <second@example.com>"))

    assert parsed.message_id == "abc.123@example.com"
    assert any("several Message-ID headers" in d for d in parsed.defects)


def test_missing_date_is_none():
    headers = [h for h in BASIC if not h.startswith("Date")]

    parsed = parse_message(mail(*headers))

    assert parsed.date is None
    assert "missing Date header" in parsed.defects


def test_unreadable_date_is_none_with_a_defect():
    headers = [h for h in BASIC if not h.startswith("Date")]

    parsed = parse_message(mail(*headers, "Date: the day after tomorrow"))

    assert parsed.date is None
    assert any(d.startswith("unreadable Date header") for d in parsed.defects)


def test_date_without_zone_is_read_as_utc():
    headers = [h for h in BASIC if not h.startswith("Date")]

    parsed = parse_message(mail(*headers, "Date: Tue, 07 May 2024 23:11:57 -0000"))

    assert parsed.date == datetime(2024, 5, 7, 23, 11, 57, tzinfo=UTC)


def test_sha256_and_size_describe_the_raw_bytes():
    raw = mail(*BASIC)

    parsed = parse_message(raw)

    assert parsed.size == len(raw)
    assert len(parsed.sha256) == 64


# --------------------------------------------------------------------------- charsets


def test_iso_2022_jp_subject_and_body_are_decoded():
    body = "ご注文ありがとうございます".encode("iso-2022-jp")
    subject = base64.b64encode("ご注文".encode("iso-2022-jp")).decode()
    raw = mail(
        "From: shop@example.jp",
        f"Subject: =?ISO-2022-JP?B?{subject}?=",
        "Content-Type: text/plain; charset=ISO-2022-JP",
        "Content-Transfer-Encoding: 7bit",
        body=body,
    )

    parsed = parse_message(raw)

    assert parsed.subject == "ご注文"
    assert parsed.text == "ご注文ありがとうございます"


def test_iso_2022_jp_corpus_message_is_decoded():
    parsed = parse_message((CORPUS / "freescout" / "message-5-iso-2022-jp.eml").read_bytes())

    assert parsed.subject == "ご注文商品を本日お届けします"


def test_unknown_charset_falls_back_instead_of_raising():
    raw = mail(
        "From: a@example.com",
        "Subject: =?x-no-such-charset?q?caf=C3=A9?=",
        "Content-Type: text/plain; charset=x-no-such-charset",
        "Content-Transfer-Encoding: 8bit",
        body="café à la crème".encode(),
    )

    parsed = parse_message(raw)

    assert parsed.text == "café à la crème"
    assert "caf" in parsed.subject


def test_undecodable_body_in_unknown_charset_uses_windows_1252():
    raw = mail(
        "From: a@example.com",
        "Content-Type: text/plain; charset=x-no-such-charset",
        "Content-Transfer-Encoding: 8bit",
        body="café".encode("latin-1"),
    )

    assert parse_message(raw).text == "café"


def test_body_declared_ascii_but_utf8_is_read_as_utf8():
    raw = mail(
        "From: a@example.com",
        "Content-Type: text/plain; charset=us-ascii",
        "Content-Transfer-Encoding: 8bit",
        body="Grüße".encode(),
    )

    assert parse_message(raw).text == "Grüße"


def test_non_text_codec_as_charset_is_ignored():
    raw = mail(
        "From: a@example.com",
        "Content-Type: text/plain; charset=base64",
        body="aGVsbG8=",
    )

    assert parse_message(raw).text == "aGVsbG8="


def test_raw_utf8_headers_are_read_as_utf8():
    raw = "From: Jöhn <jöhn@exämple.net>\r\nSubject: Säying Hello\r\n\r\nbody".encode()

    parsed = parse_message(raw)

    assert parsed.subject == "Säying Hello"
    assert parsed.from_name == "Jöhn"
    assert parsed.from_addr == "jöhn@exämple.net"


def test_nul_bytes_are_removed_from_bodies():
    parsed = parse_message((CORPUS / "freescout" / "message-4-null-bytes.eml").read_bytes())

    assert "\x00" not in parsed.text
    assert "\x00" not in parsed.html


# --------------------------------------------------------------------------- injection


def test_encoded_word_with_crlf_cannot_start_a_header():
    raw = mail(
        "From: =?utf-8?q?Eve=0D=0ABcc:_victim@example.com?= <eve@example.com>",
        "To: =?utf-8?q?x=0D=0A?= <to@example.com>",
        "Subject: =?utf-8?q?hello=0D=0ABcc:_victim@example.com=00?=",
        "Reply-To: =?utf-8?q?r=0A?= <r@example.com>",
    )

    parsed = parse_message(raw)

    values = [parsed.subject, parsed.from_name, parsed.from_addr, *parsed.to, *parsed.reply_to]
    for value in values:
        assert not any(ch in value for ch in "\r\n\x00"), repr(value)
    assert parsed.subject == "hello Bcc: victim@example.com"
    assert parsed.from_addr == "eve@example.com"
    assert parsed.to == ["to@example.com"]
    assert parsed.reply_to == ["r@example.com"]


def test_encoded_word_in_filename_cannot_smuggle_control_characters():
    raw = with_body(
        multipart(
            "mixed",
            "Content-Type: text/plain\n\nbody",
            "Content-Type: application/pdf\n"
            'Content-Disposition: attachment; filename="=?utf-8?q?a=0D=0Ab=00.pdf?="\n'
            "Content-Transfer-Encoding: base64\n\nJVBERg==",
        ),
        "From: a@example.com",
    )

    (attachment,) = parse_message(raw).attachments

    assert attachment.filename == "a b .pdf"
    assert not any(ch in attachment.original_filename for ch in "\r\n\x00")


# --------------------------------------------------------------------------- structure


def test_alternative_gives_both_text_and_html():
    raw = with_body(
        multipart(
            "alternative",
            "Content-Type: text/plain; charset=utf-8\n\nPlain words",
            "Content-Type: text/html; charset=utf-8\n\n<p>Rich <b>words</b></p>",
        ),
        "From: a@example.com",
    )

    parsed = parse_message(raw)

    assert parsed.text == "Plain words"
    assert parsed.html == "<p>Rich <b>words</b></p>"


def test_html_only_message_gets_a_text_rendering():
    html = (
        "<html><head><title>T</title><style>p {color: red}</style></head><body>"
        "<p>First &amp; second</p><script>alert(1)</script><ul><li>one</li><li>two</li></ul>"
        "</body></html>"
    )
    raw = mail("From: a@example.com", "Content-Type: text/html; charset=utf-8", body=html)

    parsed = parse_message(raw)

    assert parsed.html == html
    assert parsed.text == "First & second\n\n- one\n\n- two"


def test_text_part_next_to_html_is_kept_in_both_renderings():
    raw = with_body(
        multipart(
            "mixed",
            "Content-Type: text/html\n\n<p>Main</p>",
            "Content-Type: text/plain\n\nA note below",
        ),
        "From: a@example.com",
    )

    parsed = parse_message(raw)

    assert parsed.text == "Main\n\nA note below"
    assert "<p>Main</p>" in parsed.html
    assert "A note below" in parsed.html


def test_cid_inline_image_is_an_inline_attachment_with_its_content_id():
    raw = with_body(
        multipart(
            "related",
            'Content-Type: text/html\n\n<p><img src="cid:logo.1@example.com"></p>',
            "Content-Type: image/png\nContent-ID: <logo.1@example.com>\n"
            "Content-Transfer-Encoding: base64\n\niVBORw0KGgo=",
        ),
        "From: a@example.com",
    )

    parsed = parse_message(raw)

    (image,) = parsed.attachments
    assert image.content_id == "logo.1@example.com"
    assert image.inline
    assert image.content_type == "image/png"
    assert image.payload == b"\x89PNG\r\n\x1a\n"
    assert image.filename == "attachment-1.png"
    assert 'src="cid:logo.1@example.com"' in parsed.html


def test_related_root_is_found_by_its_start_parameter():
    raw = with_body(
        multipart(
            "related",
            "Content-Type: image/gif\nContent-ID: <img@x>\n\nGIF89a",
            "Content-Type: text/html\nContent-ID: <root@x>\n\n<p>root</p>",
        ).replace("boundary=BOUNDARY", 'boundary=BOUNDARY; start="<root@x>"'),
        "From: a@example.com",
    )

    parsed = parse_message(raw)

    assert parsed.html == "<p>root</p>"
    assert [a.content_id for a in parsed.attachments] == ["img@x"]


def test_message_rfc822_part_is_an_eml_attachment_and_stays_readable():
    inner = (
        "From: Bob <bob@example.org>\nSubject: Original question\n"
        "Date: Mon, 06 May 2024 10:00:00 +0000\n\nWhere is my parcel?"
    )
    raw = with_body(
        multipart(
            "mixed",
            "Content-Type: text/plain\n\nSee the forwarded mail.",
            f"Content-Type: message/rfc822\n\n{inner}",
        ),
        "From: a@example.com",
    )

    parsed = parse_message(raw)

    (eml,) = parsed.attachments
    assert eml.content_type == "message/rfc822"
    assert eml.filename == "Original question.eml"
    assert b"Where is my parcel?" in eml.payload
    assert b"Subject: Original question" in eml.payload
    assert parse_message(eml.payload).subject == "Original question"
    assert "See the forwarded mail." in parsed.text
    assert "Subject: Original question" in parsed.text
    assert "Where is my parcel?" in parsed.text


def test_attachments_of_an_enclosed_message_are_listed_too():
    parsed = parse_message(
        (CORPUS / "mikel-mail" / "attachment_emails" / "attachment_message_rfc822.eml").read_bytes()
    )

    assert [a.content_type for a in parsed.attachments] == ["message/rfc822", "application/pdf"]


def test_text_calendar_part_is_kept_as_a_calendar_attachment():
    ics = "BEGIN:VCALENDAR\nMETHOD:REQUEST\nBEGIN:VEVENT\nSUMMARY:Call\nEND:VEVENT\nEND:VCALENDAR"
    raw = with_body(
        multipart(
            "alternative",
            "Content-Type: text/plain\n\nYou are invited",
            "Content-Type: text/html\n\n<p>You are invited</p>",
            f"Content-Type: text/calendar; method=REQUEST; charset=utf-8\n\n{ics}",
        ),
        "From: a@example.com",
    )

    parsed = parse_message(raw)

    (invite,) = parsed.attachments
    assert invite.content_type == "text/calendar"
    assert invite.filename == "invite.ics"
    assert b"METHOD:REQUEST" in invite.payload
    assert parsed.text == "You are invited"
    assert parsed.html == "<p>You are invited</p>"


def test_winmail_dat_is_kept_as_a_tnef_attachment():
    tnef = base64.b64encode(b"\x78\x9f\x3e\x22" + b"\x00" * 16).decode()
    raw = with_body(
        multipart(
            "mixed",
            "Content-Type: text/plain\n\nSee attached",
            'Content-Type: application/ms-tnef; name="winmail.dat"\n'
            "Content-Disposition: attachment; filename=winmail.dat\n"
            f"Content-Transfer-Encoding: base64\n\n{tnef}",
        ),
        "From: outlook@example.com",
    )

    (winmail,) = parse_message(raw).attachments

    assert winmail.filename == "winmail.dat"
    assert winmail.content_type == "application/ms-tnef"
    assert winmail.payload.startswith(b"\x78\x9f\x3e\x22")


def test_corpus_winmail_dat_is_kept():
    parsed = parse_message((CORPUS / "mimekit" / "tnef" / "rich-text.eml").read_bytes())

    assert [a.filename for a in parsed.attachments] == ["winmail.dat"]


def test_multipart_without_boundary_keeps_its_body_readable():
    raw = mail(
        "From: a@example.com",
        "Content-Type: multipart/mixed",
        body="just some text",
    )

    parsed = parse_message(raw)

    assert parsed.text == "just some text"
    assert parsed.defects


# --------------------------------------------------------------------------- caps


def test_part_cap_stops_parsing_with_a_defect():
    parts = [f"Content-Type: text/plain\n\npart {i}" for i in range(20)]
    raw = with_body(multipart("mixed", *parts), "From: a@example.com")

    parsed = parse_message(raw, ParseLimits(max_parts=5))

    assert "more than 5 MIME parts: the rest was not parsed" in parsed.defects
    assert parsed.text.startswith("part 0")
    assert "part 19" not in parsed.text


def test_corpus_message_with_3043_parts_is_capped():
    raw = (CORPUS / "mailgun-flanker" / "enclosed-endless.eml").read_bytes()

    parsed = parse_message(raw)

    assert "more than 500 MIME parts: the rest was not parsed" in parsed.defects
    assert parsed.subject == "Wow"


def nested(levels: int) -> bytes:
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(levels)
    )
    closing = "".join(f"--b{i}--\n" for i in reversed(range(levels)))
    return with_body(f"{opening}\ninner\n{closing}", "From: a@example.com", "Subject: deep")


def test_depth_cap_stops_parsing_with_a_defect():
    parsed = parse_message(nested(30), ParseLimits(max_depth=10))

    assert "MIME nesting deeper than 10 levels: the rest was not parsed" in parsed.defects
    assert parsed.subject == "deep"


def test_nesting_that_would_overflow_the_stack_is_capped():
    parsed = parse_message(nested(5000))

    assert not parsed.unparseable
    assert "MIME nesting deeper than 20 levels: the rest was not parsed" in parsed.defects


def test_nested_enclosed_messages_are_capped():
    level = "From: a@example.com\nSubject: level\nContent-Type: message/rfc822\n\n"
    raw = (level * 3000 + "From: z@example.com\n\ninner").encode()

    parsed = parse_message(raw)

    assert "MIME nesting deeper than 20 levels: the rest was not parsed" in parsed.defects
    assert parsed.attachments[0].content_type == "message/rfc822"


def test_header_block_cap_drops_later_fields_with_a_defect():
    noise = [f"X-Noise-{i}: {'n' * 50}" for i in range(100)]
    raw = mail("Subject: kept", *noise, "From: late@example.com")

    parsed = parse_message(raw, ParseLimits(max_header_bytes=2000))

    assert parsed.subject == "kept"
    assert parsed.from_addr == ""
    assert any(d.startswith("header block larger than 2000 bytes") for d in parsed.defects)


def test_long_header_value_is_truncated_with_a_defect():
    parsed = parse_message((CORPUS / "mailgun-flanker" / "long-header.eml").read_bytes())

    assert "Subject header longer than 65536 bytes: truncated" in parsed.defects
    assert parsed.subject.startswith("Die heiße Zypernsonne")
    assert len(parsed.subject) < 65536


def test_message_over_the_byte_cap_is_parsed_up_to_the_cap():
    raw = mail(*BASIC, body="x" * 5000)

    parsed = parse_message(raw, ParseLimits(max_bytes=1000))

    assert parsed.subject == "Order 17"
    assert parsed.size == len(raw)
    assert len(parsed.text) < 1000
    assert any("larger than 1000 bytes" in d for d in parsed.defects)


# --------------------------------------------------------------------------- unreadable input


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00" * 64, bytes(range(256)) * 4, b"\r\n\r\n", b"no header here at all"],
    ids=["empty", "nul", "binary", "blank-lines", "no-header"],
)
def test_unreadable_input_still_becomes_a_message(raw):
    parsed = parse_message(raw)

    assert parsed.unparseable
    assert parsed.subject == UNREADABLE_SUBJECT
    assert parsed.defects
    assert "\x00" not in parsed.text


def test_unreadable_message_keeps_its_text_for_the_agent():
    assert parse_message(b"no header here at all").text == "no header here at all"


def test_wrong_input_types_do_not_raise():
    assert parse_message(None).unparseable
    assert parse_message(bytearray(mail(*BASIC))).subject == "Order 17"
    assert parse_message(mail(*BASIC).decode()).subject == "Order 17"


def test_byte_order_mark_before_the_headers_is_ignored():
    parsed = parse_message(b"\xef\xbb\xbf" + mail(*BASIC))

    assert parsed.subject == "Order 17"


# --------------------------------------------------------------------------- auto-submitted


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: auto-replied",
        "Auto-Submitted: auto-generated; owner-email=x@example.com",
        "Precedence: bulk",
        "Precedence: list",
        "Precedence: junk",
        "List-Id: <news.example.com>",
        "List-Unsubscribe: <mailto:unsubscribe@example.com>",
        "X-Autoreply: yes",
        "X-Autorespond: Out of office",
        "X-Auto-Response-Suppress: All",
        "Return-Path: <>",
    ],
)
def test_auto_submitted_signals_are_detected(header):
    parsed = parse_message(mail(*BASIC, header))

    assert parsed.is_auto_submitted
    assert parsed.auto_submitted_reason


@pytest.mark.parametrize(
    "sender",
    ["MAILER-DAEMON@mx.example.com", "postmaster@example.com", "no-reply@example.com"],
)
def test_mail_from_robots_is_auto_submitted(sender):
    headers = [h for h in BASIC if not h.startswith("From")]

    assert parse_message(mail(*headers, f"From: {sender}")).is_auto_submitted


def test_multipart_report_is_auto_submitted():
    raw = with_body(
        multipart(
            "report",
            "Content-Type: text/plain\n\nDelivery failed",
            "Content-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; mx.example.com\n\n"
            "Final-Recipient: rfc822; gone@example.com\nAction: failed\nStatus: 5.1.1",
        ),
        "From: Mail Delivery <bounces@example.com>",
    )

    parsed = parse_message(raw)

    assert parsed.is_auto_submitted
    assert parsed.text == "Delivery failed"
    (status,) = parsed.attachments
    assert status.content_type == "message/delivery-status"
    assert b"Status: 5.1.1" in status.payload


@pytest.mark.parametrize("header", ["Auto-Submitted: no", "Precedence: first-class", "X-Foo: 1"])
def test_ordinary_mail_is_not_auto_submitted(header):
    assert not parse_message(mail(*BASIC, header)).is_auto_submitted


# --------------------------------------------------------------------------- file names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        (".htaccess", "htaccess"),
        ("...", "attachment-3.pdf"),
        ("", "attachment-3.pdf"),
        ("in\x00voice\r\n.pdf", "invoice.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("report: Q1?.pdf", "report_ Q1_.pdf"),
        ("CON.txt", "_CON.txt"),
        ("résumé.pdf", "résumé.pdf"),
        ("  spaced   out .pdf ", "spaced out .pdf"),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name, 3, "application/pdf") == expected


def test_safe_filename_caps_the_length_and_keeps_the_extension():
    name = safe_filename("ä" * 300 + ".docx", 1, "application/octet-stream")

    assert name.endswith(".docx")
    assert len(name.encode("utf-8")) <= 200


def test_generated_filename_follows_the_content_type():
    assert safe_filename("", 2, "message/rfc822") == "attachment-2.eml"
    assert safe_filename("", 2, "application/x-unknown-thing") == "attachment-2.bin"


def test_attachment_path_in_the_filename_is_dropped():
    raw = with_body(
        multipart(
            "mixed",
            "Content-Type: text/plain\n\nbody",
            "Content-Type: text/plain\n"
            'Content-Disposition: attachment; filename="../../etc/passwd"\n\nroot:x:0:0',
        ),
        "From: a@example.com",
    )

    (attachment,) = parse_message(raw).attachments

    assert attachment.filename == "passwd"
    assert attachment.original_filename == "../../etc/passwd"
    assert attachment.payload == b"root:x:0:0"
    assert not attachment.inline
