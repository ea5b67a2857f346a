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
from sync.emulator.query import Result


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


def page_body(cursor: Cursor, start: int, size: int, version: str) -> tuple[dict, bool]:
    """One page of a cursor as the REST body; returns (body, done)."""
    result = cursor.result
    rows = result.rows[start:start + size]
    end = start + len(rows)
    done = end >= result.total
    body: dict = {"totalSize": result.total, "done": done}
    if not done:
        kind = "queryAll" if cursor.include_deleted else "query"
        body["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{cursor.locator}-{end}"
    build = result.plan.build
    body["records"] = [build(row, cursor.version) for row in rows]
    return body, done
