"""What the stages use of Salesforce: the :class:`SalesforceApi` protocol.

The pipeline, ``check``, ``plan`` and ``reconcile`` reach Salesforce only through these few calls,
so this is the seam a fake or another client has to fill, and the list a change to
``SalesforceClient`` must keep working (see docs/architecture.md). The PSA's counterpart is
:class:`sync.connectors.psa.base.PsaConnector`. Nothing here imports simple-salesforce.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from sync.connectors.salesforce.sobject_collections import SaveResult
from sync.connectors.salesforce.usage import ApiUsage


@runtime_checkable
class SalesforceApi(Protocol):
    """One run's connection to one org, as the stages use it."""

    org_id: str  # 18 characters, set by connect(); the state guard compares it with the state's org
    server_time: (
        datetime | None
    )  # Salesforce's clock at connect(): the extract's signpost, never ours
    usage: ApiUsage  # this run's calls per endpoint and the org's usage, for the run's report

    def connect(self) -> None:
        """Authenticate; sets ``org_id`` and ``server_time``. Raises ``AuthError`` when refused."""
        ...

    def query_pages(
        self, soql: str, *, include_deleted: bool = True, batch_size: int | None = None
    ) -> Iterator[list[dict]]:
        """One list of raw records per page of ``soql`` (deleted ones too unless told otherwise).

        Pages are streamed so a run commits page by page and resumes from its last page.
        """
        ...

    def bulk_query_pages(
        self, soql: str, *, include_deleted: bool = True, max_records: int = 50_000
    ) -> Iterator[list[dict]]:
        """``query_pages`` over one Bulk API 2.0 job: REST-shaped records, ``max_records`` a page.

        For reads too large for REST paging (a backfill): a handful of calls instead of one per
        2,000 records. ``soql`` must be a plain SELECT (no COUNT(), GROUP BY, OFFSET, subqueries).
        """
        ...

    def count(self, sobject: str, where: str | None = None, *, include_deleted: bool = True) -> int:
        """How many records ``SELECT COUNT() FROM sobject WHERE where`` finds: one call, no records.

        Tells a backfill whether a read is large enough to be worth a Bulk job.
        """
        ...

    def update(self, sobject: str, records: Sequence[dict]) -> list[SaveResult]:
        """Write ``records`` (each with its ``Id``); one :class:`SaveResult` per record, in order.

        A record's failure is its result, not an exception: only the whole call failing raises.
        """
        ...

    def describe(self, sobject: str) -> dict:
        """The sObject's describe (fields, types, picklist values) for ``check`` and the mapping."""
        ...

    def budget_left(self) -> bool:
        """False when the next call would pass the run's or the org's API limit (stop before it)."""
        ...
