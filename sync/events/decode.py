"""Decoding a change event: Avro payload → record, and the header's field bitmaps → field names.

Pure functions over the writer schema of the event's ``schema_id`` (docs/architecture.md §8.1):
a bitmap is only meaningful against the schema the event was written with, so callers fetch and
cache the schema by id (``GetSchema``) and pass its JSON here. Shared by the emulator's tests and
the daemon's listener, so both read events the same way.

Bitmaps (``changedFields``, ``nulledFields``, ``diffFields``) are lists of hex strings: the first,
``"0x…"``, sets bit *i* for the *i*-th field of the event record (0 is ``ChangeEventHeader``);
an entry ``"N-0x…"`` sets bits over the fields of the compound (nested record) field at position
N, named ``Parent.Child``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import fastavro

HEADER = "ChangeEventHeader"


class BitmapError(ValueError):
    """A bitmap names a field the schema does not have: the wrong schema decoded it."""


@dataclass(frozen=True)
class ChangeEvent:
    """One decoded change event. ``body`` holds only what the event carries (changed fields on an
    UPDATE): it is never a copy of the record; read the record by id for its values."""

    entity: str
    record_ids: tuple[str, ...]
    change_type: str
    change_origin: str
    transaction_key: str
    sequence_number: int
    commit_timestamp: int
    commit_user: str
    changed_fields: tuple[str, ...]
    nulled_fields: tuple[str, ...]
    diff_fields: tuple[str, ...]
    body: dict[str, Any]

    @property
    def is_gap(self) -> bool:
        return self.change_type.startswith("GAP_")

    @property
    def is_overflow(self) -> bool:
        return self.change_type == "GAP_OVERFLOW"

    @property
    def is_wildcard(self) -> bool:
        """recordIds names a key prefix (``006*``), no record: only a query finds the records."""
        return any(record_id.endswith("*") for record_id in self.record_ids)

    def client(self) -> str | None:
        """The ``client=`` of ``changeOrigin`` (the writer's ``Sforce-Call-Options``), if any."""
        for part in self.change_origin.split(";"):
            key, _, value = part.strip().partition("=")
            if key == "client":
                return value
        return None


class Decoder:
    """One writer schema, parsed once; decode as many payloads of that schema as needed."""

    def __init__(self, schema_json: str):
        self.schema = json.loads(schema_json)
        self.parsed = fastavro.parse_schema(self.schema)
        self.fields = [f["name"] for f in self.schema["fields"]]

    def record(self, payload: bytes) -> dict[str, Any]:
        """The Avro record as it is (header included)."""
        return fastavro.schemaless_reader(io.BytesIO(payload), self.parsed)

    def expand(self, bitmaps: list[str]) -> tuple[str, ...]:
        """Field names set in a header bitmap list (see the module docstring)."""
        names: list[str] = []
        for entry in bitmaps:
            position, _, bits = (
                entry.rpartition("-") if not entry.startswith("0x") else ("", "", entry)
            )
            if position:
                parent = self.schema["fields"][int(position)]
                nested = [f["name"] for f in _record_of(parent["type"])["fields"]]
                names += [f"{parent['name']}.{name}" for name in expand(bits, nested)]
            else:
                names += expand(bits, self.fields)
        return tuple(names)

    def event(self, payload: bytes) -> ChangeEvent:
        record = self.record(payload)
        header = record[HEADER]
        body = {
            name: value for name, value in record.items() if name != HEADER and value is not None
        }
        return ChangeEvent(
            entity=header["entityName"],
            record_ids=tuple(header["recordIds"]),
            change_type=header["changeType"],
            change_origin=header.get("changeOrigin") or "",
            transaction_key=header["transactionKey"],
            sequence_number=header["sequenceNumber"],
            commit_timestamp=header["commitTimestamp"],
            commit_user=header["commitUser"],
            changed_fields=self.expand(header["changedFields"]),
            nulled_fields=self.expand(header["nulledFields"]),
            diff_fields=self.expand(header["diffFields"]),
            body=body,
        )


def expand(bitmap: str, fields: list[str]) -> list[str]:
    """The names whose bit is set in one hex bitmap (bit i ⇒ ``fields[i]``).

    Raises:
        BitmapError: a bit points past the schema's fields.
    """
    bits = int(bitmap, 16)
    if bits >> len(fields):
        raise BitmapError(
            f"bitmap {bitmap} names field {bits.bit_length() - 1} but the schema has "
            f"{len(fields)} fields: decode with the schema of the event's schema_id"
        )
    return [name for i, name in enumerate(fields) if bits >> i & 1]


def _record_of(avro_type: Any) -> dict:
    """The record inside a field type (``["null", {record}]`` or the record itself)."""
    for candidate in avro_type if isinstance(avro_type, list) else [avro_type]:
        if isinstance(candidate, dict) and candidate.get("type") == "record":
            return candidate
    raise BitmapError(
        f"a compound bitmap entry points at a field that is not a record: {avro_type!r}"
    )
