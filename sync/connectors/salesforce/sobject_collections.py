"""sObject Collections: the body of one update call, and the per-record results of its answer.

A collections update (``PATCH composite/sobjects``, ``allOrNone=false``) answers 200 even when
every record failed: the outcome of each record is in the body, in request order, and failures are
as common as successes (validation rules, locked rows). So the answer is read record by record
into :class:`SaveResult`, never judged by its status. Numbers go out exact: a ``Decimal`` is written
as its own digits, not through a float.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from sync.common.errors import SalesforceUnavailable
from sync.common.redaction import redact
from sync.connectors.salesforce.errors import RESUMES, TRANSIENT_CODES

COLLECTION_SIZE = 200  # records per collections call, Salesforce's maximum
#: Sent with every psa-sync write: the change events of its own writes then carry ``changeOrigin:
#: …;client=psa-sync``, and the event path knows them as echoes (sync.events.intake).
CALL_OPTIONS = {"Sforce-Call-Options": "client=psa-sync"}
#: the answer of one collections update, as :func:`parse_save_results` reads it (checked first)
SAVE_RESULTS = [{"success": bool, "errors?": [dict]}]


@dataclass(frozen=True)
class SaveError:
    status_code: str
    message: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class SaveResult:
    """One record's outcome inside a collections response (request order, input Id)."""

    id: str
    success: bool
    errors: tuple[SaveError, ...]

    @property
    def transient(self) -> bool:
        """A failure worth retrying next run: every error code is a transient one."""
        return (
            not self.success
            and bool(self.errors)
            and all(e.status_code in TRANSIENT_CODES for e in self.errors)
        )


def _json_value(value: Any, field_name: str, numbers: dict[str, str]) -> Any:
    """A JSON-ready value: Decimal as an exact number (via a marker), dates as ISO strings."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{field_name}: {value} is not a number Salesforce accepts")
        marker = f"@@dec-{uuid4().hex}@@"
        numbers[marker] = format(value, "f")
        return marker
    if isinstance(value, float):
        return None if value != value else value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{field_name}: a naive datetime is ambiguous; give an aware one")
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _json_value(value.item(), field_name, numbers)
    raise TypeError(f"{field_name}: cannot send a {type(value).__name__} to Salesforce")


def collection_body(sobject: str, records: Sequence[dict]) -> str:
    """The JSON body of one PATCH composite/sobjects call (allOrNone=false)."""
    numbers: dict[str, str] = {}
    out = []
    for record in records:
        if not record.get("Id"):
            raise ValueError("every record sent to Salesforce needs an Id")
        row: dict[str, Any] = {"attributes": {"type": sobject}, "id": record["Id"]}
        row.update(
            {
                k: _json_value(v, k, numbers)
                for k, v in record.items()
                if k not in ("Id", "attributes")
            }
        )
        out.append(row)
    text = json.dumps({"allOrNone": False, "records": out})
    for marker, number in numbers.items():
        text = text.replace(f'"{marker}"', number)
    return text


def parse_save_results(records: Sequence[dict], body: Any) -> list[SaveResult]:
    """One SaveResult per input record, in order; per-record errors use ``statusCode``."""
    if not isinstance(body, list) or len(body) != len(records):
        raise SalesforceUnavailable(
            f"Salesforce answered a collections update of {len(records)} records with "
            f"{len(body) if isinstance(body, list) else 'no'} results; {RESUMES}"
        )
    results = []
    for record, item in zip(records, body, strict=True):
        errors = tuple(
            SaveError(
                status_code=str(e.get("statusCode") or e.get("errorCode") or "UNKNOWN"),
                message=redact(str(e.get("message") or "")),
                fields=tuple(e.get("fields") or ()),
            )
            for e in item.get("errors") or ()
        )
        results.append(
            SaveResult(id=record["Id"], success=bool(item.get("success")), errors=errors)
        )
    return results
