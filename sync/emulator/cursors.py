"""Query locators: a snapshot of one query's rows, paged by ``nextRecordsUrl``.

Like a real cursor, the result is fixed when the query runs; later writes do not shift pages.
Open cursors are bounded (oldest dropped first), and a dropped or unknown locator answers
``INVALID_QUERY_LOCATOR`` as an org does once a locator has been reaped.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from dataclasses import dataclass

from sync.emulator.apierror import ApiError
from sync.emulator.ids import random_chars
from sync.emulator.query import Children, Result

#: How many of one parent's child rows a page carries before the rest go behind a nested
#: ``nextRecordsUrl`` (orgs were seen cutting at 199 and 499; the threshold is not documented).
NESTED_PAGE = 200


@dataclass
class Cursor:
    locator: str
    result: Result
    include_deleted: bool
    version: str


class Cursors:
    def __init__(self, rng: random.Random, max_open: int = 50):
        self._rng = rng
        self._open: OrderedDict[str, Cursor] = OrderedDict()
        self._lock = threading.Lock()
        self.max_open = max_open

    def open(self, result: Result, include_deleted: bool, version: str) -> Cursor:
        with self._lock:
            locator = "01g" + random_chars(self._rng, 15)
            cursor = Cursor(locator, result, include_deleted, version)
            self._open[locator] = cursor
            while len(self._open) > self.max_open:
                self._open.popitem(last=False)
            return cursor

    def get(self, locator: str) -> Cursor:
        with self._lock:
            cursor = self._open.get(locator)
        if cursor is None:
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return cursor

    def close(self, locator: str) -> None:
        with self._lock:
            self._open.pop(locator, None)


def page_body(
    cursor: Cursor,
    start: int,
    size: int,
    version: str,
    cursors: Cursors | None = None,
    nested: int = NESTED_PAGE,
) -> tuple[dict, bool]:
    """One page of a cursor as the REST body; returns (body, done).

    Child rows of subqueries count toward the page size, as in an org ("child objects count
    toward the number of records for the batch size"), so a page of deals with many line items
    carries fewer deals; a parent with more than ``nested`` children gets the first ones and a
    nested ``nextRecordsUrl`` of its own (``cursors`` opens it)."""
    result = cursor.result
    rows = _page_rows(result, start, size, nested)
    end = start + len(rows)
    done = end >= result.total
    body: dict = {"totalSize": result.total, "done": done}
    kind = "queryAll" if cursor.include_deleted else "query"
    if not done:
        body["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{cursor.locator}-{end}"
    build = result.plan.build
    records = []
    for row in rows:
        record = build(row, cursor.version)
        for children in result.children:
            record[children.relationship] = _nested(
                cursor, cursors, children, row[0], nested, version, kind
            )
        records.append(record)
    body["records"] = records
    return body, done


def _page_rows(result: Result, start: int, size: int, nested: int) -> list[tuple]:
    if not result.children:
        return result.rows[start : start + size]
    taken: list[tuple] = []
    used = 0
    for row in result.rows[start:]:
        weight = 1 + sum(min(nested, len(c.by_parent.get(row[0], ()))) for c in result.children)
        if taken and used + weight > size:
            break
        taken.append(row)
        used += weight
    return taken


def _nested(
    cursor: Cursor,
    cursors: Cursors | None,
    children: Children,
    parent_id: str,
    nested: int,
    version: str,
    kind: str,
) -> dict | None:
    """A parent's child rows as a nested query result.

    ``None`` when it has none, as orgs send it.
    """
    rows = children.by_parent.get(parent_id)
    if not rows:
        return None
    build = children.plan.build
    body: dict = {
        "totalSize": len(rows),
        "done": len(rows) <= nested,
        "records": [build(row, cursor.version) for row in rows[:nested]],
    }
    if len(rows) > nested:
        if cursors is None:
            raise ValueError("a nested page needs the cursors to open its locator")
        child = cursors.open(
            Result(False, len(rows), rows, children.plan), cursor.include_deleted, version
        )
        body["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{child.locator}-{nested}"
    return body
