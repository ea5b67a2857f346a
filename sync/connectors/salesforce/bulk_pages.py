"""One results page of a Bulk API 2.0 query job, checked whole, then handed on in chunks.

A page is checked before any of it is handed on: its CSV parsed through, each row as wide as the
header, its announced count (``Sforce-NumberOfRecords``) matched, its ``Sforce-Locator`` present;
a page that fails is a ``ProtocolViolation`` and nothing of it is committed. Then it is read again
from its bytes, ``CHUNK_ROWS`` records at a time (a REST page's 2,000): memory holds one page's
bytes and one chunk of records, never 50,000 records at once.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from itertools import islice
from typing import Any

from sync.common.errors import ProtocolViolation
from sync.connectors.salesforce.bulk_records import RecordShape

log = logging.getLogger(__name__)

CHUNK_ROWS = (
    2000  # records handed on at a time (a results page of 50,000 held as records: ~400 MB at 100k)
)


def _rows(content: bytes) -> Iterator[list[str]]:
    """The CSV rows of a results page, read from its bytes as needed (no copy of the whole text)."""
    return csv.reader(
        io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline=""), strict=True
    )


def page_chunks(shape: RecordShape, header: list[str], content: bytes) -> Iterator[list[dict]]:
    """The page's rows as records, ``CHUNK_ROWS`` at a time (``read_page`` checked it whole)."""
    rows = _rows(content)
    next(rows, None)  # the header
    first = True  # a page with no records still gives one (empty) list
    while True:
        chunk = list(islice(rows, CHUNK_ROWS))
        if chunk or first:
            yield shape.records(header, chunk)
        first = False
        if len(chunk) < CHUNK_ROWS:
            return


def read_page(job: str, response: Any) -> tuple[list[str], bytes, str | None]:
    """The header and bytes of one results page, checked (read through once, keeping nothing but the
    count), and the locator of the next (None after the last)."""
    headers = response.headers
    locator = headers.get("Sforce-Locator")
    if locator is None:
        raise ProtocolViolation(
            f"a results page of Bulk query job {job} had no Sforce-Locator header; nothing "
            "was committed from it and the next run reads the same records again"
        )
    content = response.content
    header: list[str] = []
    read = misfits = 0
    try:
        rows = _rows(content)
        header = next(rows, [])
        for row in rows:
            read += 1
            misfits += len(row) != len(header)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ProtocolViolation(
            f"a results page of Bulk query job {job} is not UTF-8 CSV "
            f"({type(exc).__name__}); nothing was committed from it"
        ) from None
    expected = headers.get("Sforce-NumberOfRecords")
    if (expected is not None and expected.strip().isdigit() and int(expected) != read) or misfits:
        raise ProtocolViolation(
            f"a results page of Bulk query job {job} did not parse into the records it "
            f"announced ({expected} said, {read} read); nothing was committed from it"
        )
    log.debug("salesforce: Bulk query job %s: %d records on this page", job, read)
    return header, content, None if locator in ("", "null") else locator
