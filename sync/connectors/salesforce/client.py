"""The Salesforce connector: token, simple-salesforce client, API budget, errors, collections.

The pipeline talks to Salesforce only through ``SalesforceClient``, which fills the
:class:`sync.connectors.base.SalesforceApi` protocol (the calls the stages make). It owns four
concerns, each in its own module (``connection`` keeps one data call with re-authentication,
lock retries and translation; the client adds the paging of queries and the calls themselves):

- **Authentication** (``auth``): we request the token and build ``Salesforce(instance_url=…,
  session_id=…, session=<ours>)``, so simple-salesforce never logs in or refreshes on its own; a 401
  ``INVALID_SESSION_ID`` re-authenticates once and retries that call (twice refused: ``AuthError``).
- **The API budget** (``usage``): a response hook parses ``Sforce-Limit-Info`` and counts every call
  per endpoint; a guard stops the run before a data call that would pass the run's cap or the org's
  share (``BudgetExceededError``, exit 4); the run resumes from its last page.
- **Error translation** (``errors``) from status + ``errorCode``, never message text, into
  ``sync.common.errors``; messages never carry SOQL values, bodies, tokens or secrets.
- **sObject Collections** (``sobject_collections``): 200 records a call, per-record results read.
- **Nested pages** (``nested``): a record's child rows (line items) followed to their end.
- **Bulk API 2.0 queries** (``bulk``, ``bulk_records``): one query job, its CSV pages as REST-shaped
  records, every job call through the same guarded path (the budget and counts cover Bulk too).
- **Shapes** (``answers``): a body is held against the shape the code relies on before anything
  indexes into it; what does not fit stops the run (``SalesforceUnavailable``) naming the call.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

from simple_salesforce import Salesforce

from sync.common.errors import ConfigError
from sync.connectors.salesforce import bulk
from sync.connectors.salesforce.connection import SalesforceConnection
from sync.connectors.salesforce.nested import complete_children, next_path
from sync.connectors.salesforce.sobject_collections import (
    CALL_OPTIONS,
    COLLECTION_SIZE,
    SAVE_RESULTS,
    SaveResult,
    collection_body,
    parse_save_results,
)

log = logging.getLogger(__name__)

_SOBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: one page of query/queryAll/queryMore; the records are read by transform, which takes any object
QUERY_PAGE = {"records": [dict], "done": bool, "nextRecordsUrl?": str}
#: what ``check`` reads of a describe
DESCRIBE = {
    "name?": str,
    "fields": [
        {
            "name": str,
            "type?": str,
            "relationshipName?": str,
            "referenceTo?": [str],
            "picklistValues?": [{"value": str}],
        }
    ],
}


class SalesforceClient(SalesforceConnection):
    """A connection to one org for one run, or for many (``new_run``); see the module docstring."""

    # --- the public calls -------------------------------------------------------------------------

    def query_pages(
        self, soql: str, *, include_deleted: bool = True, batch_size: int | None = None
    ) -> Iterator[list[dict]]:
        """Stream one list of raw records per page: query/queryAll, then each nextRecordsUrl."""
        kwargs: dict[str, Any] = {}
        if batch_size is not None:
            if not 200 <= batch_size <= 2000:
                raise ValueError(f"batch_size must be between 200 and 2000, got {batch_size}")
            kwargs["headers"] = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        page = self._call(
            "query",
            lambda sf: sf.query(soql, include_deleted=include_deleted, **kwargs),
            shape=QUERY_PAGE,
        )
        more = partial(self._more, kwargs=kwargs)
        yield complete_children(page["records"], more)
        while not page["done"]:
            page = more(page)
            yield complete_children(page["records"], more)

    def _more(self, page: dict, kwargs: dict[str, Any]) -> dict:
        """The page after ``page`` (its ``nextRecordsUrl``), top-level or nested alike."""
        path = next_path(page)
        return self._call(
            "queryMore",
            lambda sf: sf.query_more(path, identifier_is_url=True, **kwargs),
            shape=QUERY_PAGE,
        )

    def update(self, sobject: str, records: Sequence[dict]) -> list[SaveResult]:
        """PATCH composite/sobjects, 200 records a call, allOrNone=false; results in input order."""
        _check_sobject(sobject)
        results: list[SaveResult] = []
        for start in range(0, len(records), COLLECTION_SIZE):
            chunk = records[start : start + COLLECTION_SIZE]
            body = collection_body(sobject, chunk)
            answer = self._call(
                "composite",
                partial(
                    self._restful,
                    path="composite/sobjects",
                    method="PATCH",
                    data=body,
                    headers=CALL_OPTIONS,
                ),
                shape=SAVE_RESULTS,
            )
            results.extend(parse_save_results(chunk, answer))
        failed = sum(not r.success for r in results)
        log.debug("salesforce: updated %d %s records, %d failed", len(results), sobject, failed)
        return results

    def describe(self, sobject: str) -> dict:
        """The sObject's describe (fields, types, picklist values), for `check` and the mapping."""
        _check_sobject(sobject)
        return self._call(
            "describe", lambda sf: self._restful(sf, f"sobjects/{sobject}/describe"), shape=DESCRIBE
        )

    def limits(self) -> dict:
        """The org's ``/limits``: each limit's ``Max`` and ``Remaining``, one counted call."""
        return self._call("limits", lambda sf: sf.limits(), shape=dict)

    def _restful(self, sf: Salesforce, path: str, **kwargs: Any) -> Any:
        """``sf.restful``, but the body as it came, for the shape check: restful() answers None for
        an empty one and fails on one without a length (a JSON number, ``true``, ``null``)."""
        try:
            body = sf.restful(path, **kwargs)
        except TypeError:
            body = None
        if body is None and self._last is not None and self._last.status_code != 204:
            return self._last.json()
        return body

    def describe_once(self, sobject: str) -> dict:
        """``describe`` at most once per object in a run: Bulk CSV is typed from it on each page."""
        if sobject not in self._describes:
            self._describes[sobject] = self.describe(sobject)
        return self._describes[sobject]

    def bulk_query_pages(
        self, soql: str, *, include_deleted: bool = True, max_records: int = 50_000
    ) -> Iterator[list[dict]]:
        """A list of REST-shaped records per results page of a Bulk API 2.0 query job (``bulk``)."""
        return bulk.query_pages(
            self, soql, include_deleted=include_deleted, max_records=max_records
        )

    def count(self, sobject: str, where: str | None = None, *, include_deleted: bool = True) -> int:
        """``SELECT COUNT() FROM sobject WHERE where`` in one call: backfill weighs Bulk vs REST."""
        _check_sobject(sobject)
        soql = f"SELECT COUNT() FROM {sobject}" + (f" WHERE {where}" if where else "")
        return self._call(
            "query",
            lambda sf: sf.query(soql, include_deleted=include_deleted),
            shape={"totalSize": int},
        )["totalSize"]


def _check_sobject(sobject: str) -> None:
    if not _SOBJECT_NAME.match(sobject):
        raise ConfigError(f"'{sobject}' is not a Salesforce object API name")
