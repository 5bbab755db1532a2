from datetime import UTC, datetime

import pytest

from ucmail_ext.mail.parse import parse_message
from ucmail_ext.mail.thread import (
    find_subject_token,
    is_our_message_id,
    make_message_id,
    new_message_id,
    quote_history,
    referenced_ids,
    strip_reply_prefixes,
    subject_token,
)


def test_subject_token_names_the_interaction():
    assert subject_token(123) == "[#123]"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [#123] My order", 123),
        ("My order [#7]", 7),
        ("Fwd: [#12] Re: [#5] chain", 12),
        ("No token here", None),
        ("[#0] zero is not an interaction", None),
        ("[#abc] not a number", None),
        ("[# 12] spaced", None),
        ("", None),
    ],
)
def test_find_subject_token(subject, expected):
    assert find_subject_token(subject) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Hello", "Hello"),
        ("RE: RE: re: Hello", "Hello"),
        ("Fwd: FW: Fw: Hello", "Hello"),
        ("AW: WG: Hello", "Hello"),
        ("SV: Sv: Hello", "Hello"),
        ("RV: RES: ENC: TR: Hello", "Hello"),
        ("Re[2]: Re^3: Hello", "Hello"),
        ("Re：Hello", "Hello"),
        ("Re: [#123] Hello", "Hello"),
        ("[#123] Re: Hello [#9]", "Hello"),
        ("Hello: world", "Hello: world"),
        ("Regarding: the invoice", "Regarding: the invoice"),
        ("", ""),
    ],
)
def test_strip_reply_prefixes(subject, expected):
    assert strip_reply_prefixes(subject) == expected


def test_referenced_ids_put_in_reply_to_first_then_references_newest_first():
    raw = (
        b"From: a@example.com\r\n"
        b"In-Reply-To: <parent@ucmail.test>\r\n"
        b"References: <root@ucmail.test> <middle@ucmail.test>\r\n <parent@ucmail.test>\r\n"
        b"\r\nbody"
    )

    ids = referenced_ids(parse_message(raw))

    assert ids == ["parent@ucmail.test", "middle@ucmail.test", "root@ucmail.test"]


def test_referenced_ids_of_a_new_message_are_empty():
    assert referenced_ids(parse_message(b"From: a@example.com\r\n\r\nbody")) == []


def test_make_message_id_is_deterministic():
    first = make_message_id("dialer", "42", "Mail.Example.com")

    assert first == "<ucmail.dialer.42@mail.example.com>"
    assert make_message_id("dialer", "42", "mail.example.com") == first


def test_make_message_id_escapes_the_ident_without_collisions():
    dotted = make_message_id("record", "a.b", "example.com")
    dashed = make_message_id("record", "a-b", "example.com")
    hostile = make_message_id("record", "x>\r\nBcc: y@z", "example.com")

    assert dotted != dashed
    assert dotted == "<ucmail.record.a=2Eb@example.com>"
    assert not any(ch in hostile for ch in "\r\n ")
    assert hostile.count(">") == 1


@pytest.mark.parametrize(
    ("kind", "ident", "domain"),
    [
        ("", "1", "example.com"),
        ("dia.ler", "1", "example.com"),
        ("dialer", "", "example.com"),
        ("dialer", "1", ""),
        ("dialer", "1", "example.com\r\nBcc: x@y"),
        ("dialer", "1", "exa mple.com"),
        ("dialer", "1", "a..b"),
    ],
)
def test_make_message_id_refuses_unusable_parts(kind, ident, domain):
    with pytest.raises(ValueError):
        make_message_id(kind, ident, domain)


def test_new_message_id_is_random_and_ours():
    first, second = new_message_id("example.com"), new_message_id("example.com")

    assert first != second
    assert first.startswith("<") and first.endswith("@example.com>")
    assert is_our_message_id(first, "example.com")


def test_new_message_id_refuses_a_header_injection_domain():
    with pytest.raises(ValueError):
        new_message_id("example.com>\r\nBcc: x@y")


@pytest.mark.parametrize(
    ("message_id", "domain", "expected"),
    [
        ("<ucmail.dialer.42@example.com>", None, True),
        ("ucmail.dialer.42@example.com", "EXAMPLE.com", True),
        ("<ucmail.dialer.42@example.com>", "other.org", False),
        ("<170000000000.1234.99999.ucmail@example.com>", "example.com", True),
        ("<CAF=abc@mail.gmail.com>", None, False),
        ("<ucmailer@example.com>", None, False),
        ("", None, False),
        ("no-at-sign", None, False),
    ],
)
def test_is_our_message_id(message_id, domain, expected):
    assert is_our_message_id(message_id, domain) is expected


def test_quote_history_quotes_every_line_under_an_attribution():
    quoted = quote_history(
        "Hello,\r\n\r\n> earlier words\nThanks\n",
        "Ann <ann@example.com>",
        datetime(2024, 5, 7, 9, 30, tzinfo=UTC),
    )

    assert quoted == (
        "On Tue, 07 May 2024 09:30:00 +0000, Ann <ann@example.com> wrote:\n"
        "> Hello,\n"
        ">\n"
        ">> earlier words\n"
        "> Thanks"
    )


def test_quote_history_without_a_date():
    assert quote_history("hi", "ann@example.com", None) == "ann@example.com wrote:\n> hi"


def test_quote_history_flattens_a_hostile_sender_to_one_line():
    quoted = quote_history("hi", "Eve\r\n<eve@example.com>", "yesterday")

    assert quoted.splitlines()[0] == "On yesterday, Eve <eve@example.com> wrote:"
