"""The admin, tracking and shared code marks what people read, like the desk code does
(tests/foundation/test_marked_messages.py): flashes, JSON errors, abort descriptions,
form errors and the admin services' results."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.foundation.test_marked_messages import _is_text, _name, _unmarked

PACKAGE = Path(__file__).resolve().parents[2] / "ucmail_ext"
FILES = sorted(
    [
        *(
            PACKAGE / "blueprints" / f"{name}.py"
            for name in ("campaigns", "templates", "members", "tracking", "common", "api")
        ),
        PACKAGE / "auth.py",
        *(PACKAGE / "services" / "admin").glob("*.py"),
        PACKAGE / "services" / "desk" / "rating.py",
    ]
)
# JSON error codes that programs (ucmail.js, API clients) act on: not sentences.
CODES = {"login required", "forbidden", "logged out"}
# Admin results and checks whose message a screen shows.
ADMIN_RESULTS = {"DkimResult", "CampaignResult", "TemplateResult", "ConnectionStatus", "Check"}


def _unmarked_results(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in ADMIN_RESULTS:
            texts = (
                [a for a in node.args[1:] if _is_text(a)]
                if _name(node.func) != "Check"
                else [a for a in node.args[4:] if _is_text(a)]
            )
            lines += [t.lineno for t in texts]
    return lines


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_messages_for_people_are_marked_for_translation(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in CODES:
            node.value = ""
    unmarked = _unmarked(tree)
    assert not unmarked, f"{path.name}: not marked for translation at {unmarked}"
    lines = _unmarked_results(tree)
    assert not lines, f"{path.name}: result message not marked at lines {lines}"
