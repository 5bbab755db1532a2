import pytest

from ucmail_ext.mail.headers import (
    HeaderInjectionError,
    check_header_value,
    format_address,
    is_valid_address,
    normalize_address,
)


@pytest.mark.parametrize(
    "value",
    ["Hello", "Tab\tinside", "Ünïcödé ✓ subject", "", "x" * 2000],
)
def test_plain_header_values_pass_unchanged(value):
    assert check_header_value(value, "subject") is value


@pytest.mark.parametrize(
    "value",
    [
        "Hi\r\nBcc: victim@example.com",
        "Hi\nBcc: victim@example.com",
        "Hi\rBcc: victim@example.com",
        "nul\x00byte",
        "bell\x07",
        "escape\x1b[31m",
        "del\x7f",
        "next line\x85Bcc: x",
        "line separator\u2028Bcc: x",
        "paragraph separator\u2029Bcc: x",
    ],
)
def test_line_breaks_and_control_characters_are_refused(value):
    with pytest.raises(HeaderInjectionError):
        check_header_value(value, "subject")


def test_header_injection_error_is_a_value_error_naming_the_field():
    with pytest.raises(ValueError, match="^subject: control character U\\+000D"):
        check_header_value("Hi\r\nBcc: x", "subject")


def test_header_injection_error_shows_at_most_40_characters_of_the_value():
    secret_tail = "SECRET-TAIL-NEVER-SHOWN"
    value = "A" * 39 + "\n" + "B" * 100 + secret_tail
    with pytest.raises(HeaderInjectionError) as info:
        check_header_value(value, "subject")
    message = str(info.value)
    assert secret_tail not in message
    assert "B" * 2 not in message
    assert "A" * 39 in message


@pytest.mark.parametrize(
    "addr",
    [
        "john@example.com",
        "John.Smith+tag@mail.example.co.uk",
        "o'hara@example.ie",
        "x_y-z@sub-domain.example.org",
        "user@xn--bcher-kva.example",
        "josé@exämple.com",
        "用户@例子.广告",
        "δοκιμή@παράδειγμα.δοκιμή",
        "a@b.co",
        "x" * 64 + "@example.com",
    ],
)
def test_valid_addresses_are_accepted(addr):
    assert is_valid_address(addr)


@pytest.mark.parametrize(
    "addr",
    [
        "",
        "plainaddress",
        "@example.com",
        "john@",
        "john@@example.com",
        "john@example..com",
        "john..smith@example.com",
        ".john@example.com",
        "john.@example.com",
        "john smith@example.com",
        " john@example.com",
        "john@example.com ",
        "John <john@example.com>",
        "<john@example.com>",
        '"john smith"@example.com',
        "john@localhost",
        "john@[192.0.2.1]",
        "john@192.0.2.1",
        "john@-example.com",
        "john@example-.com",
        "john@exa_mple.com",
        "john@example.com.",
        "john@example.com\r\nBcc: x@example.com",
        "jo\x00hn@example.com",
        "jo\u00a0hn@example.com",
        "jo\u2028hn@example.com",
        "x" * 65 + "@example.com",
        "john@" + "a" * 64 + ".com",
        "a@" + ".".join(["b" * 60] * 5),
    ],
)
def test_invalid_addresses_are_refused(addr):
    assert not is_valid_address(addr)


def test_address_over_254_characters_is_refused():
    domain = ".".join(["d" * 60] * 4) + ".com"
    assert is_valid_address("abc@" + domain)
    assert len("abcdefgh@" + domain) > 254
    assert not is_valid_address("abcdefgh@" + domain)


def test_non_string_is_not_an_address():
    assert not is_valid_address(None)  # type: ignore[arg-type]


def test_normalize_address_lowercases_only_the_domain():
    assert normalize_address("John.Smith@Example.COM") == "John.Smith@example.com"


def test_format_address_quotes_display_names_that_need_it():
    assert format_address("Bob", "bob@example.com") == "Bob <bob@example.com>"
    assert format_address("Smith, John", "js@example.com") == '"Smith, John" <js@example.com>'
    quoted = format_address('Bob "the" Boss', "b@example.com")
    assert quoted == '"Bob \\"the\\" Boss" <b@example.com>'


def test_format_address_without_a_name_is_the_bare_address():
    assert format_address("", "bob@example.com") == "bob@example.com"


def test_format_address_keeps_utf8_names_and_local_parts():
    assert format_address("José", "josé@exämple.com") == "José <josé@exämple.com>"


def test_format_address_refuses_injection_in_the_name():
    with pytest.raises(HeaderInjectionError, match="display name"):
        format_address("Bob\r\nBcc: victim@example.com", "bob@example.com")


def test_format_address_refuses_injection_in_the_address():
    with pytest.raises(HeaderInjectionError, match="address"):
        format_address("Bob", "bob@example.com\nBcc: victim@example.com")


@pytest.mark.parametrize("addr", ["not an address", "Bob <bob@example.com>", "bob@localhost"])
def test_format_address_refuses_an_invalid_address(addr):
    with pytest.raises(ValueError, match="not a valid email address"):
        format_address("Bob", addr)
