"""The web package's house rules: no SQL (it calls core functions, like the CLI), no
import of the CLI, and every page and email renders from templates without scripts."""

from __future__ import annotations

import ast
from pathlib import Path

WEB = Path(__file__).resolve().parent.parent / "srz_tracker" / "web"


def test_the_web_pages_hold_no_sql() -> None:
    found = []
    for path in sorted(WEB.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            found += [
                f"{path.name}:{node.lineno} {n}"
                for n in names
                if n.startswith(("sqlalchemy", "srz_tracker.store.models", "srz_tracker.cli"))
                and not (
                    isinstance(node, ast.ImportFrom) and [a.name for a in node.names] == ["Engine"]
                )
            ]
    assert found == []


def test_pages_carry_no_script_and_no_inline_style() -> None:
    for path in sorted((WEB / "templates").glob("*.j2")):
        text = path.read_text()
        assert "<script" not in text and "style=" not in text, path.name
        assert "http://" not in text and "https://" not in text, path.name
