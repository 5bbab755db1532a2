import csv
import io
import random

import pytest

from ucmail_ext.mail import csvlist
from ucmail_ext.mail.csvlist import DEFAULT_PRIORITY, ListRow, RowError, parse_variables, read_rows

SPEC_EXAMPLE = 'SupportIntegra;;This is a test message.;;"Var1":"value","Var2":"value";9999'
SPEC_EXAMPLE_WITH_EMAIL = (
    'SupportIntegra;john@example.com;This is a test message.;;"Var1":"value","Var2":"value";9999'
)
TOKEN = "att_0123456789abcdef"


def rows(data: str | bytes) -> list[ListRow | RowError]:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return list(read_rows(io.BytesIO(raw)))


def one(data: str | bytes) -> ListRow | RowError:
    (result,) = rows(data)
    return result


def errors(results):
    return [(r.line, r.reason) for r in results if isinstance(r, RowError)]


# --- the spec's own example -------------------------------------------------


def test_spec_example_with_an_email_parses_variables_and_priority():
    assert one(SPEC_EXAMPLE_WITH_EMAIL + "\n") == ListRow(
        line=1,
        campaign="SupportIntegra",
        email="john@example.com",
        message="This is a test message.",
        attachments=[],
        variables={"Var1": "value", "Var2": "value"},
        priority=9999,
    )


def test_spec_example_as_printed_is_a_row_error_for_the_missing_email():
    # The spec's example lost its email column; an empty email is never sendable.
    assert one(SPEC_EXAMPLE + "\n") == RowError(1, "missing email address")


def test_spec_example_without_a_final_newline():
    assert one(SPEC_EXAMPLE_WITH_EMAIL).variables == {"Var1": "value", "Var2": "value"}


def test_spec_older_variables_form_with_spaces():
    row = one("c;a@example.com;;;nameVariable1 = value: variableName2 = value 2\n")
    assert row.variables == {"nameVariable1": "value", "variableName2": "value 2"}


# --- columns ------------------------------------------------------------------


def test_missing_trailing_columns_take_their_defaults():
    assert one("Sales;ann@example.com\n") == ListRow(
        line=1,
        campaign="Sales",
        email="ann@example.com",
        message="",
        attachments=[],
        variables={},
        priority=DEFAULT_PRIORITY,
    )


def test_all_six_columns():
    row = one(f'Sales;ann@example.com;Hi ${{name}};{TOKEN};"name":"Ann";3\n')
    assert row == ListRow(1, "Sales", "ann@example.com", "Hi ${name}", [TOKEN], {"name": "Ann"}, 3)


def test_more_than_six_columns_is_a_row_error():
    result = one("Sales;ann@example.com;m;;;1;surplus\n")
    assert isinstance(result, RowError)
    assert result.line == 1
    assert result.reason.startswith("too many columns (7")


def test_missing_campaign_is_a_row_error():
    assert one(";ann@example.com;m\n") == RowError(1, "missing campaign")


def test_campaign_with_control_characters_is_a_row_error():
    result = one("Sal\x1bes;ann@example.com\n")
    assert isinstance(result, RowError)
    assert result.reason.startswith("invalid campaign name")


def test_campaign_and_email_are_trimmed_message_is_kept_as_written():
    row = one("  Sales ;  ann@example.com  ;  indented message  \n")
    assert (row.campaign, row.email, row.message) == (
        "Sales",
        "ann@example.com",
        "  indented message  ",
    )


# --- header and blank lines ---------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "campaign;email;message;attachments;variables;priority",
        "Campaign;EMAIL;Message;Attachments;Variables;Priority",
        "campaign;email",
        " campaign ; email ;mensaje",
    ],
)
def test_a_header_row_is_skipped(header):
    assert one(f"{header}\nSales;ann@example.com\n").line == 2


def test_a_header_row_after_the_first_row_is_not_skipped():
    results = rows("Sales;ann@example.com\ncampaign;email\n")
    assert isinstance(results[0], ListRow)
    assert results[1] == RowError(2, "invalid email address 'email'")


def test_utf8_bom_before_the_header_is_ignored():
    data = '\ufeffcampaign;email\nVentas;josé@exämple.com;¡Hola ${n}!;;"n":"Zoë"\n'
    row = one(data)
    assert (row.line, row.campaign, row.email, row.message) == (
        2,
        "Ventas",
        "josé@exämple.com",
        "¡Hola ${n}!",
    )
    assert row.variables == {"n": "Zoë"}


def test_blank_lines_are_skipped_but_counted():
    data = "\n\nSales;a@example.com\n   \n;;;;;\n\r\nSales;b@example.com\n\n"
    assert [r.line for r in rows(data)] == [3, 7]


def test_empty_list_gives_no_rows():
    assert rows("") == []
    assert rows("campaign;email;message;attachments;variables;priority\n") == []


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_any_line_ending(newline):
    data = (
        newline.join(
            [
                "Sales;a@example.com;one",
                'Sales;b@example.com;"two' + newline + 'lines"',
                "Sales;c@example.com",
            ]
        )
        + newline
    )
    results = rows(data)
    assert [r.line for r in results] == [1, 2, 4]
    assert results[1].message == "two" + newline + "lines"


# --- CSV quoting --------------------------------------------------------------


def test_quoted_message_with_semicolons_doubled_quotes_and_line_breaks():
    data = 'Sales;a@example.com;"a ""quoted"" message; with semicolon\nand a second line";;;4\n'
    row = one(data)
    assert row.message == 'a "quoted" message; with semicolon\nand a second line'
    assert row.priority == 4


def test_line_numbers_are_physical_lines_of_the_row_start():
    data = (
        "campaign;email;message\n"
        'Sales;a@example.com;"line 1\nline 2\nline 3"\n'
        "Sales;bad-address;x\n"
        'Sales;b@example.com;"x\n\ny";;"v":"1"\n'
        "Sales;c@example.com;m;;;-5\n"
    )
    results = rows(data)
    assert [r.line for r in results] == [2, 5, 6, 9]
    assert errors(results) == [
        (5, "invalid email address 'bad-address'"),
        (9, "invalid priority '-5' (a whole number from 0 to 2147483647)"),
    ]


def test_spec_variables_after_a_multiline_quoted_message_in_the_same_row():
    data = 'Sales;a@example.com;"Hello\nworld";;"first":"Ann","last":"Lee";2\nSales;b@example.com\n'
    results = rows(data)
    assert results[0].message == "Hello\nworld"
    assert results[0].variables == {"first": "Ann", "last": "Lee"}
    assert results[0].priority == 2
    assert results[1].line == 3


def test_csv_quoted_variables_column_may_hold_semicolons_and_line_breaks():
    data = 'Sales;a@example.com;m;;"""note"":""a;b\nc"",""x"":""y""";1\n'
    assert one(data).variables == {"note": "a;b\nc", "x": "y"}


def test_semicolon_inside_a_raw_spec_variable_value_splits_the_column():
    # Documented limit of the spec's unquoted form: quote the column instead.
    result = one('Sales;a@example.com;m;;"note":"a;b";1\n')
    assert isinstance(result, RowError)


def test_quotes_inside_an_unquoted_field_are_kept():
    assert one('Sales;a@example.com;Say "hi" now\n').message == 'Say "hi" now'


def test_a_quote_closed_early_makes_the_field_raw_text():
    assert one('Sales;a@example.com;"Hi" there\n').message == '"Hi" there'


def test_a_stray_opening_quote_does_not_swallow_the_following_rows():
    data = 'Sales;a@example.com;"oops;;;1\nSales;b@example.com;m;;"v":"x";2\n'
    results = rows(data)
    assert results[0] == ListRow(1, "Sales", "a@example.com", '"oops', [], {}, 1)
    assert results[1] == ListRow(2, "Sales", "b@example.com", "m", [], {"v": "x"}, 2)


def test_a_quote_never_closed_is_an_error_for_that_row_only():
    data = 'Sales;a@example.com;m\nSales;b@example.com;"never closed\nSales;c@example.com;fine\n'
    results = rows(data)
    assert results[0].line == 1
    assert results[1] == RowError(2, 'unterminated quoted field (a "..." that is never closed)')
    assert results[2] == ListRow(3, "Sales", "c@example.com", "fine", [], {}, DEFAULT_PRIORITY)


def test_a_message_over_csv_default_field_limit_is_still_read():
    long_message = "x;\n" * 70_000
    results = rows(f'Sales;a@example.com;"{long_message}";;;1\nSales;b@example.com\n')
    assert results[0].message == long_message
    assert results[1].line == 70_002


def test_a_message_over_the_cap_is_a_row_error_and_reading_goes_on():
    big = "y" * (csvlist.MAX_MESSAGE + 1)
    results = rows(f'Sales;a@example.com;"{big}"\nSales;b@example.com\n')
    assert results[0] == RowError(1, f"message longer than {csvlist.MAX_MESSAGE} characters")
    assert results[1].line == 2


def test_a_row_longer_than_the_row_cap_is_an_error_and_the_next_lines_are_reread(monkeypatch):
    monkeypatch.setattr(csvlist, "MAX_ROW", 200)
    data = 'Sales;a@example.com;"open quote\n' + "filler line\n" * 30 + 'Sales;b@example.com;"x"\n'
    results = rows(data)
    assert isinstance(results[0], RowError)
    assert results[0].line == 1
    assert "row longer than 200 characters" in results[0].reason
    assert results[-1] == ListRow(32, "Sales", "b@example.com", "x", [], {}, DEFAULT_PRIORITY)


def test_an_enormous_line_is_skipped_without_reading_it_whole(monkeypatch):
    monkeypatch.setattr(csvlist, "MAX_ROW", 1000)
    data = b"Sales;a@example.com\n" + b"\x00junk" * 5000 + b"\nSales;b@example.com\n"
    results = rows(data)
    assert [type(r) for r in results] == [ListRow, RowError, ListRow]
    assert results[1] == RowError(2, "line longer than 1000 characters")
    assert results[2].line == 3


# --- email --------------------------------------------------------------------


def test_email_domain_is_lower_cased_local_part_kept():
    assert one("Sales;John.Smith@Example.COM\n").email == "John.Smith@example.com"


@pytest.mark.parametrize(
    "address",
    ["bad", "a@b", "John <john@example.com>", "john@example..com", "john smith@example.com"],
)
def test_invalid_email_address_is_a_row_error(address):
    result = one(f"Sales;{address}\n")
    assert isinstance(result, RowError)
    assert result.reason.startswith("invalid email address")


def test_email_with_a_line_break_is_a_row_error():
    result = one('Sales;"ann@example.com\r\nBcc: victim@example.com";m\n')
    assert isinstance(result, RowError)
    assert result.reason.startswith("invalid email address")


def test_email_longer_than_320_characters_is_a_row_error():
    result = one(f"Sales;{'a' * 300}@{'b' * 30}.com\n")
    assert result == RowError(1, "invalid email address: longer than 320 characters")


def test_reasons_never_echo_more_than_40_characters_of_a_value():
    result = one(f"Sales;{'z' * 200}\n")
    assert "z" * 41 not in result.reason


# --- attachments --------------------------------------------------------------


def test_attachment_tokens_are_comma_separated_trimmed_and_deduplicated():
    other = "Other-Token_99"
    row = one(f"Sales;a@example.com;m; {TOKEN} ,{other},,{TOKEN}\n")
    assert row.attachments == [TOKEN, other]


@pytest.mark.parametrize(
    "token", ["short", "has space inside", "bad/slash12", "x" * 65, "tök123456"]
)
def test_invalid_attachment_token_is_a_row_error(token):
    result = one(f"Sales;a@example.com;m;{token}\n")
    assert isinstance(result, RowError)
    assert result.reason.startswith("invalid attachment token")


def test_too_many_attachments_is_a_row_error():
    tokens = ",".join(f"token{i:04d}" for i in range(csvlist.MAX_ATTACHMENTS + 1))
    result = one(f"Sales;a@example.com;m;{tokens}\n")
    assert isinstance(result, RowError)
    assert result.reason.startswith("too many attachments")


# --- variables ----------------------------------------------------------------


@pytest.mark.parametrize(
    "column",
    [
        '"nameVariable1":"value,"nameVariable2":"value"',  # the spec's own typo
        '"a":"1" "b":"2"',
        "just some text",
        '"bad name":"x"',
        '"a":"1","a":"2"',
        '"a":"unclosed',
        "a=1:b",
    ],
)
def test_malformed_variables_are_a_row_error(column):
    result = one(f"Sales;a@example.com;m;;{column};1\n")
    assert isinstance(result, RowError)
    assert result.reason.startswith("malformed variables: ")


def test_variables_longer_than_64_kb_are_a_row_error():
    value = "v" * csvlist.MAX_VARIABLES
    result = one(f'Sales;a@example.com;m;;"""a"":""{value}""";1\n')
    assert result == RowError(1, f"variables longer than {csvlist.MAX_VARIABLES} characters")


def test_variable_values_may_span_lines_and_are_checked_later_for_headers():
    row = one('Sales;a@example.com;m;;"""body"":""line 1\nline 2""";1\n')
    assert row.variables == {"body": "line 1\nline 2"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("   ", {}),
        ('"Var1":"value","Var2":"value"', {"Var1": "value", "Var2": "value"}),
        (' "a" : "1" , "b" : "two words" ', {"a": "1", "b": "two words"}),
        ('"a":"1",', {"a": "1"}),
        ('Var1:"value","Var2":"value"', {"Var1": "value", "Var2": "value"}),
        ('"a":1,"b":x y', {"a": "1", "b": "x y"}),
        ('"a":""', {"a": ""}),
        ('"q":"say \\"hi\\"","p":"C:\\temp\\\\x"', {"q": 'say "hi"', "p": "C:\\temp\\x"}),
        ('"u":"ünïcødé ✓"', {"u": "ünïcødé ✓"}),
        ("name=value", {"name": "value"}),
        ("a=1:b=2:", {"a": "1", "b": "2"}),
        (
            "nameVariable1 = value: variableName2 = value",
            {"nameVariable1": "value", "variableName2": "value"},
        ),
        ("eq=a=b", {"eq": "a=b"}),
    ],
)
def test_parse_variables_forms(text, expected):
    assert parse_variables(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"a":"1","a":"2"', "variable 'a' is given twice"),
        ('"1abc":"x"', "invalid variable name '1abc'"),
        ("plain", 'expected "name":"value"'),
        ("=x", "invalid variable name ''"),
    ],
)
def test_parse_variables_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_variables(text)


# --- priority -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "expected"), [("", 9999), ("0", 0), (" 7 ", 7), ("2147483647", 2147483647)]
)
def test_priority(column, expected):
    assert one(f"Sales;a@example.com;m;;;{column}\n").priority == expected


@pytest.mark.parametrize(
    "column", ["abc", "-1", "1.5", "+3", "1e3", "٣", "2147483648", "99999999999"]
)
def test_invalid_priority_is_a_row_error(column):
    result = one(f"Sales;a@example.com;m;;;{column}\n")
    assert isinstance(result, RowError)
    assert result.reason.startswith("invalid priority")


# --- encoding and hostile bytes ----------------------------------------------


def test_invalid_utf8_is_a_row_error_and_the_rest_is_read():
    data = (
        b"Sales;a@example.com;ok\n"
        b"Sales;b@example.com;caf\xe9 latin-1\n"
        b"Sales;c@example.com;\xc3\xa9t\xc3\xa9\n"
    )
    results = rows(data)
    assert results[1] == RowError(2, "invalid UTF-8 (save the list as UTF-8)")
    assert results[2].message == "été"


def test_nul_byte_is_a_row_error():
    assert one(b"Sales;a@example.com;x\x00y\n") == RowError(1, "NUL character in the row")


def test_binary_garbage_never_raises():
    data = bytes(range(256)) * 200 + b'\n"\n;;;\r\r\n\x00"' * 50
    results = rows(data)
    assert results
    assert all(isinstance(r, RowError) for r in results)


@pytest.mark.parametrize(
    "data",
    [
        b"Sales;a@example.com;" + b'"' * 999_000 + b"\n",
        b"Sales;a@example.com;" + b'";' * 400_000 + b"\n",
        b'Sales;a@example.com;"x\n' + b"a;b;c\n" * 100_000,
        b'"""\n' * 100_000,
        b"Sales;a@example.com;m;;" + b'"a": ' + b" " * 60_000 + b'"x\n',
    ],
    ids=["quotes", "quote-semicolons", "open-quote", "triple-quotes", "spaces-in-variables"],
)
def test_hostile_lists_are_read_to_the_end(data):
    """Pathological quoting must neither raise nor swallow the list (speed: bench/)."""
    results = rows(data)
    assert results


# --- streaming ----------------------------------------------------------------


class CountingStream(io.RawIOBase):
    """A non-seekable binary stream that remembers how much was read."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buffer = b""
        self.bytes_read = 0

    def readable(self):
        return True

    def readinto(self, target):
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        self.bytes_read += size
        return size


def _generated(count: int):
    yield b"campaign;email;message;attachments;variables;priority\r\n"
    for i in range(count):
        yield (
            f'Promo;user{i}@example.com;"Dear ${{name}}; see you";;'
            f'"name":"User {i}","code":"C{i}";{i % 50}\r\n'
        ).encode()


def test_rows_are_read_lazily_from_the_stream():
    stream = CountingStream(_generated(50_000))
    iterator = read_rows(io.BufferedReader(stream))
    first = next(iterator)
    assert first.email == "user0@example.com"
    assert stream.bytes_read < 64 * 1024


def test_100000_rows_stream_through_without_a_list():
    stream = io.BufferedReader(CountingStream(_generated(100_000)))
    count = 0
    bad = 0
    for result in read_rows(stream):
        count += 1
        bad += isinstance(result, RowError)
    assert (count, bad) == (100_000, 0)


def test_the_callers_stream_is_left_open():
    stream = io.BytesIO(b"Sales;a@example.com\n")
    list(read_rows(stream))
    assert not stream.closed
    assert stream.read() == b""


def test_abandoning_the_iterator_leaves_the_stream_open():
    stream = io.BytesIO(b"Sales;a@example.com\nSales;b@example.com\n")
    iterator = read_rows(stream)
    next(iterator)
    iterator.close()
    assert not stream.closed


# --- a dialer-sized list with every kind of bad row --------------------------


def test_thousand_row_list_reports_each_bad_row_at_its_line():
    kinds = [
        ("Promo;not-an-address;m;;;1", "invalid email address"),
        ('Promo;x@example.com;m;;"a":"1" "b":"2";1', "malformed variables: "),
        ("Promo;x@example.com;m;;;high", "invalid priority"),
        ("Promo;x@example.com;m;;;1;extra", "too many columns"),
        ("Promo;x@example.com;m;bad token;;1", "invalid attachment token"),
        (";x@example.com;m;;;1", "missing campaign"),
        ("Promo;;m;;;1", "missing email address"),
    ]
    lines = ["campaign;email;message;attachments;variables;priority"]
    expected_errors = []
    expected_good = []
    line_number = 2
    for i in range(1000):
        if i % 50 == 25:
            text, reason = kinds[(i // 50) % len(kinds)]
            expected_errors.append((line_number, reason))
        else:
            if i % 7 == 0:
                text = (
                    f'Promo;u{i}@example.com;"Hello ${{name}},\n\nmulti-line; quoted ""body""";;'
                    f'"name":"U{i}";{i}'
                )
            else:
                text = f'Promo;u{i}@example.com;Hi;{TOKEN};"name":"U{i}";{i}'
            expected_good.append(line_number)
        lines.append(text)
        line_number += text.count("\n") + 1
    results = rows("\r\n".join(lines) + "\r\n")
    assert len(results) == 1000
    found = errors(results)
    assert len(found) == 20
    assert [line for line, _ in found] == [line for line, _ in expected_errors]
    for (_, reason), (_, expected) in zip(found, expected_errors, strict=True):
        assert reason.startswith(expected), (reason, expected)
    assert [r.line for r in results if isinstance(r, ListRow)] == expected_good


def test_strict_csv_and_the_lenient_tokenizer_read_rfc4180_rows_alike():
    # A list switches to the tokenizer at its first non-strict row; both readers
    # must agree on every well-formed row, whatever quotes, ";" and breaks it holds.
    rng = random.Random(6)
    messages = [
        "".join(rng.choice('ab "\n;\r,') for _ in range(rng.randrange(12))) for _ in range(400)
    ]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    for message in messages:
        writer.writerow(["Sales", "a@example.com", message, "", "", "1"])
    body = buffer.getvalue()

    strict = rows(body)
    lenient = rows('Sales;a@example.com;m;;"v":"x";1\r\n' + body)[1:]

    assert [r.message for r in strict] == messages
    assert [r.message for r in lenient] == messages
    assert [r.line + 1 for r in strict] == [r.line for r in lenient]
