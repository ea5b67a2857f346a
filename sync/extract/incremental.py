"""Watermark → SOQL → pages of raw records.

The query (docs/architecture.md §2)::

    SELECT <fields from the mapping> FROM <object>
    WHERE SystemModstamp >= :watermark - lookback AND SystemModstamp <= :signpost
      [AND (SystemModstamp > :stamp OR (SystemModstamp = :stamp AND Id > :id))   -- an open Window]
      AND (<criteria> OR <link field> != null OR Id IN (<deals whose link write-back is pending>))
    ORDER BY SystemModstamp, Id

`>=` plus a lookback re-reads the boundary and catches rows that committed late with an older
stamp; the diff makes re-reads free. The signpost is Salesforce's own clock, never ours. The extra
terms bring back linked deals that left the criteria (lost, reopened, deleted) so the lifecycle
policy sees them. The condition is built with the ``sync.extract.soql`` builder (every value
quoted); field names come only from the validated mapping. Queries go over ``queryAll`` so deletions
arrive as ``IsDeleted`` rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sync.common.clock import iso, parse_iso
from sync.common.errors import ProtocolViolation
from sync.common.model import FACT_FIELDS
from sync.common.structure import LINE_ITEMS
from sync.connectors.base import SalesforceApi
from sync.extract.line_items import LINE_ITEM, line_item_fields, line_items_query
from sync.extract.soql import Query, SemiJoin, and_, field, or_, to_soql
from sync.mapping.model import Mapping
from sync.state import pipeline_rows

if TYPE_CHECKING:
    from sync.state import State

logger = logging.getLogger(__name__)
STREAM = "records"
WINDOW = "window"  # meta key: the query window a stopped run left open (JSON), or empty
MAX_IDS_PER_QUERY = 300  # 300 quoted 18-char Ids stay far below the 16 KB URI limit


def since(watermark: datetime | None, mapping: Mapping) -> datetime:
    """Where this run reads from: the watermark less the lookback, else start_date at 00:00 UTC."""
    if watermark is None:
        start = mapping.source.start_date
        return datetime(start.year, start.month, start.day, tzinfo=UTC)
    return watermark - mapping.source.lookback


@dataclass(frozen=True)
class Window:
    """One pass over the stamps [start, signpost], possibly across several runs.

    A run stopped by the API budget (or killed) leaves its window open with the last row it
    committed (``after``: SystemModstamp and Id, the query's sort key); the next run continues after
    that row with the same signpost instead of re-reading from the watermark less the lookback, so a
    lookback holding more rows than one run may read can never stop every run in the same place.
    Once a window is read to its end the watermark moves to its signpost, and the next window
    re-reads the lookback before it: rows that committed late are still caught.
    """

    start: datetime
    signpost: datetime
    after: tuple[datetime, str] | None = None

    def past(self, records: list[dict]) -> Window:
        """This window, continued after the last row of ``records`` (a page in query order)."""
        last = records[-1] if records else None
        if last is None or not last.get("SystemModstamp"):
            return self
        return replace(self, after=(parse_stamp(last["SystemModstamp"]), last["Id"]))

    def to_json(self) -> dict:
        return {
            "start": iso(self.start),
            "signpost": iso(self.signpost),
            "after": [iso(self.after[0]), self.after[1]] if self.after else None,
        }

    @classmethod
    def from_json(cls, data: dict) -> Window:
        after = data.get("after")
        return cls(
            parse_iso(data["start"]),
            parse_iso(data["signpost"]),
            (parse_iso(after[0]), after[1]) if after else None,
        )


def windows(state: State | None, mapping: Mapping, server_time: datetime) -> list[Window]:
    """The windows this run reads, in order: the one a stopped run left open, if any, then a new one
    up to this run's signpost, from the watermark (or the open window's signpost) less the lookback.
    A run that exits 0 has so read all stamped before its start, not only an old window."""
    saved = state.meta(WINDOW) if state is not None else None
    signpost = signpost_of(server_time)
    if saved:
        open_window = Window.from_json(json.loads(saved))
        return [open_window, Window(since(open_window.signpost, mapping), signpost)]
    start = since(state.watermark(STREAM) if state is not None else None, mapping)
    return [Window(start, signpost)]


def window_query(state: State | None, mapping: Mapping, window: Window) -> str:
    """The run's query over ``window``, plus the linked records whose link write-back has not landed
    (their link field cannot bring them back)."""
    return build_query(
        mapping,
        start=window.start,
        signpost=window.signpost,
        after=window.after,
        extra_ids=state.unsettled_links() if state is not None else (),
        watch_ids=pipeline_rows.watched(state) if mapping.pipeline is not None else (),
    )


def build_query(
    mapping: Mapping,
    *,
    start: datetime,
    signpost: datetime,
    extra_ids: Iterable[str] = (),
    after: tuple[datetime, str] | None = None,
    watch_ids: Iterable[str] = (),
) -> str:
    """The window's query. ``extra_ids``: linked deals whose link write-back has not landed;
    ``watch_ids``: open pipeline deals without a project, named so the run sees them leave the
    pipeline. Both share the 300 Ids one query may name, the unsettled links first; watched deals
    that do not fit are caught by ``IsWon = false`` instead (the window's open or lost deals: more
    rows, no call)."""
    stamp = field("SystemModstamp")
    where = and_(stamp.ge(start), stamp.le(signpost))
    if after is not None:  # keyset: the rows after (stamp, Id) in the query's own order
        where = and_(
            where, or_(stamp.gt(after[0]), and_(stamp.eq(after[0]), field("Id").gt(after[1])))
        )
    if mapping.source.criteria is not None:  # without criteria every record is in scope already
        ids, wide = _named_ids(extra_ids, watch_ids)
        pipeline = mapping.pipeline.criteria if mapping.pipeline is not None else None
        where = and_(
            where,
            or_(
                mapping.source.criteria,
                pipeline,
                field("IsWon").eq(False) if wide else None,
                field(mapping.link_field).is_not_null() if mapping.link_field else None,
                field("Id").in_(ids) if ids else None,
            ),
        )
    return (
        f"SELECT {', '.join(select_fields(mapping))} FROM {mapping.source.object} "
        f"WHERE {to_soql(where)} ORDER BY SystemModstamp, Id"
    )


def _named_ids(extra_ids: Iterable[str], watch_ids: Iterable[str]) -> tuple[list[str], bool]:
    """The Ids the query names, and whether the watched deals need the wide term instead."""
    ids = sorted(set(extra_ids))[:MAX_IDS_PER_QUERY]
    watch = sorted(set(watch_ids) - set(ids))
    if len(watch) > MAX_IDS_PER_QUERY - len(ids):
        logger.info(
            "%d open pipeline deals without a project are more than a query may name: "
            "the query reads every deal of the window that is not won (IsWon = false) "
            "to see them leave",
            len(watch),
        )
        return ids, True
    return sorted(ids + watch), False


def select_fields(mapping: Mapping, children: bool = True) -> list[str]:
    """The mapping's fields, plus IsWon/IsClosed on Opportunity so lifecycle can tell Lost from
    Reopened, plus the deal's line items as a subquery when the mapping has a ``structure:``
    (``children``: Bulk API 2.0 takes no subquery; a backfill leaves it to a second job)."""
    fields = mapping.soql_fields()
    if mapping.source.object.lower() == "opportunity":
        have = {f.lower() for f in fields}
        fields += [f for f in FACT_FIELDS if f.lower() not in have]
    lines = line_item_fields(mapping)
    if children and lines is not None:
        fields.append(f"({line_items_query(lines, LINE_ITEMS)})")
    return fields


def build_amendment_query(mapping: Mapping, *, start: datetime, signpost: datetime) -> str | None:
    """The deals whose line items changed in the window while the deal itself did not (the window
    query read those already): an edit of a line's description, date or custom field is not known to
    move the deal's SystemModstamp. One query per window, only with a ``structure:``; a deleted line
    item never shows here (no recycle bin): the page step finds it missing from the deal's set."""
    lines = line_item_fields(mapping)
    if lines is None:
        return None
    stamp = field("SystemModstamp")
    changed = SemiJoin(
        "Id", Query(LINE_ITEM, ("OpportunityId",), where=and_(stamp.ge(start), stamp.le(signpost)))
    )
    where = and_(changed, stamp.lt(start), _scope(mapping))
    return (
        f"SELECT {', '.join(select_fields(mapping))} FROM {mapping.source.object} "
        f"WHERE {to_soql(where)} ORDER BY SystemModstamp, Id"
    )


def _scope(mapping: Mapping):
    """The deals a structure can belong to: in the criteria or the pipeline, or linked already."""
    if mapping.source.criteria is None:
        return None
    pipeline = mapping.pipeline.criteria if mapping.pipeline is not None else None
    return or_(
        mapping.source.criteria,
        pipeline,
        field(mapping.link_field).is_not_null() if mapping.link_field else None,
    )


def build_id_query(mapping: Mapping, ids: list[str]) -> str:
    """Re-fetch named deals whatever their stamp (recovered intents, `retry`)."""
    return (
        f"SELECT {', '.join(select_fields(mapping))} FROM {mapping.source.object} "
        f"WHERE {to_soql(field('Id').in_(ids))}"
    )


def pages(client: SalesforceApi, soql: str) -> Iterator[list[dict]]:
    """Stream pages, checking the sort invariant: a page going backwards means a broken cursor."""
    last = ""
    for records in client.query_pages(soql, include_deleted=True):
        for record in records:
            stamp = record.get("SystemModstamp") or ""
            if stamp < last:
                raise ProtocolViolation(
                    f"Salesforce returned rows out of SystemModstamp order ({stamp} after {last}), "
                    "against the query's ORDER BY; "
                    "the run stopped without advancing the watermark "
                    "and the next run reads the same window again. "
                    "If this repeats, report it to Salesforce support"
                )
            last = stamp
        yield records


def fetch_ids(client: SalesforceApi, mapping: Mapping, ids: Iterable[str]) -> Iterator[list[dict]]:
    ids = sorted(set(ids))
    for start in range(0, len(ids), MAX_IDS_PER_QUERY):
        yield from client.query_pages(
            build_id_query(mapping, ids[start : start + MAX_IDS_PER_QUERY]), include_deleted=True
        )


def signpost_of(server_time: datetime) -> datetime:
    """The end of the second Salesforce's `Date` header names, which drops the milliseconds: a row
    stamped earlier in that second is visible already. Later commits: the lookback's job."""
    return server_time.replace(microsecond=0) + timedelta(milliseconds=999)


def page_watermark(records: list[dict]) -> datetime | None:
    stamps = [r["SystemModstamp"] for r in records if r.get("SystemModstamp")]
    if not stamps:
        return None
    return parse_stamp(max(stamps))


def parse_stamp(text: str) -> datetime:
    """Salesforce's datetime form (``2026-03-01T10:00:00.000+0000``)."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
