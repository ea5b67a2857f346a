"""Bulk API 2.0 query jobs: create, poll, read the CSV results page by page, delete.

Why Bulk at all: a backfill of a large org over REST costs one call per 2,000 records; a Bulk query
job costs a create, a few polls, one call per results page (``max_records`` rows, 50,000 by default)
and a delete. The pages come out as REST-shaped records
(:mod:`sync.connectors.salesforce.bulk_records`), so the stages cannot tell the two paths apart, and
in lists of at most ``CHUNK_ROWS`` (:mod:`sync.connectors.salesforce.bulk_pages`: a results page
is checked whole before any of it is handed on, then read a chunk at a time).

Every call goes through the client's one guarded call path (``SalesforceClient._call``): the budget
guard runs before each create, poll, results page, abort and delete, a 401 re-authenticates once,
and errors are translated from status and ``errorCode``. The session's response hook counts them
like REST calls, under ``bulk2_create``, ``bulk2_poll``, ``bulk2_results``, ``bulk2_abort`` and
``bulk2_delete`` (:func:`sync.connectors.salesforce.usage.endpoint_of`).

simple-salesforce's ``bulk2`` module is not used: it sleeps with ``time.sleep`` for up to a day,
reads a 204 delete answer as JSON, and sends calls past our guard. The calls here are plain REST
calls through the client's ``Salesforce`` object, which already carries our session and token.

Waiting is bounded: polls back off from ``POLL_FIRST_SECONDS`` to ``POLL_MAX_SECONDS`` and stop once
the client's ``bulk_max_wait`` seconds have been spent waiting. A job that fails, is aborted or runs
out of time stops the run with ``SalesforceUnavailable`` naming the job (exit 3, the next run
tries again); the job is deleted on the way out whenever the budget allows one more call, so
results do not sit in the org for the 7 days Salesforce keeps them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from sync.common.errors import ConfigError, ProtocolViolation, SalesforceUnavailable, SyncError
from sync.connectors.salesforce.bulk_pages import page_chunks, read_page
from sync.connectors.salesforce.bulk_records import RecordShape
from sync.connectors.salesforce.errors import RESUMES, without_query_echo
from sync.extract.soql import SoqlSyntaxError, parse_query

if TYPE_CHECKING:
    from sync.config import SalesforceConfig
    from sync.connectors.answers import Shape

T = TypeVar("T")


class BulkCaller(Protocol):
    """What a Bulk 2.0 query needs of the Salesforce client (``SalesforceClient`` is one): its
    guarded call path, its sleep, its budget, its describe cache. A protocol, so this module does
    not import the client that imports it."""

    config: SalesforceConfig
    bulk_max_wait: float

    def _call(
        self,
        endpoint: str,
        send: Callable[[Salesforce], T],
        *,
        shape: Shape,
        idempotent: bool = True,
    ) -> T: ...

    def _sleep(self, seconds: float) -> None: ...

    def budget_left(self) -> bool: ...

    def describe_once(self, sobject: str) -> dict[str, Any]: ...


log = logging.getLogger(__name__)

POLL_FIRST_SECONDS = 1.0
POLL_MAX_SECONDS = 15.0
MAX_WAIT_SECONDS = 600.0  # a job still queued after 10 minutes of waiting stops the run (exit 3)
_DONE, _FAILED, _ABORTED = "JobComplete", "Failed", "Aborted"
_CSV_ACCEPT = {"Accept": "text/csv"}
JOB_INFO = {"id": str, "state": str}  # a job-info answer, as far as this module reads it


def query_pages(
    client: BulkCaller, soql: str, *, include_deleted: bool, max_records: int
) -> Iterator[list[dict]]:
    """One job for ``soql``; lists of at most ``CHUNK_ROWS`` REST-shaped records, page after page
    (see the module); a page with no records gives one empty list."""
    if max_records < 1:
        raise ValueError(f"max_records must be 1 or more, got {max_records}")
    sobject, fields = _bulk_query(soql)
    shape = RecordShape(sobject, client.describe_once, client.config.api_version)
    shape.resolve(
        fields
    )  # describe before the job: a describe refused stops the run before any job
    job = _create(client, soql, include_deleted)
    wait = _Wait(client, job)
    try:
        wait.until_complete()
        locator: str | None = None
        while True:
            response = client._call(
                "bulk2_results",
                partial(_results, job=job, max_records=max_records, locator=locator),
                shape=object,
            )  # a CSV response, read and checked by _page
            if response is None:  # 412: the results are not ready after all; wait again
                wait.until_complete()
                continue
            header, content, locator = read_page(job, response)
            del response  # only the page's bytes are kept, read again a chunk at a time
            yield from page_chunks(shape, header, content)
            if locator is None:
                return
    finally:
        _discard(client, job, running=not wait.ended)


def _bulk_query(soql: str) -> tuple[str, tuple[str, ...]]:
    """The object and fields of ``soql``; refused before any call when a Bulk query cannot run it"""
    try:
        query = parse_query(soql)
    except SoqlSyntaxError as exc:
        # The parser's message may quote a value of the query: only the position is kept.
        raise ConfigError(
            f"a Bulk API query must be a plain SELECT without COUNT(), GROUP BY, OFFSET, "
            f"TYPEOF, FIELDS() or subqueries; ours is not (at character {exc.position + 1})"
        ) from None
    if query.count or query.offset is not None:
        raise ConfigError(
            "a Bulk API query cannot use COUNT() or OFFSET; use the REST query for it"
        )
    if (
        query.children
    ):  # Bulk API 2.0 has no parent-to-child subqueries (a semi-join in WHERE is fine)
        raise ConfigError(
            "a Bulk API query cannot hold a subquery of child records; read them in a job of "
            "their own"
        )
    return query.sobject, query.fields


def _create(client: BulkCaller, soql: str, include_deleted: bool) -> str:
    body = {
        "operation": "queryAll" if include_deleted else "query",
        "query": soql,
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
    }
    info = client._call(
        "bulk2_create",
        lambda sf: sf.restful("jobs/query", method="POST", json=body),
        shape=JOB_INFO,
        idempotent=False,
    )
    job = info.get("id") if isinstance(info, dict) else None
    if not job:
        raise ProtocolViolation(
            "Salesforce answered the Bulk query job create without a job id; nothing was "
            "read and the next run tries again"
        )
    log.debug("salesforce: Bulk query job %s created (%s)", job, body["operation"])
    return str(job)


class _Wait:
    """Polls one job with a growing pause, at most the client's ``bulk_max_wait`` seconds in all."""

    def __init__(self, client: BulkCaller, job: str):
        self.client = client
        self.job = job
        self.delay = POLL_FIRST_SECONDS
        self.waited = 0.0
        self.ended = False  # a poll saw the job end (complete, failed, aborted): no abort needed

    def until_complete(self) -> None:
        """Returns once the job is JobComplete; raises if it failed, was aborted or is too slow."""
        job, limit = self.job, self.client.bulk_max_wait
        while True:
            if self.waited + self.delay > limit:
                raise SalesforceUnavailable(
                    f"Bulk query job {job} did not complete within {limit:g} s; {RESUMES}"
                )
            self.client._sleep(self.delay)
            self.waited += self.delay
            self.delay = min(self.delay * 2, POLL_MAX_SECONDS)
            info = self.client._call(
                "bulk2_poll", lambda sf: sf.restful(f"jobs/query/{job}"), shape=JOB_INFO
            )
            body = info if isinstance(info, dict) else {}  # a dict: checked against JOB_INFO
            state = body.get("state")
            self.ended = state in (_DONE, _FAILED, _ABORTED)
            if state == _DONE:
                return
            if state == _FAILED:
                reason = (
                    without_query_echo(str(body.get("errorMessage") or "")) or "no errorMessage"
                )
                raise SalesforceUnavailable(f"Bulk query job {job} failed ({reason}); {RESUMES}")
            if state == _ABORTED:
                raise SalesforceUnavailable(
                    f"Bulk query job {job} was aborted (by someone in the org?); {RESUMES}"
                )


def _results(sf: Salesforce, job: str, max_records: int, locator: str | None) -> Any:
    """One results page as the raw response; None when Salesforce says the job is not done (412)."""
    params: dict[str, Any] = {"maxRecords": max_records}
    if locator is not None:
        params["locator"] = locator
    try:
        # Salesforce.restful would read the CSV as JSON; _call_salesforce is what it sends with.
        return sf._call_salesforce(
            "GET",
            f"{sf.base_url}jobs/query/{job}/results",
            name="bulk2_results",
            params=params,
            headers=_CSV_ACCEPT,
        )
    except SalesforceError as exc:
        if exc.status == 412:
            return None
        raise


def _discard(client: BulkCaller, job: str, *, running: bool) -> None:
    """Abort the job if it may still run, then delete it; its own failure never stops the run."""
    try:
        if running and client.budget_left():
            client._call(
                "bulk2_abort",
                lambda sf: sf.restful(
                    f"jobs/query/{job}", method="PATCH", json={"state": _ABORTED}
                ),
                shape=object,
            )
        if client.budget_left():
            client._call(
                "bulk2_delete",
                lambda sf: sf.restful(f"jobs/query/{job}", method="DELETE"),
                shape=object,
            )  # 204, no body
            return
        log.warning(
            "salesforce: Bulk query job %s left in the org (no API budget to delete it); "
            "Salesforce removes it after 7 days",
            job,
        )
    except SyncError as exc:
        log.warning(
            "salesforce: could not delete Bulk query job %s (%s); "
            "Salesforce removes it after 7 days",
            job,
            type(exc).__name__,
        )
