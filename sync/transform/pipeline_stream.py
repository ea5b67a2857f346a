"""The pipeline stream: a page's open deals → rows of the state file's ``pipeline`` table (pure).

The run's one query reads the pipeline deals with the won ones (``pipeline.criteria`` is OR-ed into
its WHERE, docs/architecture.md §13), so the stream costs no Salesforce call. For every record of a
page that matches the pipeline criteria, or that the table already holds, this decides the row:
``open`` while it matches, then ``won``, ``lost`` (closed) or ``dropped`` (still open, or deleted,
but out of the criteria). The state store writes them in the page's commit: ``state.pipeline_rows``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sync.common.model import DesiredRow, Facts, RowError


def stream_rows(
    records: list[dict],
    rows: list[DesiredRow],
    errors: list[RowError],
    facts: dict[str, Facts],
    known: set[str],
) -> list[dict[str, Any]]:
    """The ``pipeline`` rows a page changes. ``known``: the page's deals the table already holds. A
    deal that does not map keeps its earlier ``payload`` (None here: the store leaves it)."""
    mapped = {row.record_id: row for row in rows}
    in_pipeline = {r.record_id for r in rows if r.pipeline} | {
        e.record_id for e in errors if e.pipeline
    }
    deleted = {r.record_id for r in rows if r.deleted} | {e.record_id for e in errors if e.deleted}
    out = []
    for record in records:
        record_id = record.get("Id")
        if not record_id or (record_id not in in_pipeline and record_id not in known):
            continue
        status = (
            "open"
            if record_id in in_pipeline
            else _closed(facts.get(record_id), record_id in deleted)
        )
        row = mapped.get(record_id)
        out.append(
            {
                "record_id": record_id,
                "stage": _text(record.get("StageName")),
                "probability": _number(record.get("Probability")),
                "amount": _number(record.get("Amount")),
                "close_date": _text(record.get("CloseDate")),
                "owner_id": _text(record.get("OwnerId")),
                "payload": dict(row.fields) if row is not None else None,
                "status": status,
            }
        )
    return out


def _closed(facts: Facts | None, deleted: bool) -> str:
    if deleted or facts is None:
        return "dropped"
    if facts.is_won:
        return "won"
    return "lost" if facts.is_closed else "dropped"


def _number(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
