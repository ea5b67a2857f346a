"""The REST data endpoints: routing table and one handler per endpoint.

Handlers take the request and the route's path parameters and return ``(status, json_body)``
(body None for 204, a ``Raw`` body for what is not JSON, like Bulk CSV), or raise ``ApiError``.
Counting, faults, auth and the API budget happen before a handler runs (see ``emulator.py``), so
handlers only do what the endpoint does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sync.emulator.apierror import ApiError, RecordFailure, not_found
from sync.emulator.cursors import NESTED_PAGE, Cursors, page_body
from sync.emulator.faults import FaultPlan
from sync.emulator.query import QueryEngine
from sync.emulator.records import Records
from sync.emulator.schema import ObjectDef
from sync.emulator.values import format_datetime
from sync.extract.soql import parse_sf_datetime

if TYPE_CHECKING:
    from sync.emulator.bulk import BulkJobs

MAX_COLLECTION = 200
LIMITS_TEMPLATE = {
    "ConcurrentAsyncGetReportInstances": 200,
    "ConcurrentSyncReportRuns": 20,
    "DailyApiRequests": 15000,
    "DailyAsyncApexExecutions": 250000,
    "DailyBulkApiRequests": 5000,
    "DailyDurableGenericStreamingApiEvents": 10000,
    "DailyDurableStreamingApiEvents": 10000,
    "DailyGenericStreamingApiEvents": 10000,
    "DailyStreamingApiEvents": 10000,
    "DailyWorkflowEmails": 390,
    "DataStorageMB": 5,
    "DurableStreamingApiConcurrentClients": 20,
    "FileStorageMB": 20,
    "HourlyAsyncReportRuns": 1200,
    "HourlyDashboardRefreshes": 200,
    "HourlyDashboardResults": 5000,
    "HourlyDashboardStatuses": 999999999,
    "HourlyODataCallout": 10000,
    "HourlySyncReportRuns": 500,
    "HourlyTimeBasedWorkflow": 50,
    "MassEmail": 10,
    "SingleEmail": 15,
    "StreamingApiConcurrentClients": 20,
}
_V = r"/services/data/v(?P<version>\d+\.\d)"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any  # email.message.Message: case-insensitive .get()
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None


@dataclass
class Raw:
    """A body that is not JSON: its bytes, content type and the headers that go with it."""

    body: bytes
    content_type: str
    headers: dict[str, str]


@dataclass
class Route:
    endpoint: str
    handler: Callable[[Request, dict[str, str]], tuple[int, Any]] | None
    params: dict[str, str]
    needs_session: bool = True


class Rest:
    def __init__(
        self,
        *,
        records: Records,
        engine: QueryEngine,
        cursors: Cursors,
        faults: FaultPlan,
        page_size: int,
        api_version: str,
        budget: Callable[[], tuple[int, int]],
        bulk: BulkJobs,
        deliveries: Callable[[], tuple[int, int]] | None = None,
    ):
        self.records = records
        self.deliveries = deliveries  # (change events delivered today, the 24 h allocation)
        self.engine = engine
        self.cursors = cursors
        self.faults = faults
        self.page_size = page_size
        self.nested_page = (
            NESTED_PAGE  # a parent's child rows per page (the control API may lower it)
        )
        self.api_version = api_version
        self.budget = budget
        self.routes: list[tuple[re.Pattern[str], dict[str, tuple[str, Callable]], bool]] = [
            (r"/services/oauth2/token", {"POST": ("token", None)}, False),
            (r"/services/data", {"GET": ("versions", self.versions)}, False),
            (_V, {"GET": ("resources", self.resources)}, True),
            (_V + r"/limits", {"GET": ("limits", self.limits)}, True),
            (_V + r"/query", {"GET": ("query", self.query)}, True),
            (_V + r"/queryAll", {"GET": ("queryAll", self.query_all)}, True),
            (
                _V + r"/query(?:All)?/(?P<locator>01g\w+)-(?P<start>\d+)",
                {"GET": ("queryMore", self.query_more)},
                True,
            ),
            (_V + r"/sobjects", {"GET": ("describe_global", self.describe_global)}, True),
            (_V + r"/sobjects/(?P<type>\w+)/describe", {"GET": ("describe", self.describe)}, True),
            (_V + r"/sobjects/(?P<type>\w+)/updated", {"GET": ("updated", self.updated)}, True),
            (_V + r"/sobjects/(?P<type>\w+)/deleted", {"GET": ("deleted", self.deleted)}, True),
            (_V + r"/sobjects/(?P<type>\w+)", {"POST": ("sobject_post", self.create)}, True),
            (
                _V + r"/sobjects/(?P<type>\w+)/(?P<id>[^/]+)",
                {
                    "GET": ("sobject_get", self.get),
                    "PATCH": ("sobject_patch", self.patch),
                    "DELETE": ("sobject_delete", self.delete),
                },
                True,
            ),
            (_V + r"/composite/sobjects", {"PATCH": ("composite", self.composite)}, True),
            *bulk.routes(_V),
        ]
        self.routes = [
            (re.compile(pattern + r"\Z"), methods, auth) for pattern, methods, auth in self.routes
        ]

    # -------------------------------------------------------------------------- routing

    def resolve(self, method: str, path: str) -> Route:
        """The route for a request, or a 404/405 route whose handler raises."""
        path = path.rstrip("/") or "/"
        for pattern, methods, auth in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            params = match.groupdict()
            if "version" in params and not self.supported(params["version"]):
                return Route("unknown", _raise(not_found()), params, auth)
            if method not in methods:
                allowed = ",".join(sorted(methods))
                message = f"HTTP Method '{method}' not allowed. Allowed are {allowed}"
                error = ApiError(405, "METHOD_NOT_ALLOWED", message)
                return Route("unknown", _raise(error), params, auth)
            endpoint, handler = methods[method]
            return Route(endpoint, handler, params, auth)
        return Route("unknown", _raise(not_found()), {}, True)

    def supported(self, version: str) -> bool:
        return 20.0 <= float(version) <= float(self.api_version)

    # --------------------------------------------------------------------- metadata

    def versions(self, req: Request, params: dict) -> tuple[int, Any]:
        out = []
        for major in range(20, int(float(self.api_version)) + 1):
            season = ("Spring", "Summer", "Winter")[major % 3]
            year = {
                "Spring": (major - 60) // 3 + 24,
                "Summer": (major - 61) // 3 + 24,
                "Winter": (major - 62) // 3 + 25,
            }[season]
            out.append(
                {
                    "label": f"{season} '{year:02d}",
                    "url": f"/services/data/v{major}.0",
                    "version": f"{major}.0",
                }
            )
        return 200, out

    def resources(self, req: Request, params: dict) -> tuple[int, Any]:
        base = f"/services/data/v{params['version']}"
        return 200, {
            name: f"{base}/{name}"
            for name in ("sobjects", "query", "queryAll", "limits", "composite")
        }

    def limits(self, req: Request, params: dict) -> tuple[int, Any]:
        used, maximum = self.budget()
        body = {name: {"Max": value, "Remaining": value} for name, value in LIMITS_TEMPLATE.items()}
        body["DailyApiRequests"] = {"Max": maximum, "Remaining": max(0, maximum - used)}
        if self.deliveries is not None:
            delivered, allocation = self.deliveries()
            body["DailyDeliveredPlatformEvents"] = {
                "Max": allocation,
                "Remaining": max(0, allocation - delivered),
            }
        return 200, body

    def describe_global(self, req: Request, params: dict) -> tuple[int, Any]:
        objects = []
        for obj in self.records.schema.objects.values():
            info = obj.describe(params["version"])
            objects.append(
                {k: v for k, v in info.items() if k not in ("fields", "childRelationships")}
            )
        return 200, {"encoding": "UTF-8", "maxBatchSize": MAX_COLLECTION, "sobjects": objects}

    def describe(self, req: Request, params: dict) -> tuple[int, Any]:
        return 200, self._object(params["type"]).describe(params["version"])

    def _object(self, name: str) -> ObjectDef:
        obj = self.records.schema.object(name)
        if obj is None:
            raise not_found()
        return obj

    # ------------------------------------------------------------------------ queries

    def query(self, req: Request, params: dict, include_deleted: bool = False) -> tuple[int, Any]:
        result = self.engine.execute(req.param("q"), include_deleted)
        if result.count_only:
            return 200, {"totalSize": result.total, "done": True, "records": []}
        cursor = self.cursors.open(result, include_deleted, params["version"])
        body, _ = page_body(
            cursor, 0, self._page_size(req), params["version"], self.cursors, self.nested_page
        )
        return 200, body

    def query_all(self, req: Request, params: dict) -> tuple[int, Any]:
        return self.query(req, params, include_deleted=True)

    def query_more(self, req: Request, params: dict) -> tuple[int, Any]:
        cursor = self.cursors.get(params["locator"])
        body, _ = page_body(
            cursor,
            int(params["start"]),
            self._page_size(req),
            params["version"],
            self.cursors,
            self.nested_page,
        )
        return 200, body

    def _page_size(self, req: Request) -> int:
        size = self.page_size
        match = re.search(r"batchSize\s*=\s*(\d+)", req.headers.get("Sforce-Query-Options") or "")
        if match:
            size = min(2000, max(200, int(match.group(1))))
        if self.faults.short_page_size:
            size = min(size, self.faults.short_page_size)
        return max(1, size)

    def updated(self, req: Request, params: dict) -> tuple[int, Any]:
        obj, start, end = self._window(req, params)
        rows = self._stamped(obj, start, end, deleted=False)
        return 200, {"ids": [row[0] for row in rows], "latestDateCovered": end}

    def deleted(self, req: Request, params: dict) -> tuple[int, Any]:
        obj, start, end = self._window(req, params)
        rows = self._stamped(obj, start, end, deleted=True)
        return 200, {
            "deletedRecords": [{"id": row[0], "deletedDate": row[1]} for row in rows],
            "earliestDateAvailable": rows[0][1] if rows else start,
            "latestDateCovered": end,
        }

    def _window(self, req: Request, params: dict) -> tuple[ObjectDef, str, str]:
        obj = self._object(params["type"])
        try:
            start, end = (parse_sf_datetime(req.param(name) or "") for name in ("start", "end"))
        except ValueError:
            raise ApiError(
                400, "INVALID_REPLICATION_DATE", "start and end must be ISO 8601 datetimes"
            ) from None
        start, end = (
            when.astimezone(UTC).replace(second=0, microsecond=0) for when in (start, end)
        )
        if start >= end:
            raise ApiError(
                400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate"
            )
        end = min(end, datetime.fromtimestamp((self.records.store.clock_ms() + 1) / 1000, UTC))
        return obj, format_datetime(start), format_datetime(end)

    def _stamped(self, obj: ObjectDef, start: str, end: str, deleted: bool) -> list[tuple]:
        store = self.records.store
        sql = (
            f'SELECT Id, SystemModstamp FROM "{obj.name}" '
            "WHERE SystemModstamp >= ? AND SystemModstamp < ? AND IsDeleted = ? AND _hidden = 0 "
            "ORDER BY SystemModstamp, Id"
        )
        with store.lock:
            return store.db.execute(sql, [start, end, int(deleted)]).fetchall()

    # ------------------------------------------------------------------------- writes

    def get(self, req: Request, params: dict) -> tuple[int, Any]:
        obj = self._object(params["type"])
        row = self._live_row(obj, params["id"])
        record = self.records.rest_shape(obj, row, params["version"])
        wanted = req.param("fields")
        if wanted:
            names = {name.strip().lower() for name in wanted.split(",")}
            record = {k: v for k, v in record.items() if k == "attributes" or k.lower() in names}
        return 200, record

    def _live_row(self, obj: ObjectDef, raw_id: str) -> dict:
        try:
            _, row = self.records.locate(obj, raw_id)
        except RecordFailure as failure:
            if failure.code == "MALFORMED_ID":
                raise failure.as_api_error(400) from None
            raise not_found() from None
        if row["IsDeleted"] or row["_hidden"]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return row

    def patch(self, req: Request, params: dict) -> tuple[int, Any]:
        obj = self._object(params["type"])
        fields = req.json()
        if not isinstance(fields, dict):
            raise ApiError(
                400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object"
            )
        row = self._live_row(obj, params["id"])
        fields = {k: v for k, v in fields.items() if k != "attributes"}
        try:
            self.faults.check_write(row["Id"])
            self.records.update(obj, row["Id"], fields)
        except RecordFailure as failure:
            raise failure.as_api_error(400) from None
        return 204, None

    def create(self, req: Request, params: dict) -> tuple[int, Any]:
        obj = self._object(params["type"])
        fields = req.json()
        if not isinstance(fields, dict):
            raise ApiError(
                400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object"
            )
        try:
            record_id = self.records.create(
                obj.name, {k: v for k, v in fields.items() if k != "attributes"}
            )
        except RecordFailure as failure:
            raise failure.as_api_error(400) from None
        return 201, {"id": record_id, "success": True, "errors": []}

    def delete(self, req: Request, params: dict) -> tuple[int, Any]:
        obj = self._object(params["type"])
        row = self._live_row(obj, params["id"])
        self.records.set_deleted(obj, row["Id"], True)
        return 204, None

    def composite(self, req: Request, params: dict) -> tuple[int, Any]:
        body = req.json()
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise ApiError(
                400, "JSON_PARSER_ERROR", "Expected a JSON object with a 'records' array"
            )
        if len(records) > MAX_COLLECTION:
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. "
                f"cannot submit more than {MAX_COLLECTION} records into this call",
            )
        all_or_none = bool(body.get("allOrNone", False))
        store = self.records.store
        results: list[dict] = []
        try:
            with self.records.capture.savepoint(), store.transaction():
                stamp = store.next_stamp()  # one transaction, one SystemModstamp
                results = [self._save_one(item, stamp) for item in records]
                if all_or_none and not all(r["success"] for r in results):
                    raise _RolledBack
        except _RolledBack:
            results = [r if not r["success"] else _rolled_back() for r in results]
        return 200, results

    def _save_one(self, item: Any, stamp: str) -> dict:
        try:
            if not isinstance(item, dict):
                raise RecordFailure("JSON_PARSER_ERROR", "Each record must be a JSON object")
            type_name = (item.get("attributes") or {}).get("type")
            if not type_name:
                raise RecordFailure("INVALID_TYPE", "Must send a concrete entity type.")
            obj = self.records.object(type_name)
            fields = {k: v for k, v in item.items() if k not in ("attributes",)}
            raw_id = next((fields.pop(k) for k in list(fields) if k.lower() == "id"), None)
            if raw_id is None:
                raise RecordFailure("MISSING_ARGUMENT", "Id not specified in an update call")
            record_id, _ = self.records.locate(obj, raw_id)
            self.faults.check_write(record_id)
            self.records.update(obj, record_id, fields, stamp=stamp)
        except RecordFailure as failure:
            return {"success": False, "errors": [failure.save_error()]}
        return {"id": record_id, "success": True, "errors": []}


class _RolledBack(Exception):
    """allOrNone: one record failed, so the transaction is undone."""


def _rolled_back() -> dict:
    return {
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": (
                    "Record rolled back because not all records were valid "
                    "and the request was using AllOrNone header"
                ),
                "fields": [],
            }
        ],
    }


def _raise(error: ApiError) -> Callable[[Request, dict], tuple[int, Any]]:
    def handler(req: Request, params: dict) -> tuple[int, Any]:
        raise error

    return handler
