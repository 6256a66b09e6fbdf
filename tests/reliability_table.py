"""docs/reliability.md, built from the tests that really try each bad input or fault.

A hand-written table of "what happens when…" drifts from the code the day a test changes.
Here every row comes from a ``@pytest.mark.reliability(case=..., outcome=...)`` marker on
a test function, read from the test files' syntax trees (no test module is imported), so
the table names exactly the tests that cover it. ``tests/test_reliability_table.py``
fails when the document differs from what this renders;
``.venv/bin/python tests/reliability_table.py --write`` rewrites it.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "reliability.md"
_HEADER = """# Reliability: bad input, faults and load

Each row is a bad input or a fault that a test really tries (real files, real
subprocesses killed with signals, real servers), what mixer does about it, and the test
that checks it. The table is generated from the tests' `@pytest.mark.reliability`
markers by `tests/reliability_table.py --write`; `tests/test_reliability_table.py`
fails when it drifts from them. Tests marked `slow` run in CI (`bash .ci/run`) too.

| input or fault | what happens | test |
|---|---|---|
"""


@dataclass(frozen=True)
class Row:
    """One marker: the case tried, its outcome, and the test (``file::function``)."""

    case: str
    outcome: str
    test: str


def _is_reliability_marker(node: ast.expr) -> bool:
    func = node.func if isinstance(node, ast.Call) else None
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "reliability"
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "mark"
    )


def _keyword(call: ast.Call, name: str, where: str) -> str:
    for keyword in call.keywords:
        if keyword.arg == name:
            if isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                text = " ".join(keyword.value.value.split())
                if text:
                    return text
            break
    raise ValueError(f"{where}: reliability marker needs a non-empty string {name}=")


def collect(tests_dir: Path = ROOT / "tests") -> list[Row]:
    """Every reliability marker under ``tests_dir``, grouped by test file, then by case."""
    rows = []
    for path in sorted(tests_dir.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for decorator in node.decorator_list:
                if _is_reliability_marker(decorator):
                    test = f"{path.relative_to(tests_dir.parent).as_posix()}::{node.name}"
                    assert isinstance(decorator, ast.Call)
                    rows.append(
                        Row(
                            _keyword(decorator, "case", test),
                            _keyword(decorator, "outcome", test),
                            test,
                        )
                    )
    return sorted(rows, key=lambda row: (row.test.split("::")[0], row.case.lower(), row.test))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(rows: list[Row]) -> str:
    """The whole document for ``rows``."""
    lines = [f"| {_cell(r.case)} | {_cell(r.outcome)} | `{r.test}` |" for r in rows]
    return _HEADER + "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {DOCUMENT}")
    args = parser.parse_args()
    text = render(collect())
    if args.write:
        DOCUMENT.write_text(text, encoding="utf-8")
        print(f"wrote {DOCUMENT}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
