"""The shipped catalogs: complete in Spanish, and the compiled .mo files current."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tests.i18n.helpers import po_path
from ucmail_ext.i18n import TRANSLATIONS_DIR

ROOT = Path(__file__).resolve().parents[2]
PYBABEL = Path(sys.executable).with_name("pybabel")
# The same extraction as `make i18n-extract`.
EXTRACT = {
    "ucmail": ["-F", "babel.cfg", "-k", "lazy_gettext", "-k", "lazy_ngettext:1,2", "-k", "N_"],
    "ucmail_js": ["-F", "babel-js.cfg", "-k", "gettext", "-k", "ngettext:1,2"],
}


def _read(path: Path) -> object:
    with path.open("rb") as fh:
        return read_po(fh, locale=path.parts[-3] if path.suffix == ".po" else None)


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[object]]:
    """Every message marked in the sources now, per domain (msgid, or a plural's pair)."""
    out = tmp_path_factory.mktemp("pot")
    found: dict[str, set[object]] = {}
    for domain, args in EXTRACT.items():
        target = out / f"{domain}.pot"
        subprocess.run(
            [str(PYBABEL), "-q", "extract", *args, "-o", str(target), "."],
            cwd=ROOT,
            check=True,
        )
        found[domain] = {m.id for m in _read(target) if m.id}  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize("domain", ["ucmail", "ucmail_js"])
def test_every_marked_message_has_a_spanish_translation_that_is_not_fuzzy(
    marked: dict[str, set[object]], domain: str
) -> None:
    catalog = _read(po_path("es", domain))
    done = {
        m.id
        for m in catalog  # type: ignore[attr-defined]
        if m.id and not m.fuzzy and all(m.string if isinstance(m.string, tuple) else (m.string,))
    }
    missing = sorted(map(str, marked[domain] - done))
    assert not missing, (
        f"{len(missing)} message(s) of {domain} untranslated or fuzzy in Spanish "
        f"(make i18n-update, translate, make i18n-compile): {missing[:20]}"
    )


def test_the_catalogs_have_no_fuzzy_entries() -> None:
    for po in TRANSLATIONS_DIR.glob("*/LC_MESSAGES/*.po"):
        fuzzy = [m.id for m in _read(po) if m.id and m.fuzzy]  # type: ignore[attr-defined]
        assert not fuzzy, f"{po}: fuzzy {fuzzy[:10]}"


@pytest.mark.parametrize(
    "po", sorted(TRANSLATIONS_DIR.glob("*/LC_MESSAGES/*.po")), ids=lambda p: "/".join(p.parts[-3:])
)
def test_the_shipped_mo_is_what_its_po_compiles_to(po: Path) -> None:
    """The wheel carries the .mo files as committed: a .po edited without
    `make i18n-compile` would ship stale translations."""
    compiled = io.BytesIO()
    write_mo(compiled, _read(po))  # type: ignore[arg-type]
    mo = po.with_suffix(".mo")
    assert mo.is_file(), f"{mo} is missing: make i18n-compile"
    assert mo.read_bytes() == compiled.getvalue(), f"{mo} is older than {po}: make i18n-compile"


def test_the_wheel_lists_the_catalogs() -> None:
    setup = (ROOT / "setup.cfg").read_text()
    assert "translations/*/LC_MESSAGES/*.mo" in setup


@pytest.mark.parametrize(
    "po", sorted(TRANSLATIONS_DIR.glob("*/LC_MESSAGES/*.po")), ids=lambda p: "/".join(p.parts[-3:])
)
def test_translations_keep_the_placeholders(po: Path) -> None:
    """A lost or misspelt ``%(name)s`` raises when the page formats the message."""
    import re

    placeholder = re.compile(r"%\((\w+)\)s|%%")
    wrong = []
    for message in _read(po):  # type: ignore[attr-defined]
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(placeholder.findall(ids[-1])) | set(placeholder.findall(ids[0]))
        for text in strings:
            found = set(placeholder.findall(text))
            if text and not found <= wanted | {"num"}:
                wrong.append(ids[0])
            elif text and len(ids) == 1 and found != wanted:
                wrong.append(ids[0])
    assert not wrong, f"{po}: placeholders differ in {wrong[:10]}"


def test_every_gettext_call_in_the_scripts_is_extracted(marked: dict[str, set[object]]) -> None:
    """pybabel's JavaScript reader skips a call nested in another one and, with JSX on,
    everything after a regex like /</g: such a string would stay English."""
    import re

    call = re.compile(r'\bn?gettext\(\s*"((?:[^"\\]|\\.)*)"')
    extracted = {m if isinstance(m, str) else m[0] for m in marked["ucmail_js"]}  # type: ignore[index]
    lost = []
    for script in sorted((ROOT / "ucmail_ext" / "static" / "ucmail").glob("*.js")):
        code = re.sub(r"^\s*//.*$", "", script.read_text(encoding="utf-8"), flags=re.M)
        lost += [(script.name, text) for text in call.findall(code) if text not in extracted]
    assert not lost, f"not extracted (hoist nested calls into a variable): {lost}"
