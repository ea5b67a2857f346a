"""Parent-to-child subquery results made whole: a record always holds all its children.

A parent with more children than a page carried has a nested ``nextRecordsUrl`` of its own inside
the record (docs/architecture.md §8); simple-salesforce's ``query_all`` does not follow it. Each
one is followed here, page after page, so the page step never sees half a deal's line items.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse

from sync.common.errors import SalesforceUnavailable
from sync.connectors.salesforce.errors import RESUMES


def next_path(page: dict) -> str:
    """The path of a page's ``nextRecordsUrl`` (Salesforce sends it relative; a full URL is cut to
    its path, so the session's instance URL and token are the only ones ever used)."""
    next_url = page.get("nextRecordsUrl")
    if not next_url:
        raise SalesforceUnavailable(
            f"Salesforce said the query is not done but gave no nextRecordsUrl; {RESUMES}"
        )
    return urlparse(next_url).path if next_url.startswith("http") else next_url


def complete_children(records: list[dict], more: Callable[[dict], dict]) -> list[dict]:
    """Each nested result with ``done`` false followed to its end with ``more`` (the next page of a
    result that has a ``nextRecordsUrl``); it then reads ``done`` true, with no locator. A parent
    without children keeps ``null``, as Salesforce sends it."""
    for record in records:
        for name, value in record.items():
            if not (isinstance(value, dict) and "records" in value and value.get("done") is False):
                continue
            nested, rows = value, list(value["records"])
            while not nested["done"]:
                nested = more(nested)
                rows.extend(nested["records"])
            record[name] = {"totalSize": len(rows), "done": True, "records": rows}
    return records
