"""The test suite's own layout: no test module imports another (or a conftest); shared code is in helpers.py."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_test_module_imports_another() -> None:
    """Imports of tests/ code must name ``helpers``; fixtures come from conftest.py through pytest, not imports."""
    local = {p.stem for p in TESTS.rglob("*.py")} | {p.name for p in TESTS.iterdir() if p.is_dir()}
    bad = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else [f"{'.' * node.level}{node.module or ''}"]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith(".") or (name.split(".")[0] in local and name != "helpers"):
                    bad.append(f"{path.relative_to(TESTS)}:{node.lineno}: {name}")
    assert not bad, "import from tests/helpers.py (or use a conftest.py fixture) instead of:\n" + "\n".join(bad)
