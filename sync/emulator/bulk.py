"""Bulk API 2.0 query jobs: create, poll, results as CSV sets, abort, delete (API 47.0 and later).

A job runs its SOQL through the emulator's own query engine when it is created: that run is the
snapshot its results are cut from (``query`` leaves deleted rows out, ``queryAll`` keeps them),
and SOQL mistakes answer at once with the REST query's error code. The job then moves
UploadComplete → InProgress → JobComplete only as it is polled: ``polls`` polls see it unfinished
(default 1, so a client's polling loop runs without anyone sleeping). A ``bulk_failure`` fault ends
the next job in ``Failed`` with an ``errorMessage`` instead.

Results come in sets of ``maxRecords`` rows (``max_records``, 50,000, when the client sends none),
with ``Sforce-NumberOfRecords`` and ``Sforce-Locator``: the next set's locator, or the literal
string ``null`` after the last. A locator can be fetched again, with any ``maxRecords``, as long as
its job exists. Jobs live in memory for the emulator's lifetime, until deleted.
"""

from __future__ import annotations

import base64
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from sync.emulator.apierror import ApiError
from sync.emulator.bulkcsv import DELIMITERS, LINE_ENDINGS, render_csv
from sync.emulator.faults import FaultPlan
from sync.emulator.query import QueryEngine, Result
from sync.emulator.records import Records
from sync.emulator.rest import Raw, Request
from sync.emulator.values import format_ms

MIN_VERSION = 47.0
DEFAULT_MAX_RECORDS = 50_000
_RUNNING = ("UploadComplete", "InProgress")
_STATUS_NAMES = {
    "UploadComplete": "UPLOAD_COMPLETE",
    "InProgress": "IN_PROGRESS",
    "Failed": "FAILED",
    "Aborted": "ABORTED",
}
_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'", re.DOTALL)
# What a query job refuses. unverified: the errorCode (INVALIDJOB) and these messages, except the
# parent-to-child one, which is the message orgs are reported to send.
_REFUSED = (
    (re.compile(r"\bGROUP\s+BY\b", re.I), "GROUP BY"),
    (re.compile(r"\bOFFSET\b", re.I), "OFFSET"),
    (re.compile(r"\bTYPEOF\b", re.I), "TYPEOF"),
    (
        re.compile(r"\b(?:COUNT|COUNT_DISTINCT|SUM|AVG|MIN|MAX)\s*\(", re.I),
        "Aggregate functions such as COUNT()",
    ),
    (re.compile(r"\bFIELDS\s*\(", re.I), "Compound data such as FIELDS()"),
)
_CHILD_QUERY = "Aggregate Relationships not supported in Bulk V2 Query with CSV content type."


class BulkError(ApiError):
    """A Bulk API 2.0 error: the REST envelope with ``errorCode`` first, as Bulk writes it."""

    def body(self) -> list[dict]:
        return [{"errorCode": self.code, "message": self.message}]


@dataclass
class Job:
    id: str
    created_by: str
    operation: str
    sobject: str
    version: str
    delimiter: str
    line_ending: str
    created_ms: int
    result: Result
    polls_left: int
    failure: str | None
    state: str = "UploadComplete"
    modstamp_ms: int = 0
    locators: dict[str, int] = field(default_factory=dict)  # locator → first row of its set

    def info(self, detail: bool = False) -> dict[str, Any]:
        """Job info as create, abort (``detail`` False) and poll (``detail`` True) answer it.

        The create/abort keys are those of the documented examples. Poll adds ``jobType``, the
        counts of a completed job and ``isPkChunkingSupported`` as a published example of a
        completed job shows them; unverified: which of those a job still running carries (here:
        none of the counts).
        """
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": self.created_by,
            "createdDate": format_ms(self.created_ms),
            "systemModstamp": format_ms(self.modstamp_ms),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
        }
        if detail:
            body["jobType"] = "V2Query"
            if self.state == "JobComplete":
                body.update(
                    numberRecordsProcessed=self.result.total,
                    retries=0,
                    totalProcessingTime=self.modstamp_ms - self.created_ms,
                )
            if self.state == "Failed":
                body["errorMessage"] = self.failure
            body["isPkChunkingSupported"] = True
        return body


class BulkJobs:
    def __init__(self, records: Records, engine: QueryEngine, faults: FaultPlan):
        self.records = records
        self.engine = engine
        self.faults = faults
        self.polls = 1  # polls that see a new job unfinished
        self.max_records = DEFAULT_MAX_RECORDS  # rows in a set when the client sends no maxRecords
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def routes(self, prefix: str) -> list[tuple[str, dict, bool]]:
        job = prefix + r"/jobs/query/(?P<job>\w+)"
        return [
            (prefix + r"/jobs/query", {"POST": ("bulk2_create", self.create)}, True),
            (
                job,
                {
                    "GET": ("bulk2_poll", self.poll),
                    "PATCH": ("bulk2_abort", self.abort),
                    "DELETE": ("bulk2_delete", self.delete),
                },
                True,
            ),
            (job + r"/results", {"GET": ("bulk2_results", self.results)}, True),
        ]

    # ------------------------------------------------------------------------ handlers

    def create(self, req: Request, params: dict) -> tuple[int, Any]:
        _check_version(params)
        body = req.json()
        if not isinstance(body, dict):
            raise BulkError(
                400, "JSON_PARSER_ERROR", "Cannot deserialize the job from a non-object"
            )
        operation, text = body.get("operation"), body.get("query")
        if operation not in ("query", "queryAll"):
            raise BulkError(
                400, "INVALIDJOB", f"InvalidJob : Invalid operation for a query job: {operation}"
            )
        if not isinstance(text, str) or not text.strip():
            raise BulkError(400, "INVALIDJOB", "InvalidJob : Query is required for a query job")
        delimiter = body.get("columnDelimiter") or "COMMA"
        line_ending = body.get("lineEnding") or "LF"
        if (
            (body.get("contentType") or "CSV") != "CSV"
            or delimiter not in DELIMITERS
            or line_ending not in LINE_ENDINGS
        ):
            raise BulkError(
                400,
                "INVALIDJOB",
                "InvalidJob : contentType must be CSV, columnDelimiter one of "
                f"{', '.join(DELIMITERS)}, lineEnding LF or CRLF",
            )
        _refuse_unsupported(text)
        try:
            result = self.engine.execute(text, operation == "queryAll")
        except (
            ApiError
        ) as error:  # unverified: that a job answers SOQL mistakes with the REST codes
            raise BulkError(error.status, error.code, error.message) from None
        store = self.records.store
        with store.lock:
            job_id = self.records.id_factory.new("750")
        now = store.clock_ms()
        job = Job(
            job_id,
            self.records.user_id,
            operation,
            result.plan.sobject,
            params["version"],
            delimiter,
            line_ending,
            now,
            result,
            self.polls,
            self.faults.take_bulk_failure(),
            modstamp_ms=now,
        )
        with self._lock:
            self._jobs[job_id] = job
        return 200, job.info()

    def poll(self, req: Request, params: dict) -> tuple[int, Any]:
        with self._lock:
            job = self._job(params)
            if job.state in _RUNNING:
                if job.polls_left > 0:
                    job.polls_left -= 1
                    self._move(job, "InProgress")
                else:
                    self._move(job, "Failed" if job.failure else "JobComplete")
            return 200, job.info(detail=True)

    def results(self, req: Request, params: dict) -> tuple[int, Any]:
        with self._lock:
            job = self._job(params)
            if params["version"] != job.version:  # unverified: the 409 body
                raise BulkError(
                    409,
                    "API_ERROR",
                    f"This job was created with API version {job.version}; "
                    f"get its results with that version, not {params['version']}",
                )
            if job.state != "JobComplete":
                raise BulkError(
                    412,
                    "JOB_NOT_COMPLETE",
                    "can only download query results of successfully "
                    "completed bulk job with status: JOB_COMPLETE. Current status: "
                    + _STATUS_NAMES[job.state],
                )
            start = self._start(job, req.param("locator"))
            size = _max_records(req.param("maxRecords"), self.max_records)
            rows = job.result.rows[start : start + size]
            end = start + len(rows)
            locator = "null"
            if end < job.result.total:
                locator = (
                    base64.b64encode(str(end).encode()).decode().rstrip("=")
                )  # "MTAwMDA" for 10000
                job.locators[locator] = end
        text = render_csv(job.result.plan, rows, job.delimiter, job.line_ending)
        return 200, Raw(
            text.encode(),
            "text/csv",
            {"Sforce-NumberOfRecords": str(len(rows)), "Sforce-Locator": locator},
        )

    def abort(self, req: Request, params: dict) -> tuple[int, Any]:
        body = req.json()
        if (
            not isinstance(body, dict) or body.get("state") != "Aborted"
        ):  # unverified: this error's code
            raise BulkError(
                400, "INVALIDJOBSTATE", "InvalidJobState : a query job can only be set to Aborted"
            )
        with self._lock:
            job = self._job(params)
            if job.state not in _RUNNING:  # unverified: this error's code and message
                raise BulkError(
                    400,
                    "INVALIDJOBSTATE",
                    f"InvalidJobState : Cannot abort a job in state {job.state}",
                )
            self._move(job, "Aborted")
            return 200, job.info()

    def delete(self, req: Request, params: dict) -> tuple[int, Any]:
        with self._lock:
            job = self._job(params)
            if job.state in _RUNNING:
                raise BulkError(
                    400,
                    "API_ERROR",
                    "Error encountered when deleting the job because the job is not terminated",
                )
            del self._jobs[job.id]
        return 204, None

    # ------------------------------------------------------------------------- helpers

    def _job(self, params: dict) -> Job:
        """The job a route names (its 15- or 18-character Id); the caller holds ``_lock``."""
        _check_version(params)
        raw_id = params["job"]
        job = self._jobs.get(raw_id) or next(
            (j for j in self._jobs.values() if j.id[:15] == raw_id), None
        )
        if job is None:
            raise BulkError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def _move(self, job: Job, state: str) -> None:
        job.state = state
        job.modstamp_ms = self.records.store.clock_ms()

    @staticmethod
    def _start(job: Job, locator: str | None) -> int:
        if not locator:
            return 0
        if locator not in job.locators:  # unverified: the code an org answers for a made-up locator
            raise BulkError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
        return job.locators[locator]


def _check_version(params: dict) -> None:
    if float(params["version"]) < MIN_VERSION:
        raise BulkError(404, "NOT_FOUND", "The requested resource does not exist")


def _max_records(raw: str | None, default: int) -> int:
    if raw is None:
        return default
    if (
        not raw.isdigit() or int(raw) < 1
    ):  # unverified: the code an org answers for a bad maxRecords
        raise BulkError(
            400, "INVALIDMAXRECORDS", f"maxRecords must be a positive integer, not {raw}"
        )
    return int(raw)


def _refuse_unsupported(text: str) -> None:
    """Refuse what Bulk API 2.0 cannot run, before the SOQL itself is checked."""
    bare = _LITERAL.sub("''", text)  # a keyword inside a quoted value is no keyword
    for pattern, message in _REFUSED:
        if pattern.search(bare):
            raise BulkError(
                400, "INVALIDJOB", f"{message} is not supported in Bulk API 2.0 query jobs"
            )
    if re.search(r"\(\s*SELECT\b", _select_list(bare), re.I):
        raise BulkError(400, "INVALIDJOB", _CHILD_QUERY)


def _select_list(text: str) -> str:
    """The text before the top-level FROM (a semi-join in WHERE is not a child query)."""
    depth = 0
    for match in re.finditer(r"[()]|\bFROM\b", text, re.I):
        token = match.group()
        if token in "()":
            depth += 1 if token == "(" else -1
        elif depth == 0:
            return text[: match.start()]
    return text
