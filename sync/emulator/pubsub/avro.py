"""Change event schemas from the emulator's object definitions, their ids, and payload encoding.

The event record is ``<Object>ChangeEvent`` in namespace ``com.sforce.eventbus``: field 0 is the
``ChangeEventHeader`` record, then one ``["null", T]`` field per field of the object (formula
fields, ``Id``, ``IsDeleted`` and ``SystemModstamp`` are not in change events). Dates are days and
datetimes milliseconds since the epoch, as Pub/Sub sends them. The schema id is a hash of the schema
text, so ``register_field`` yields a new id and events name the schema they were written with.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
from datetime import date
from typing import Any

import fastavro

from sync.emulator.schema import ID_TYPES, TEXT_TYPES, FieldDef, ObjectDef
from sync.extract.soql import parse_sf_datetime

NAMESPACE = "com.sforce.eventbus"
CHANGE_TYPES = [
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
    "SNAPSHOT",
]
NOT_IN_EVENTS = {"Id", "IsDeleted", "SystemModstamp"}
_STRINGS = {"type": "array", "items": "string"}
HEADER_SCHEMA = {
    "type": "record",
    "name": "ChangeEventHeader",
    "namespace": NAMESPACE,
    "fields": [
        {"name": "entityName", "type": "string"},
        {"name": "recordIds", "type": _STRINGS},
        {
            "name": "changeType",
            "type": {
                "type": "enum",
                "name": "ChangeType",
                "namespace": NAMESPACE,
                "symbols": CHANGE_TYPES,
            },
        },
        {"name": "changeOrigin", "type": "string"},
        {"name": "transactionKey", "type": "string"},
        {"name": "sequenceNumber", "type": "int"},
        {"name": "commitTimestamp", "type": "long"},
        {"name": "commitNumber", "type": "long"},
        {"name": "commitUser", "type": "string"},
        {"name": "nulledFields", "type": _STRINGS},
        {"name": "diffFields", "type": _STRINGS},
        {"name": "changedFields", "type": _STRINGS},
    ],
}
_EPOCH = date(1970, 1, 1)


def event_fields(obj: ObjectDef) -> list[FieldDef]:
    """The object's fields an event carries, in schema order (after the header)."""
    return [f for f in obj.fields.values() if f.name not in NOT_IN_EVENTS and not f.calculated]


def _avro_type(definition: FieldDef) -> tuple[str, str]:
    """(Avro type, the ``doc`` Salesforce writes) for one field."""
    if definition.type in TEXT_TYPES or definition.type in ID_TYPES:
        return "string", "Data"
    return {
        "boolean": ("boolean", "Data"),
        "int": ("int", "Data"),
        "date": ("int", "Data:Date"),
        "datetime": ("long", "Data:DateTime"),
    }.get(definition.type, ("double", "Data"))


def schema_for(obj: ObjectDef) -> dict:
    fields: list[dict[str, Any]] = [
        {"name": "ChangeEventHeader", "type": HEADER_SCHEMA, "doc": "Data:ChangeEventHeader"}
    ]
    for definition in event_fields(obj):
        avro_type, doc = _avro_type(definition)
        fields.append(
            {"name": definition.name, "type": ["null", avro_type], "doc": doc, "default": None}
        )
    return {
        "type": "record",
        "name": f"{obj.name}ChangeEvent",
        "namespace": NAMESPACE,
        "fields": fields,
    }


def schema_id(schema_json: str) -> str:
    """22 characters, like Salesforce's ids: stable for one schema text, new for any change."""
    return base64.urlsafe_b64encode(hashlib.md5(schema_json.encode()).digest()).decode().rstrip("=")


def bitmap(positions: list[int]) -> list[str]:
    """Header bitmap list for field positions (bit i ⇒ schema field i); empty when none."""
    bits = sum(1 << position for position in set(positions))
    return [f"0x{bits:X}"] if bits else []


def avro_value(definition: FieldDef, stored: Any) -> Any:
    """A stored value (see values.py) as the event carries it."""
    if stored is None:
        return None
    if definition.type == "boolean":
        return bool(stored)
    if definition.type == "date":
        return (date.fromisoformat(stored) - _EPOCH).days
    if definition.type == "datetime":
        return int(parse_sf_datetime(stored).timestamp() * 1000)
    if definition.type == "int":
        return int(stored)
    avro_type, _ = _avro_type(definition)
    return float(stored) if avro_type == "double" else str(stored)


class Schemas:
    """Every schema handed out, by id (``GetSchema`` must answer ids of older events too)."""

    def __init__(self) -> None:
        self._by_id: dict[str, str] = {}
        self._parsed: dict[str, Any] = {}
        self._lock = threading.Lock()

    def current(self, obj: ObjectDef) -> str:
        """The id of the object's schema as its fields are now (registered on first use)."""
        text = json.dumps(schema_for(obj), separators=(",", ":"))
        key = schema_id(text)
        with self._lock:
            if key not in self._by_id:
                self._by_id[key] = text
                self._parsed[key] = fastavro.parse_schema(json.loads(text))
        return key

    def text(self, key: str) -> str | None:
        with self._lock:
            return self._by_id.get(key)

    def encode(self, key: str, record: dict[str, Any]) -> bytes:
        with self._lock:
            parsed = self._parsed[key]
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, record)
        return out.getvalue()
