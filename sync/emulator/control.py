"""The control API: what a test, the demo or a person does to the org besides calling its REST API.

The same methods are reachable over HTTP as ``POST /__emulator/<method>`` with a JSON object
of keyword arguments and ``Authorization: Bearer <admin_token>`` (``GET`` for the read-only
ones). Control calls are not counted, not logged and never touch the API budget.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from sync.emulator import demo, ids
from sync.emulator.apierror import RecordFailure
from sync.emulator.pubsub.control import PUBSUB_HTTP_METHODS
from sync.emulator.rest import Request
from sync.emulator.server import Response, json_response
from sync.extract.soql import parse_sf_datetime

_HTTP_METHODS = {
    "seed",
    "seed_demo",
    "create",
    "update",
    "clone",
    "delete",
    "undelete",
    "release",
    "get",
    "query",
    "ids",
    "register_field",
    "register_object",
    "expire_sessions",
    "set_budget",
    "reset_calls",
    "calls_snapshot",
    "log_snapshot",
    "fault",
    "set_bulk",
    "add_product",
    "add_line_item",
    "set_nested_page",
} | PUBSUB_HTTP_METHODS
_FAULTS = {
    "fail_next",
    "reset_next",
    "slow",
    "fail_rate",
    "validation_failure",
    "lock_rows",
    "short_pages",
    "bulk_failure",
    "clear",
}


class ControlMixin:
    """Mixed into ``Emulator``; relies on its ``records``, ``store``, ``schema``, ``engine`` …"""

    # ------------------------------------------------------------------------- records

    def create(
        self, obj: str, _stamp: datetime | str | None = None, _hidden: bool = False, **fields: Any
    ) -> str:
        """Create a record as a user would; ``_hidden`` keeps it invisible until ``release``
        (a transaction that commits late), ``_stamp`` sets its SystemModstamp explicitly."""
        return self.records.create(obj, fields, stamp=_as_datetime(_stamp), hidden=_hidden)

    def update(
        self, obj: str, record_id: str, _stamp: datetime | str | None = None, **fields: Any
    ) -> None:
        """Edit a record as a user would: stamps move (or take ``_stamp``: a late commit)."""
        definition = self.records.object(obj)
        self.records.update(definition, record_id, fields, stamp=_as_datetime(_stamp))

    def clone(self, obj: str, record_id: str) -> str:
        """The UI's Clone: a new record with every createable field, custom fields included."""
        return self.records.clone(obj, record_id)

    def delete(self, record_id: str) -> None:
        self.records.set_deleted(self._object_of(record_id), record_id, True)

    def undelete(self, record_id: str) -> None:
        self.records.set_deleted(self._object_of(record_id), record_id, False)

    def add_product(
        self,
        name: str,
        code: str | None = None,
        family: str | None = "Services",
        list_price: float = 100.0,
    ) -> str:
        """A product in the standard price book, as an admin sets one up.

        Returns its PricebookEntry Id.
        """
        standard = self.records.store.db.execute(
            'SELECT Id FROM "Pricebook2" WHERE IsStandard = 1 LIMIT 1'
        ).fetchone()
        if standard is None:
            book = self.records.create(
                "Pricebook2", {"Name": "Standard Price Book", "IsActive": True}
            )
            self.records.store.update(self.records.object("Pricebook2"), book, {"IsStandard": 1})
        else:
            (book,) = standard
        product = self.records.create(
            "Product2", {"Name": name, "ProductCode": code, "Family": family, "IsActive": True}
        )
        return self.records.create(
            "PricebookEntry",
            {
                "Pricebook2Id": book,
                "Product2Id": product,
                "UnitPrice": list_price,
                "IsActive": True,
            },
        )

    def add_line_item(
        self,
        opportunity_id: str,
        entry_id: str,
        quantity: float,
        unit_price: float | None = None,
        _stamp: datetime | str | None = None,
        **fields: Any,
    ) -> str:
        """A line item on a deal as a salesperson adds one (its Opportunity is re-saved)."""
        values = {
            "OpportunityId": opportunity_id,
            "PricebookEntryId": entry_id,
            "Quantity": quantity,
            **fields,
        }
        if unit_price is not None or "TotalPrice" not in fields:
            values["UnitPrice"] = (
                unit_price
                if unit_price is not None
                else self.records.store.row(self.records.object("PricebookEntry"), entry_id)[
                    "UnitPrice"
                ]
            )
        return self.records.create("OpportunityLineItem", values, stamp=_as_datetime(_stamp))

    def set_nested_page(self, size: int) -> None:
        """How many of one parent's child rows a query page carries.

        Past it, the nested result ends with a ``nextRecordsUrl``.
        """
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be an integer >= 1, not {size!r}")
        self.rest.nested_page = size

    def release(self, record_ids: list[str] | None = None, obj: str = "Opportunity") -> int:
        """Commit held (``_hidden``) records.

        They become visible with the stamps they were written with.
        """
        normal = None if record_ids is None else [ids.normalize(r) or r for r in record_ids]
        return self.records.release(self.records.object(obj), normal)

    def get(self, obj: str, record_id: str) -> dict[str, Any]:
        """A record in REST shape (deleted ones too; check ``IsDeleted``)."""
        definition = self.records.object(obj)
        _, row = self.records.locate(definition, record_id)
        return self.records.rest_shape(definition, row, self.api_version)

    def query(self, soql: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Run SOQL directly (not over HTTP: not counted); every row as REST returns it."""
        result = self.engine.execute(soql, include_deleted)
        if result.count_only:
            return [{"count": result.total}]
        return [result.plan.build(row, self.api_version) for row in result.rows]

    def ids(self, obj: str = "Opportunity", where: str | None = None) -> list[str]:
        soql = f"SELECT Id FROM {self.records.object(obj).name}" + (
            f" WHERE {where}" if where else ""
        )
        return [row["Id"] for row in self.query(soql + " ORDER BY Id")]

    def _object_of(self, record_id: str):
        normal = ids.normalize(record_id)
        obj = self.schema.by_prefix(normal[:3]) if normal else None
        if obj is None:
            raise RecordFailure("MALFORMED_ID", f"not an Id of any object here: {record_id}")
        return obj

    # ----------------------------------------------------------------------- metadata

    def register_field(self, obj: str, name: str, type: str, **attrs: Any) -> None:
        """Add a field (``type`` as describe names it: string, picklist, double, date, …)."""
        definition = self.schema.add_field(obj, name, type, **attrs)
        self.store.add_column(self.schema.object(obj), definition)

    def register_object(self, name: str, label: str | None = None) -> None:
        """Add a custom object (``Project_Request__c``) with the standard fields and a Name."""
        self.store.ensure_table(self.schema.add_object(name, label))

    # ---------------------------------------------------------------------- seeding

    def seed(self, n: int, won_ratio: float = 0.3, seed: int | None = None) -> int:
        """Bulk-insert ``n`` realistic deals (and their accounts); returns how many were made."""
        return demo.seed_deals(self, n, won_ratio=won_ratio, seed=seed)

    def seed_line_items(
        self, per_deal: int, where: str = "IsWon = 1", seed: int | None = None
    ) -> int:
        """Bulk-insert ``per_deal`` line items on every deal matching ``where``.

        ``where`` is SQL over the stored columns.
        """
        return demo.seed_line_items(self, per_deal, where=where, seed=seed)

    def seed_demo(self) -> dict[str, list[str]]:
        """The demo book: a few accounts, deals in every stage, several Closed Won."""
        return demo.seed_demo(self)

    # -------------------------------------------------------------- sessions/budget/calls

    def issue_token(self) -> str:
        """A valid bearer token without a token call (not counted)."""
        return self.sessions.issue()

    def expire_sessions(self) -> None:
        """Every session ends now: the next data call answers 401 INVALID_SESSION_ID, open event
        streams end UNAUTHENTICATED."""
        self.sessions.expire_all()
        self.pubsub.bus.wake()

    def set_budget(self, used: int | None = None, max: int | None = None) -> None:  # noqa: A002
        """Set the org's daily API usage and/or limit.

        ``used >= max`` → 403 REQUEST_LIMIT_EXCEEDED.
        """
        with self._lock:
            if used is not None:
                self.api_used = used
            if max is not None:
                self.daily_limit = max

    def set_bulk(self, polls: int | None = None, max_records: int | None = None) -> None:
        """Bulk query jobs: how many polls see a new job unfinished (default 1), and the rows in a
        result set when the client sends no ``maxRecords`` (default 50,000)."""
        if polls is not None:
            if not isinstance(polls, int) or polls < 0:
                raise ValueError(f"polls must be an integer >= 0, not {polls!r}")
            self.bulk.polls = polls
        if max_records is not None:
            if not isinstance(max_records, int) or max_records < 1:
                raise ValueError(f"max_records must be an integer >= 1, not {max_records!r}")
            self.bulk.max_records = max_records

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()
            self.call_log.clear()

    def calls_snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.calls)

    def log_snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.call_log)

    def fault(self, kind: str, **kwargs: Any) -> None:
        """HTTP-friendly access to ``self.faults.<kind>(**kwargs)``."""
        if kind not in _FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(_FAULTS)}")
        getattr(self.faults, kind)(**kwargs)

    # -------------------------------------------------------------------------- HTTP

    def control_http(self, req: Request) -> Response:
        auth = req.headers.get("Authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not hmac.compare_digest(token, self.admin_token):
            return json_response(401, {"error": "admin token missing or wrong"})
        name = req.path.removeprefix("/__emulator/").strip("/")
        if name not in _HTTP_METHODS:
            return json_response(
                404, {"error": f"no control method {name!r}", "methods": sorted(_HTTP_METHODS)}
            )
        kwargs = req.json() if req.body else {}
        if not isinstance(kwargs, dict):
            return json_response(400, {"error": "send a JSON object of keyword arguments"})
        try:
            result = getattr(self, name)(**kwargs)
        except RecordFailure as failure:
            return json_response(400, {"error": failure.code, "message": failure.message})
        except (TypeError, ValueError) as exc:
            return json_response(400, {"error": type(exc).__name__, "message": str(exc)})
        return json_response(200, {"result": result})


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return parse_sf_datetime(value)
