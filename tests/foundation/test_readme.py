from pathlib import Path

from ucmail_ext.config import SETTINGS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_documents_every_setting():
    missing = [key for key in SETTINGS if f"`UCMAIL_{key}`" not in README]
    assert missing == []


def test_readme_shows_the_two_commands():
    assert "make demo" in README and "make test" in README
