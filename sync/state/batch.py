"""Many rows in one SQL statement: the state file's writes per page, per batch, per collection call.

A first run over 10,000 deals wrote its state one row at a time (86 statements and 4 commits a deal,
most of its wall time: docs/benchmarks.md). Each helper here sends one statement per chunk of rows,
as many rows as SQLite's limit on bound variables allows, with the column list known once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

from sqlite_utils import Database

#: SQLite's limit on ``?`` in one statement: 32,766 since 3.32, 999 before.
VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
#: Rows of one INSERT at most: a statement of 2,000 rows' values is compiled whole (megabytes of
#: parse tree); 500 costs four statements a page and keeps the peak memory where it was.
ROWS = 500


def batched(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def insert(
    db: Database,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    conflict: str = "",
) -> None:
    """``INSERT INTO table (columns) VALUES (…), (…) <conflict>``: one statement per chunk of rows.

    ``conflict`` is the upsert clause (``ON CONFLICT(…) DO UPDATE SET …``) or empty. Rows of one
    statement meet the clause in order: a later row for one key wins, as one row at a time did.
    """
    names = ", ".join(columns)
    one = "(" + ", ".join("?" * len(columns)) + ")"
    for chunk in batched(rows, max(1, min(ROWS, VARIABLES // len(columns)))):
        db.execute(
            f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * len(chunk))} {conflict}",
            [value for row in chunk for value in row],
        )


def delete(
    db: Database,
    table: str,
    column: str,
    values: Iterable[Any],
    where: str = "",
    args: Sequence[Any] = (),
) -> None:
    """``DELETE FROM table WHERE column IN (…) [AND where]``: one statement per chunk of values."""
    extra = f" AND ({where})" if where else ""
    for chunk in batched(values, VARIABLES - len(args)):
        db.execute(
            f"DELETE FROM {table} WHERE {column} IN ({', '.join('?' * len(chunk))}){extra}",
            [*chunk, *args],
        )


def upsert_clause(key: Sequence[str], columns: Sequence[str]) -> str:
    """``ON CONFLICT(key) DO UPDATE SET`` every column but the key's from the new row."""
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return f"ON CONFLICT({', '.join(key)}) DO UPDATE SET {sets}"
