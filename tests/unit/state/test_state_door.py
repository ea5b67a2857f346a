"""The state package is the one door to the state file: no module outside ``sync/state/`` runs SQL
on it or imports SQLite. (The Salesforce emulator keeps its own database of fake records.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SYNC = Path(__file__).resolve().parents[3] / "sync"
SQLITE = ("sqlite3", "sqlite_utils")
#: a connection or a sqlite-utils Database: reaching for either is running SQL of one's own
HANDLES = ("db", "conn")
SQL_CALLS = (
    "execute",
    "executemany",
    "executescript",
    "rows_where",
    "upsert",
    "upsert_all",
    "delete_where",
)


def breaches(source: str) -> list[str]:
    """What in ``source`` opens the state file's database itself, one line each."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {a.name}"
                for a in node.names
                if a.name.split(".")[0] in SQLITE
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in SQLITE:
            found.append(f"{node.lineno}: from {node.module} import")
        elif isinstance(node, ast.Attribute) and node.attr in HANDLES:
            found.append(f"{node.lineno}: .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SQL_CALLS
        ):
            found.append(f"{node.lineno}: .{node.func.attr}()")
    return found


def outside_the_door() -> list[Path]:
    return [
        path
        for path in sorted(SYNC.rglob("*.py"))
        if path.relative_to(SYNC).parts[0] not in ("state", "emulator")
    ]


def test_no_module_outside_the_state_package_runs_sql_or_imports_sqlite():
    found = {
        str(path.relative_to(SYNC)): hits
        for path in outside_the_door()
        if (hits := breaches(path.read_text()))
    }
    assert found == {}


@pytest.mark.parametrize(
    "source",
    [
        "import sqlite3",
        "from sqlite_utils import Database",
        "import sqlite_utils.db",
        "rows = state.db.execute('SELECT 1')",
        "state.db['links'].count",
        "x.conn.execute('DELETE FROM links')",
    ],
)
def test_the_check_would_see_each_way_in(source):
    assert breaches(source)


def test_the_check_reads_every_module_it_guards():
    names = {str(path.relative_to(SYNC)) for path in outside_the_door()}
    assert {
        "ops/health.py",
        "ops/report.py",
        "ops/metrics/export.py",
        "load/members.py",
        "cli/__init__.py",
    } <= names
