"""Messages people read (flashes, form errors, JSON errors, action results) go through
ucmail's gettext in the desk, supervision, recordings and dialer code (issue 15).

The extractor only finds literals inside ``_()``/``gettext()``/``ngettext()``: a bare
literal or an f-string in one of these places is English on a Spanish page.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ucmail_ext"
FILES = sorted(
    [
        *(PACKAGE / "blueprints" / f"{name}.py" for name in ("agent", "supervision", "dialer")),
        *(PACKAGE / "blueprints" / "recordings.py",),
        *(PACKAGE / "services" / "desk").glob("*.py"),
        *(PACKAGE / "services" / "supervision").glob("*.py"),
        *(PACKAGE / "services" / "dialer").glob("*.py"),
        *(PACKAGE / "services" / "inbound").glob("*.py"),
        *(PACKAGE / "services").glob("*.py"),
    ]
)
# Errors whose text is shown to the person who caused them.
USER_ERRORS = {
    "ChatError",
    "ComposeError",
    "DispositionError",
    "DraftError",
    "NoteError",
    "TransferError",
    "NotAllowed",
    "ReconnectNeeded",
}
# Results whose message is flashed or returned as JSON.
RESULTS = {"ActionResult", "AttachmentResult", "DeleteResult", "UploadReport"}
TRANSLATORS = {"_", "gettext", "ngettext", "lazy_gettext", "lazy_ngettext"}


def _is_text(node: ast.AST | None) -> bool:
    """A literal sentence (or an f-string): what the extractor cannot find."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return any(ch.isalpha() for ch in node.value)
    if isinstance(node, ast.Dict):
        return any(_is_text(value) for value in node.values)
    return False


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _unmarked(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _name(node.func)
            values: list[ast.AST] = []
            if name == "flash" and node.args:
                values.append(node.args[0])
            elif name == "jsonify":
                values += [k.value for k in node.keywords if k.arg in ("error", "message")]
            elif name == "abort":
                values += [k.value for k in node.keywords if k.arg == "description"]
            elif name in USER_ERRORS or name in RESULTS:
                values += [*node.args, *(k.value for k in node.keywords if k.arg == "error")]
            found += [(v.lineno, name) for v in values if _is_text(v)]
        elif isinstance(node, ast.Assign) and _is_text(node.value):
            for target in node.targets:
                if isinstance(target, ast.Subscript) and _name(target.value) == "errors":
                    found.append((node.lineno, "errors[...]"))
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_messages_for_people_are_marked_for_translation(path: Path) -> None:
    unmarked = _unmarked(ast.parse(path.read_text(encoding="utf-8")))
    assert not unmarked, f"{path.name}: not marked for translation at {unmarked}"


def _shadowing(tree: ast.AST) -> list[str]:
    """Functions that call ``_()`` and also assign ``_`` (``kind, _, value = ...``):
    the call then gets the string, not gettext."""
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        own = [n for n in ast.walk(fn) if not isinstance(n, ast.comprehension)]
        skip = {
            id(t)
            for c in ast.walk(fn)
            if isinstance(c, ast.comprehension)
            for t in ast.walk(c.target)
        }
        stores = [
            n
            for n in own
            if isinstance(n, ast.Name)
            and n.id == "_"
            and isinstance(n.ctx, ast.Store)
            and id(n) not in skip
        ]
        calls = [n for n in own if isinstance(n, ast.Call) and _name(n.func) == "_"]
        if stores and calls:
            found.append(fn.name)
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_gettext_alias_is_not_shadowed(path: Path) -> None:
    assert not _shadowing(ast.parse(path.read_text(encoding="utf-8"))), path.name
