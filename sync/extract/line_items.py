"""A deal's line items as the reads carry them (docs/architecture.md §14).

Which line-item fields a mapping's ``structure:`` reads, the query that reads them in
``SortOrder``, and, for a Bulk API 2.0 backfill, which takes no subqueries, the second job that
brings them to each deal as a REST read's subquery would. The window's queries
(:mod:`sync.extract.incremental`) put them in the deal's query as a subquery.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import IO

from sync.common.structure import LINE_ITEMS
from sync.connectors.base import SalesforceApi
from sync.mapping.model import Mapping

LINE_ITEM = "OpportunityLineItem"


def line_item_fields(mapping: Mapping) -> list[str] | None:
    """The line-item fields the mapping's ``structure:`` reads; None without one (no subquery)."""
    if mapping.structure is None or mapping.source.object.lower() != "opportunity":
        return None
    return mapping.structure.line_item_fields()


def line_items_query(fields: list[str], source: str, where: str = "") -> str:
    """Line items as a salesperson sorted them (``SortOrder``, then ``Id``: ties reorder)."""
    return f"SELECT {', '.join(fields)} FROM {source}{where} ORDER BY SortOrder, Id"


def bulk_line_items(
    client: SalesforceApi, mapping: Mapping, where: str | None, pages: Iterator[list[dict]]
) -> Iterator[list[dict]]:
    """A Bulk API 2.0 read's deals with their line items, as a REST read carries them.

    Bulk jobs take no subqueries, so the line items come from a second job over the same deals
    (``OpportunityId IN (SELECT Id FROM Opportunity WHERE …)``), ordered by deal. Its rows go to a
    temporary file first, one JSON line per deal, with only each deal's offset kept in memory, so
    the deals' job streams as before and memory holds one page. A deal with no line items gets
    ``null``, as a REST subquery gives it.
    """
    fields = line_item_fields(mapping)
    if fields is None:
        yield from pages
        return
    inner = f" WHERE {where}" if where else ""
    soql = line_items_query(
        [*fields, "OpportunityId"],
        LINE_ITEM,
        f" WHERE OpportunityId IN (SELECT Id FROM {mapping.source.object}{inner})",
    )
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        index = _spool_by_deal(client.bulk_query_pages(soql, include_deleted=False), spool)
        for page in pages:
            for record in page:
                record[LINE_ITEMS] = _spooled(spool, index.get(record["Id"]))
            yield page


def _spool_by_deal(pages: Iterator[list[dict]], spool: IO[str]) -> dict[str, list[int]]:
    """Write each deal's lines to ``spool``; the offsets of its JSON lines by deal Id."""
    index: dict[str, list[int]] = {}
    for page in pages:
        groups: dict[str, list[dict]] = {}
        for line in page:
            groups.setdefault(line.pop("OpportunityId"), []).append(line)
        for deal, lines in groups.items():
            index.setdefault(deal, []).append(spool.tell())
            spool.write(json.dumps(lines) + "\n")
    return index


def _spooled(spool: IO[str], offsets: list[int] | None) -> dict | None:
    if not offsets:
        return None
    rows: list[dict] = []
    for offset in offsets:
        spool.seek(offset)
        rows.extend(json.loads(spool.readline()))
    spool.seek(0, 2)
    return {"totalSize": len(rows), "done": True, "records": rows}
