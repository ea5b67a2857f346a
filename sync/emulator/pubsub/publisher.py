"""Changes → change events on the bus: the header, the body of changed fields, the bitmaps.

One transaction's events share a ``transactionKey`` and count ``sequenceNumber`` from 1; the
body carries only what the change carries (an UPDATE's changed fields, every set field of a
CREATE or UNDELETE, nothing for a DELETE or a gap), never the whole record of an UPDATE.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from typing import Any

from sync.emulator.pubsub.avro import Schemas, avro_value, bitmap, event_fields
from sync.emulator.pubsub.bus import EventBus
from sync.emulator.pubsub.capture import Change
from sync.emulator.schema import ObjectDef

OVERFLOW_ID = "000000000000000AAA"
_BODY_LESS = {"DELETE"}


class Publisher:
    def __init__(self, bus: EventBus, schemas: Schemas, user_id: str, clock: Callable[[], int]):
        self.bus = bus
        self.schemas = schemas
        self.user_id = user_id
        self.clock = clock
        self._commit_numbers = itertools.count(10_000_000_001)
        self._lock = threading.Lock()

    def changes(self, changes: list[Change], origin: str) -> list[int]:
        """Publish one committed transaction's changes; returns their replay positions."""
        key, commit_ms = str(uuid.uuid4()), self.clock()
        with self._lock:
            commit_number = next(self._commit_numbers)
        return [
            self._publish(
                change.obj,
                [change.record_id],
                change.change_type,
                change.values,
                origin,
                key,
                sequence,
                commit_ms,
                commit_number,
            )
            for sequence, change in enumerate(changes, start=1)
        ]

    def header_only(self, obj: ObjectDef, record_ids: list[str], change_type: str) -> int:
        """A gap, overflow or wildcard event: a header with no field values."""
        with self._lock:
            commit_number = next(self._commit_numbers)
        return self._publish(
            obj, record_ids, change_type, {}, "", str(uuid.uuid4()), 1, self.clock(), commit_number
        )

    def _publish(
        self,
        obj: ObjectDef,
        record_ids: list[str],
        change_type: str,
        values: dict[str, Any],
        origin: str,
        key: str,
        sequence: int,
        commit_ms: int,
        commit_number: int,
    ) -> int:
        schema_id = self.schemas.current(obj)
        fields = event_fields(obj)
        carried = {} if change_type in _BODY_LESS or change_type.startswith("GAP_") else values
        body = {f.name: avro_value(f, carried.get(f.name)) for f in fields}
        positions = {f.name: i for i, f in enumerate(fields, start=1)}
        is_update = change_type == "UPDATE"
        changed = [positions[name] for name in carried if name in positions] if is_update else []
        nulled = [
            positions[name]
            for name, value in carried.items()
            if value is None and name in positions
        ]
        header = {
            "entityName": obj.name,
            "recordIds": record_ids,
            "changeType": change_type,
            "changeOrigin": origin,
            "transactionKey": key,
            "sequenceNumber": sequence,
            "commitTimestamp": commit_ms,
            "commitNumber": commit_number,
            "commitUser": self.user_id,
            "nulledFields": bitmap(nulled if is_update else []),
            "diffFields": [],
            "changedFields": bitmap(changed),
        }
        payload = self.schemas.encode(schema_id, {"ChangeEventHeader": header, **body})
        return self.bus.publish(obj.name, schema_id, payload, str(uuid.uuid4()), commit_ms)
