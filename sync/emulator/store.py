"""SQLite storage: one table per object, one column per field, one lock, one monotonic clock.

The server is threaded and SQLite connections are not, so every access goes through
``Store.lock`` (an RLock: a write transaction may read). The clock hands out SystemModstamps
that never go backwards, even when the wall clock does or two writes land in one millisecond.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sync.emulator.schema import FieldDef, ObjectDef, Schema
from sync.emulator.values import format_ms
from sync.extract.soql import parse_sf_datetime

HIDDEN = "_hidden"  # 1 while a late-committing transaction has not committed the row yet


def qi(name: str) -> str:
    """Quote an identifier (names come from the schema, never from a request)."""
    return '"' + name.replace('"', '""') + '"'


def _create_private(path: str) -> None:
    """Make a new org file 0600 before SQLite does (its -wal and -shm take its mode): it holds the
    client secret, the password and the admin token. An existing file is left as it is."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass


class Store:
    def __init__(self, schema: Schema, path: str | None = None):
        self.schema = schema
        self.lock = threading.RLock()
        if path:
            _create_private(path)
        self.db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        pragmas = [
            "PRAGMA synchronous=OFF",
            "PRAGMA temp_store=MEMORY",
            "PRAGMA cache_size=-200000",
        ]
        if path:
            pragmas.insert(0, "PRAGMA journal_mode=WAL")
        for pragma in pragmas:
            self.db.execute(pragma)
        self.db.execute("CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT)")
        for obj in schema.objects.values():
            self.ensure_table(obj)
        self._last_ms = self._latest_stamp_ms()

    # ------------------------------------------------------------------------ structure

    def ensure_table(self, obj: ObjectDef) -> None:
        table = qi(obj.name)
        with self.lock:
            existing = {row[1].lower() for row in self.db.execute(f"PRAGMA table_info({table})")}
            if not existing:
                columns = ", ".join(f"{qi(f.name)} {f.sql_type}" for f in obj.fields.values())
                self.db.execute(
                    f"CREATE TABLE {table} ({columns}, {HIDDEN} INTEGER NOT NULL DEFAULT 0)"
                )
                self.db.execute(f"CREATE UNIQUE INDEX {qi(obj.name + '_id')} ON {table} (Id)")
                self.db.execute(
                    f"CREATE INDEX {qi(obj.name + '_stamp')} ON {table} (SystemModstamp, Id)"
                )
                return
            for definition in obj.fields.values():
                if definition.name.lower() not in existing:
                    self.add_column(obj, definition)

    def add_column(self, obj: ObjectDef, definition: FieldDef) -> None:
        with self.lock:
            self.db.execute(
                f"ALTER TABLE {qi(obj.name)} ADD COLUMN {qi(definition.name)} {definition.sql_type}"
            )

    # ---------------------------------------------------------------------------- clock

    def _latest_stamp_ms(self) -> int:
        latest = 0
        for obj in self.schema.objects.values():
            (value,) = self.db.execute(f"SELECT MAX(SystemModstamp) FROM {qi(obj.name)}").fetchone()
            if value:
                latest = max(latest, int(parse_sf_datetime(value).timestamp() * 1000))
        return latest

    def next_stamp(self) -> str:
        """A new SystemModstamp: now, or 1 ms after the last one handed out, whichever is later."""
        with self.lock:
            self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
            return format_ms(self._last_ms)

    def clock_ms(self) -> int:
        """The org's "now": the wall clock, or the last stamp handed out if that is later."""
        with self.lock:
            return max(int(time.time() * 1000), self._last_ms)

    def peek_clock_ms(self) -> int:
        """``clock_ms`` without the lock (one int read): for the event bus, which must not wait on
        a writer that is itself waiting to publish to it."""
        return max(int(time.time() * 1000), self._last_ms)

    def reserve_stamps(self, count: int) -> int:
        """Reserve ``count`` consecutive milliseconds ending now; returns the first.

        For bulk seeding.
        """
        with self.lock:
            end = max(int(time.time() * 1000), self._last_ms + count)
            self._last_ms = end
            return end - count + 1

    # ----------------------------------------------------------------------------- rows

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.db.execute("BEGIN")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def insert(self, obj: ObjectDef, values: dict[str, Any]) -> None:
        names = list(values)
        sql = (
            f"INSERT INTO {qi(obj.name)} ({', '.join(qi(n) for n in names)}) "
            f"VALUES ({', '.join('?' for _ in names)})"
        )
        with self.lock:
            self.db.execute(sql, [values[n] for n in names])

    def insert_many(
        self, obj: ObjectDef, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        sql = (
            f"INSERT INTO {qi(obj.name)} ({', '.join(qi(c) for c in columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        with self.transaction() as db:
            db.executemany(sql, rows)

    def update(self, obj: ObjectDef, record_id: str, values: dict[str, Any]) -> None:
        sets = ", ".join(f"{qi(n)} = ?" for n in values)
        with self.lock:
            self.db.execute(
                f"UPDATE {qi(obj.name)} SET {sets} WHERE Id = ?", [*values.values(), record_id]
            )

    def row(self, obj: ObjectDef, record_id: str) -> dict[str, Any] | None:
        """Every stored column of one record (canonical field names, plus ``_hidden``)."""
        with self.lock:
            cursor = self.db.execute(f"SELECT * FROM {qi(obj.name)} WHERE Id = ?", [record_id])
            found = cursor.fetchone()
            if found is None:
                return None
            names = [d[0] for d in cursor.description]
        by_lower = {key.lower(): f.name for key, f in obj.fields.items()}
        return {by_lower.get(n.lower(), n): v for n, v in zip(names, found, strict=True)}

    def release(self, obj: ObjectDef, record_ids: Sequence[str] | None) -> int:
        with self.lock:
            if record_ids is None:
                return self.db.execute(
                    f"UPDATE {qi(obj.name)} SET {HIDDEN} = 0 WHERE {HIDDEN} = 1"
                ).rowcount
            marks = ", ".join("?" for _ in record_ids)
            return self.db.execute(
                f"UPDATE {qi(obj.name)} SET {HIDDEN} = 0 WHERE Id IN ({marks})", list(record_ids)
            ).rowcount

    def count(self, obj: ObjectDef) -> int:
        with self.lock:
            return self.db.execute(f"SELECT COUNT(*) FROM {qi(obj.name)}").fetchone()[0]

    # ----------------------------------------------------------------------------- meta

    def meta(self) -> dict[str, str]:
        with self.lock:
            return dict(self.db.execute("SELECT key, value FROM _meta"))

    def set_meta(self, values: dict[str, str]) -> None:
        with self.lock:
            self.db.executemany(
                "INSERT OR REPLACE INTO _meta (key, value) VALUES (?, ?)", values.items()
            )

    def close(self) -> None:
        with self.lock:
            self.db.close()
