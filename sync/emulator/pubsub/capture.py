"""Change Data Capture: the record-write path's changes, one event per record per transaction.

``Records`` notes each record it is about to write (``note``); the first note of a record in a
transaction keeps its row as it was. When the outermost transaction ends, each noted record's
row now is compared with that row: the fields that differ make the event (UPDATE), or the row's
appearance, deletion or undeletion does (CREATE, DELETE, UNDELETE). A transaction that raises
publishes nothing (``savepoint`` undoes the notes of a rolled-back part). A row still hidden
(a late commit, ``_hidden``) is held and published by ``release``, with the time of that commit.
``changeOrigin`` is the transaction's: REST writes carry ``client=`` from ``Sforce-Call-Options``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sync.emulator import products
from sync.emulator.schema import ObjectDef
from sync.emulator.store import HIDDEN, Store

SELECTED = ("Opportunity", products.LINE_ITEM)  # the entities selected for CDC in this org
_MOVING = {"SystemModstamp"}  # moves on every write, never in an event


@dataclass
class Change:
    """What one committed transaction did to one record, ready to become an event."""

    obj: ObjectDef
    record_id: str
    change_type: str
    values: dict[str, Any]  # canonical field name → stored value now (None for a nulled field)


@dataclass
class _Transaction:
    origin: str
    notes: dict[tuple[str, str], tuple[ObjectDef, dict | None]] = field(default_factory=dict)


class ChangeCapture:
    def __init__(
        self,
        store: Store,
        publish: Callable[[list[Change], str], None],
        selected: tuple[str, ...] = SELECTED,
    ):
        self.store = store
        self.publish = publish
        self.selected = {name.lower() for name in selected}
        self._local = threading.local()
        self._held: dict[tuple[str, str], tuple[ObjectDef, dict | None]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self, origin: str = "") -> Iterator[None]:
        """One transaction; nested ones join the outermost (whose origin counts)."""
        if getattr(self._local, "tx", None) is not None:
            yield
            return
        with self.store.lock:  # no other writer between this transaction's rows and its events
            tx = self._local.tx = _Transaction(origin)
            try:
                yield
            finally:
                self._local.tx = None
            self._commit(tx)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Notes made inside are forgotten if it raises (allOrNone rolled back)."""
        with self.transaction():
            tx: _Transaction = self._local.tx
            before = dict(tx.notes)
            try:
                yield
            except BaseException:
                tx.notes = before
                raise

    def note(self, obj: ObjectDef, record_id: str, creating: bool = False) -> None:
        """Called before a write: remember the row as the transaction found it."""
        if obj.name.lower() not in self.selected:
            return
        tx: _Transaction | None = getattr(self._local, "tx", None)
        if tx is None:
            raise RuntimeError(
                "a record write outside a capture transaction: wrap it in capture.transaction()"
            )
        key = (obj.name, record_id)
        if key not in tx.notes:
            tx.notes[key] = (obj, None if creating else self.store.row(obj, record_id))

    def release(
        self, obj: ObjectDef, record_ids: list[str] | None, do_release: Callable[[], int]
    ) -> int:
        """Commit held rows (``do_release``), then publish what their late transactions did."""
        with self.store.lock:
            with self._lock:
                keys = [
                    k
                    for k in self._held
                    if k[0] == obj.name and (record_ids is None or k[1] in record_ids)
                ]
                held = {k: self._held.pop(k) for k in keys}
            count = do_release()
            if held:
                self._commit(_Transaction("", held))
            return count

    # ----------------------------------------------------------------------------- commit

    def _commit(self, tx: _Transaction) -> None:
        changes: list[Change] = []
        for key, (obj, before) in tx.notes.items():
            after = self.store.row(obj, key[1])
            if after is not None and after.get(HIDDEN):
                with self._lock:
                    self._held.setdefault(key, (obj, before))
                continue
            change = _change(obj, key[1], before, after)
            if change is not None:
                changes.append(change)
        if changes:
            self.publish(changes, tx.origin)


def _change(
    obj: ObjectDef, record_id: str, before: dict | None, after: dict | None
) -> Change | None:
    if after is None:
        return None if before is None else Change(obj, record_id, "DELETE", {})
    if before is None:
        return Change(obj, record_id, "CREATE", {k: v for k, v in after.items() if v is not None})
    if bool(after["IsDeleted"]) != bool(before["IsDeleted"]):
        kind = "DELETE" if after["IsDeleted"] else "UNDELETE"
        return Change(obj, record_id, kind, {} if kind == "DELETE" else dict(after))
    changed = {k: v for k, v in after.items() if k not in _MOVING and before.get(k) != v}
    return Change(obj, record_id, "UPDATE", changed) if changed else None
