"""A page of Salesforce records as pandas columns, looked up by field path ignoring case.

Records come as a SOQL query returns them: an ``attributes`` key, parent lookups nested
(``{"Account": {"attributes": …, "Name": "Acme"}}``, or ``"Account": null`` when the lookup is
empty). Bulk CSV rows carry the same values flat (``"Account.Name": "Acme"``). Both shapes give
the same column here, and Salesforce field names match whatever their case, as in SOQL.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from sync.transform.coerce import as_text, nullify, objects


class RecordFrame:
    """Columns of one page, built once per field path and cached."""

    def __init__(self, records: list[dict[str, Any]]):
        self.records = records
        self.frame = pd.DataFrame(records, dtype=object) if records else pd.DataFrame()
        self.index = pd.RangeIndex(len(records))
        self._columns: dict[str, list[Any]] = {}
        for name in self.frame.columns:
            self._columns.setdefault(str(name).lower(), []).append(name)
        self._cache: dict[str, pd.Series] = {}

    def __len__(self) -> int:
        return len(self.records)

    def column(self, path: str) -> pd.Series:
        """Values of ``path`` as an object Series; None for null, ``""`` or an empty lookup.

        A field the page does not carry at all reads as null: the query selects every field
        the mapping names, so only hand-written samples can lack one.
        """
        lowered = path.lower()
        if lowered not in self._cache:
            self._cache[lowered] = nullify(self._lookup(path))
        return self._cache[lowered]

    def text(self, path: str) -> pd.Series:
        """Canonical text of ``path`` (see :func:`sync.transform.coerce.as_text`)."""
        return as_text(self.column(path))

    def _lookup(self, path: str) -> pd.Series:
        nested = self._nested(path)
        flat = self._top(path)
        if flat is None:
            return nested
        return flat.where(flat.notna(), nested) if "." in path else flat

    def _top(self, name: str) -> pd.Series | None:
        """The column called ``name`` in any case; several spellings coalesce, first wins."""
        names = self._columns.get(name.lower())
        if not names:
            return None
        values = nullify(self.frame[names[0]])
        for other in names[1:]:
            values = values.where(values.notna(), nullify(self.frame[other]))
        return values

    def _nested(self, path: str) -> pd.Series:
        head, *rest = path.split(".")
        top = self._top(head) if rest else None
        if top is None:
            return objects([None] * len(self), index=self.index)
        values = np.array(top, dtype=object)
        for part in rest:
            values = _child(values, part.lower())
        return pd.Series(values, index=self.index, dtype=object)

    def payload(self, position: int) -> dict[str, Any]:
        """The raw record at ``position`` without ``attributes``, safe for ``json.dumps``."""
        return _clean(self.records[position])


def _get_ignoring_case(value: Any, lowered: str) -> Any:
    if not isinstance(value, dict):
        return None
    for name, child in value.items():
        if name.lower() == lowered:
            return child
    return None


_child = np.frompyfunc(_get_ignoring_case, 2, 1)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items() if k != "attributes"}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (Decimal, datetime, date)):
        return as_text(objects([value])).iloc[0]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
