"""The house rules of ARCHITECTURE.md that a tool can check: the import-linter layer
contract (and that it catches a leak), no private names imported across modules, no SQL
in the CLI, modules of a readable size."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "srz_tracker"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("house")
    shutil.copytree(PACKAGE, tree / "srz_tracker", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_layer_contracts_hold(tree_copy: Path) -> None:
    result = _lint(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_import_click_in_a_core_module_breaks_the_contract(tree_copy: Path) -> None:
    ops = tree_copy / "srz_tracker" / "tasks" / "ops.py"
    original = ops.read_text()
    try:
        ops.write_text("import click  # a leak on purpose\n" + original)
        result = _lint(tree_copy)
    finally:
        ops.write_text(original)
    assert result.returncode != 0
    assert "srz_tracker.tasks is not allowed to import click" in result.stdout


def test_an_upward_import_breaks_the_contract(tree_copy: Path) -> None:
    steps = tree_copy / "srz_tracker" / "timing" / "steps.py"
    original = steps.read_text()
    try:
        steps.write_text(original + "\nfrom srz_tracker.notify import planner  # noqa\n")
        result = _lint(tree_copy)
    finally:
        steps.write_text(original)
    assert result.returncode != 0
    assert "srz_tracker.timing is not allowed to import srz_tracker.notify" in result.stdout


def test_no_private_name_is_imported_across_modules() -> None:
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("srz_tracker"):
                found += [
                    f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_")
                ]
    assert found == []


def test_the_cli_holds_no_sql() -> None:
    found = []
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} {n}"
                for n in names
                if n.startswith(("sqlalchemy", "srz_tracker.store.models"))
                # the engine type in a signature is not SQL
                and not (
                    isinstance(node, ast.ImportFrom) and [a.name for a in node.names] == ["Engine"]
                )
            ]
    assert found == []


def test_modules_are_of_a_readable_size() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
