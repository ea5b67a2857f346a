"""The core imports in one direction: no two of its modules import each other, even for types only
(a cycle mypy reads is a cycle a reader must hold in their head too)."""

from __future__ import annotations

import ast
from pathlib import Path

SYNC = Path(__file__).resolve().parents[2] / "sync"
#: the typed core (pyproject [tool.mypy]) and what it is configured by
CORE = (
    "sync.orchestrator",
    "sync.load",
    "sync.state",
    "sync.connectors",
    "sync.config",
    "sync.backsync",
    "sync.ops.forecast",
)


def graph() -> dict[str, set[str]]:
    """Module → the sync modules it imports anywhere (TYPE_CHECKING and in-function imports too)."""
    modules = {}
    for path in SYNC.rglob("*.py"):
        name = ".".join(path.relative_to(SYNC.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sync"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    edges[name].add(full if full in modules else node.module)
    return {name: {m for m in targets if m in modules} for name, targets in edges.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_of_the_core_is_in_an_import_cycle():
    core = [group for group in cycles(graph()) if any(m.startswith(CORE) for m in group)]
    assert core == []


def test_the_check_finds_a_cycle_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
