"""What reconcile's Salesforce sweeps ask (pure SOQL), what they cost, and how a swept record reads.

The criteria sweep pages Ids of every deal matching the criteria since ``start_date``; the
existence sweep asks queryAll for the linked Ids, 300 at a time. A report-only reconcile costs
what :func:`expected_calls` says.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sync.extract import incremental
from sync.extract.soql import quote, to_soql
from sync.mapping.model import Mapping

SWEEP_PAGE = 2000  # Ids per page of the criteria sweep


def criteria_query(mapping: Mapping) -> str:
    """Id-only sweep of the criteria since start_date.

    Deleted rows are excluded: `query`, not `queryAll`.
    """
    start = incremental.since(None, mapping)
    where = f"SystemModstamp >= {quote(start)}"
    if mapping.source.criteria is not None:
        where = f"({to_soql(mapping.source.criteria)}) AND {where}"
    return f"SELECT {', '.join(_id_fields(mapping))} FROM {mapping.source.object} WHERE {where}"


def existence_queries(mapping: Mapping, ids: Iterable[str]) -> list[str]:
    """``Id IN`` queries over queryAll, ≤300 Ids each: what comes back exists (maybe deleted)."""
    ids = sorted(set(ids))
    fields = (
        _id_fields(mapping) + ["IsDeleted"] + [f for f in mapping.writeback if f.lower() != "id"]
    )
    step = incremental.MAX_IDS_PER_QUERY
    return [
        f"SELECT {', '.join(dict.fromkeys(fields))} FROM {mapping.source.object} "
        f"WHERE Id IN ({', '.join(quote(i) for i in ids[start : start + step])})"
        for start in range(0, len(ids), step)
    ]


def _id_fields(mapping: Mapping) -> list[str]:
    return ["Id", "SystemModstamp"] + ([mapping.key] if mapping.key.lower() != "id" else [])


def expected_calls(matching: int, linked: int) -> int:
    """Salesforce calls of a report-only reconcile: token + ⌈matching/2000⌉ + ⌈linked/300⌉."""
    return (
        1
        + max(1, math.ceil(matching / SWEEP_PAGE))
        + math.ceil(linked / incremental.MAX_IDS_PER_QUERY)
    )


def field_of(record: dict, name: str) -> Any:
    """A field of a REST record, ignoring case (SOQL does; the mapping may spell it differently)."""
    if name in record:
        return record[name]
    return next((v for k, v in record.items() if k.lower() == name.lower()), None)


def stamp_of(record: dict) -> datetime | None:
    text = field_of(record, "SystemModstamp")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z") if text else None
