"""The house rules of docs/architecture.md, checked on the code as it is.

The layout table in the doc is the source: each row names a room and what it may import.
These tests walk every import of the project's packages (including imports inside
functions) and fail on a line crossed, a room the doc names that does not exist, a
subpackage the doc does not name, an import cycle, Dagster or MLflow under mixer_core,
or a long module that does not say why it is long.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mixer_core", "assets", "pipelines")
DOC = ROOT / "docs" / "architecture.md"
MAX_LINES = 400
_ROW = re.compile(r"^\| `(?P<room>[a-z_.]+)` \|(?P<what>[^|]+)\|(?P<imports>[^|]+)\|$")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    type_only: bool


@cache
def rooms() -> dict[str, tuple[str, ...]]:
    """Room -> the project modules or packages it may import, from the doc's table."""
    table = {}
    for line in DOC.read_text().splitlines():
        match = _ROW.match(line.strip())
        if match:
            allowed = re.findall(r"`([a-z_.]+)`", match["imports"])
            table[match["room"]] = tuple(allowed)
    return table


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imported(node: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = module.split(".")
            anchor = anchor if is_package else anchor[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        yield base
        yield from (f"{base}.{alias.name}" for alias in node.names)


@cache
def edges() -> tuple[Edge, ...]:
    """Every import of a project module by a project module."""
    known = modules()
    found = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        type_only = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _imported(node, name, path.name == "__init__.py"):
                if target in known and target != name:
                    found.append(Edge(name, target, node.lineno, node.lineno in type_only))
    return tuple(found)


def room_of(module: str) -> str | None:
    candidates = [room for room in rooms() if module == room or module.startswith(room + ".")]
    return max(candidates, key=len) if candidates else None


def _allowed(source_room: str, target: str) -> bool:
    return any(target == entry or target.startswith(entry + ".") for entry in rooms()[source_room])


def test_the_doc_names_rooms() -> None:
    assert {"mixer_core.language", "mixer_core.model", "assets", "pipelines"} <= set(rooms())


def test_every_room_in_the_doc_exists_and_every_subpackage_is_in_the_doc() -> None:
    known = modules()
    missing = [room for room in rooms() if room not in known]
    assert not missing, f"docs/architecture.md names rooms that do not exist: {missing}"
    core = ROOT / "mixer_core"
    subpackages = {f"mixer_core.{p.name}" for p in core.iterdir() if (p / "__init__.py").is_file()}
    top_modules = {f"mixer_core.{p.stem}" for p in core.glob("*.py") if p.stem != "__init__"}
    unnamed = sorted((subpackages | top_modules) - set(rooms()))
    assert not unnamed, f"mixer_core rooms missing from docs/architecture.md: {unnamed}"


def test_no_import_crosses_a_forbidden_line() -> None:
    crossings = []
    for edge in edges():
        source, target = room_of(edge.source), room_of(edge.target)
        if source is None or target is None or source == target:
            continue
        if not _allowed(source, edge.target):
            path = modules()[edge.source].relative_to(ROOT)
            crossings.append(f"{path}:{edge.line}: {source} imports {edge.target}")
    assert not crossings, "imports not allowed by docs/architecture.md:\n" + "\n".join(crossings)


def test_the_rule_check_catches_a_crossing() -> None:
    """The check itself: the language may not import the model, the model not training."""
    assert not _allowed("mixer_core.language", "mixer_core.model.value_head")
    assert not _allowed("mixer_core.model", "mixer_core.training.loop")
    assert not _allowed("assets", "pipelines.cli")
    assert _allowed("assets", "pipelines.resources")
    assert room_of("mixer_core.data.prompts.instruct") == "mixer_core.data"


def test_mixer_core_imports_neither_dagster_nor_mlflow() -> None:
    offenders = []
    for name, path in modules().items():
        if not name.startswith("mixer_core"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _imported(node, name, path.name == "__init__.py"):
                    if target.split(".")[0] in ("dagster", "mlflow"):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {target}")
    assert not offenders, offenders


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for edge in edges():
        if not edge.type_only:
            graph.setdefault(edge.source, set()).add(edge.target)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_long_modules_say_why() -> None:
    unexplained = []
    for path in modules().values():
        lines = len(path.read_text().splitlines())
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MAX_LINES and f"over {MAX_LINES} lines" not in docstring:
            unexplained.append(f"{path.relative_to(ROOT)} ({lines} lines)")
    assert not unexplained, (
        f"modules over {MAX_LINES} lines whose docstring does not say why "
        f"('over {MAX_LINES} lines' ...): {unexplained}"
    )


def _dg(*args: str) -> subprocess.CompletedProcess[str]:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(bin_dir / "dg"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_dg_check_defs_loads_the_project() -> None:
    result = _dg("check", "defs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_dg_lists_the_same_assets_as_workspace_yaml() -> None:
    import json

    from pipelines.definitions import defs

    result = _dg("list", "defs", "--json")
    assert result.returncode == 0, result.stderr
    listed = {asset["asset_key"] for asset in json.loads(result.stdout)["assets"]}
    expected = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert listed == expected
    workspace = (ROOT / "workspace.yaml").read_text()
    assert "module_name: pipelines.definitions" in workspace


@pytest.mark.parametrize("room", ["mixer_core.language", "mixer_core.data", "mixer_core.model"])
def test_rooms_hold_modules(room: str) -> None:
    assert any(name.startswith(room + ".") for name in modules())
