"""Every message of the shared corpus parses into something an agent can read.

The corpus (../shared/corpus, or $UCMAIL_CORPUS) gathers the broken, huge and
hostile messages that other mail parsers' test suites collected over the years.
"""

import hashlib
import os
from pathlib import Path

import pytest

from ucmail_ext.mail.parse import parse_message

CORPUS = Path(
    os.environ.get("UCMAIL_CORPUS", Path(__file__).resolve().parents[3] / "shared" / "corpus")
)
NOT_MESSAGES = {"SOURCES.md", "README.md"}
FORBIDDEN_IN_HEADERS = ("\r", "\n", "\x00")


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name not in NOT_MESSAGES)


FILES = corpus_files()


def test_corpus_is_present():
    assert len(FILES) > 100, f"the mail corpus is missing at {CORPUS}"


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES])
def test_corpus_message_parses_into_a_readable_result(path):
    raw = path.read_bytes()

    parsed = parse_message(raw)

    assert isinstance(parsed.subject, str)
    assert isinstance(parsed.from_addr, str)
    readable = parsed.text or parsed.html or parsed.attachments
    assert readable or parsed.unparseable or parsed.defects
    assert parsed.sha256 == hashlib.sha256(raw).hexdigest()
    assert parsed.size == len(raw)
    assert parsed.date is None or parsed.date.utcoffset().total_seconds() == 0
    assert "\x00" not in parsed.text
    assert "\x00" not in parsed.html

    header_values = [
        parsed.subject,
        parsed.from_addr,
        parsed.from_name,
        parsed.message_id,
        parsed.in_reply_to,
        *parsed.to,
        *parsed.cc,
        *parsed.reply_to,
        *parsed.references,
        *parsed.defects,
    ]
    for attachment in parsed.attachments:
        header_values += [
            attachment.filename,
            attachment.original_filename,
            attachment.content_type,
            attachment.content_id,
        ]
    for value in header_values:
        assert isinstance(value, str)
        assert not any(ch in value for ch in FORBIDDEN_IN_HEADERS), repr(value)

    for attachment in parsed.attachments:
        assert_safe_filename(attachment.filename)
        assert attachment.size == len(attachment.payload)


def assert_safe_filename(name: str) -> None:
    assert name
    assert "/" not in name and "\\" not in name
    assert not name.startswith(".")
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in name)
    assert len(name.encode("utf-8")) <= 200
