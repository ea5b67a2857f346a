"""The CloseDate range that ``backfill`` and ``adopt`` read: parsed, queried, read.

A range selects deals by **CloseDate** (a business date), never by SystemModstamp, so reading one
never touches the run's watermark. It is read ordered by Id, with one COUNT() call first: REST
pages, or one Bulk API 2.0 job above ``limits.bulk_threshold`` rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from sync.common.clock import utcnow
from sync.common.errors import ConfigError
from sync.config import Settings
from sync.connectors.base import SalesforceApi
from sync.extract.incremental import select_fields
from sync.extract.line_items import bulk_line_items
from sync.extract.soql import Condition, and_, to_soql
from sync.extract.soql import field as soql_field
from sync.mapping.model import Mapping

DATE_FIELD = "CloseDate"


def parse_range(since: str | None, until: str | None) -> tuple[date | None, date]:
    """The CloseDate range; until defaults to today (UTC), a missing since means no lower bound
    (adopt). Exit 2 for what is not a range."""
    problems: list[str] = []

    def parse(name: str, text: str) -> date | None:
        try:
            return date.fromisoformat(text)
        except ValueError:
            problems.append(f"{name}: {text!r} is not a date; write YYYY-MM-DD")
            return None

    lower = None if since is None else parse("--since", since)
    upper = parse("--until", until or utcnow().date().isoformat())
    if lower is not None and upper is not None and lower > upper:
        problems.append(f"--since {lower} is after --until {upper}; nothing would be read")
    if problems or upper is None:
        raise ConfigError(problems)
    return lower, upper


def range_condition(
    mapping: Mapping, since: date | None, until: date | None, after_id: str | None
) -> Condition:
    """The mapping's criteria, the CloseDate range (either bound may be open) and, resuming, the Ids
    after the last one done."""
    closed = soql_field(DATE_FIELD)
    return and_(
        mapping.source.criteria,
        closed.ge(since) if since else None,
        closed.le(until) if until else None,
        soql_field("Id").gt(after_id) if after_id else None,
    )


def range_query(
    mapping: Mapping,
    since: date | None,
    until: date | None,
    after_id: str | None,
    children: bool = True,
) -> str:
    condition = range_condition(mapping, since, until, after_id)
    where = f" WHERE {to_soql(condition)}" if condition is not None else ""
    fields = ", ".join(select_fields(mapping, children))
    return f"SELECT {fields} FROM {mapping.source.object}{where} ORDER BY Id"


def check_source(mapping: Mapping) -> None:
    if mapping.source.object.lower() != "opportunity":
        raise ConfigError(
            f"backfill selects deals by {DATE_FIELD}, an Opportunity field; the mapping reads "
            f"{mapping.source.object}"
        )


def read_range(
    client: SalesforceApi,
    mapping: Mapping,
    settings: Settings,
    since: date | None,
    until: date | None,
    after_id: str | None = None,
) -> tuple[int, str, Iterator[list[dict]]]:
    """One COUNT() call, then the records of the range after ``after_id``: REST pages, or one Bulk
    2.0 job above ``limits.bulk_threshold``. (how many, "rest" or "bulk", the pages)"""
    condition = range_condition(mapping, since, until, after_id)
    where = to_soql(condition) if condition is not None else None
    count = client.count(mapping.source.object, where, include_deleted=False)
    if count > settings.limits.bulk_threshold:
        deals = client.bulk_query_pages(
            range_query(mapping, since, until, after_id, children=False), include_deleted=False
        )
        return count, "bulk", bulk_line_items(client, mapping, where, deals)
    return (
        count,
        "rest",
        client.query_pages(range_query(mapping, since, until, after_id), include_deleted=False),
    )
