"""One Tryton database as the connector sees it: which of our fields it has; records ↔ our types.

Our project fields are Tryton's own (no custom fields): ``name``; ``description`` → ``comment``;
``customer`` → ``party`` (a ``party.party`` found by name, or created with ``create_parties``);
``budget`` → ``list_price`` (project_revenue); ``billing_type`` → ``project_invoice_method``
(project_invoice; its selection values are what ``check`` holds value maps against); ``start_date``
/ ``end_date`` → ``timesheet_start_date`` / ``timesheet_end_date``. Tryton computes the delivery
values: ``progress`` (0..1 → percent complete), ``timesheet_duration`` (→ hours),
``revenue`` and ``cost`` (project_revenue), and the ``status`` (Open / Done).

The key lives in ``salesforce_key``, which psa-sync's own Tryton module adds (unique, indexed):
without it nothing can be found, so :meth:`TrytonSite.fields` refuses to go on.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from sync.common.errors import ConfigError, PsaUnavailable
from sync.connectors.psa.base import FieldSpec, ProjectRef
from sync.connectors.psa.redmine.fields import plain_decimal
from sync.connectors.psa.tryton.rpc import TrytonError, TrytonRpc

MODEL = "project.work"
KEY = "salesforce_key"
#: psa-sync's Tryton module (``psa_sync_key``) where psa-sync is installed: the wheel ships it whole
#: (tryton.cfg, message.xml, the code), so it is installed into trytond from here, not from
#: a checkout
MODULE_DIR = Path(__file__).resolve().parent / "module"
#: our writable field -> (Tryton field, our type, the Tryton module that brings it)
WRITABLE: dict[str, tuple[str, str, str]] = {
    "name": ("name", "string", "project"),
    "description": ("comment", "string", "project"),
    "customer": ("party", "string", "project"),
    "budget": ("list_price", "decimal", "project_revenue"),
    "billing_type": ("project_invoice_method", "list", "project_invoice"),
    "start_date": ("timesheet_start_date", "date", "timesheet"),
    "end_date": ("timesheet_end_date", "date", "timesheet"),
}
#: delivery values Tryton computes: ours -> (Tryton field, our type, module)
COMPUTED: dict[str, tuple[str, str, str]] = {
    "percent_complete": ("progress", "integer", "project"),
    "spent_hours": ("timesheet_duration", "decimal", "timesheet"),
    "revenue": ("revenue", "decimal", "project_revenue"),
    "cost": ("cost", "decimal", "project_revenue"),
}
REQUIRED = {"name", "billing_type"}  # Tryton refuses a project without them


def hours(value: Any) -> Decimal | None:
    """A timedelta as plain decimal hours (27000 s -> 7.5)."""
    if not isinstance(value, dt.timedelta):
        return None
    return plain_decimal((Decimal(str(value.total_seconds())) / 3600).quantize(Decimal("0.0001")))


def percent(progress: Any) -> int | None:
    """Tryton's progress (0..1) as a whole percent (0.4 -> 40)."""
    if progress is None or isinstance(progress, bool):
        return None
    return int((Decimal(str(progress)) * 100).to_integral_value())


class TrytonSite:
    """The RPC client, the fields this database has, and the translation both halves share."""

    def __init__(self, rpc: TrytonRpc, identifier_prefix: str, create_parties: bool):
        self.rpc = rpc
        self.url = rpc.url
        self.identifier_prefix = identifier_prefix
        self.create_parties = create_parties
        self._lock = threading.Lock()
        self._fields: dict[str, dict] | None = None
        self._statuses: dict[bool, int] | None = None  # closed? -> status id
        self._parties: dict[str, int] = {}

    # --- what this database has -----------------------------------------------------------------

    def fields(self) -> dict[str, dict]:
        """``fields_get`` of project.work, read once; ``ConfigError`` if psa_sync_key is missing."""
        with self._lock:
            if self._fields is None:
                wanted = [t for t, _, _ in (*WRITABLE.values(), *COMPUTED.values())] + [
                    KEY,
                    "status",
                    "type",
                ]
                got = self.read_call("fields_get", wanted)
                if KEY not in got:
                    raise ConfigError(
                        f"Tryton at {self.url} has no field project.work.{KEY}: "
                        "install psa-sync's Tryton module psa_sync_key "
                        f'(README.md, "Tryton"): copy {MODULE_DIR}, '
                        "which psa-sync's installed package ships, "
                        "into the Tryton server's trytond/modules directory as psa_sync_key, "
                        "then trytond-admin -d DB -u psa_sync_key --activate-dependencies"
                    )
                self._fields = got
            return self._fields

    def describe(self) -> dict[str, FieldSpec]:
        got = self.fields()
        specs = {}
        for ours, (theirs, kind, _) in WRITABLE.items():
            if theirs in got:
                allowed = None
                if kind == "list":
                    allowed = tuple(str(v) for v, _ in got[theirs].get("selection") or ())
                specs[ours] = FieldSpec(ours, kind, ours in REQUIRED, allowed, theirs)
        for ours, (theirs, kind, _) in COMPUTED.items():
            if theirs in got:
                specs[ours] = FieldSpec(ours, kind, False, None, theirs, readonly=True)
        return specs

    def absent(self) -> dict[str, str]:
        """Our field -> what to install so it has a place (``check`` says it)."""
        got = self.fields()
        return {
            ours: f"Tryton at {self.url} has no project.work.{theirs}: "
            f"activate the Tryton module {module}"
            for ours, (theirs, _, module) in {**WRITABLE, **COMPUTED}.items()
            if theirs not in got
        }

    def status_id(self, closed: bool) -> int:
        """The work status psa-sync sets to close (the first with progress 100 %: "Done") or to
        reopen (the first without: "Open"), among those projects can take; read once. Judged by
        progress, not by name: names are translated, and a site may add statuses."""
        with self._lock:
            if self._statuses is None:
                rows = self.read_call(
                    "search_read",
                    [],
                    0,
                    None,
                    [["sequence", "ASC"], ["id", "ASC"]],
                    ["name", "progress", "types"],
                    model="project.work.status",
                )
                self._statuses = {}
                for row in rows:
                    if "project" in (row.get("types") or ["project"]):
                        self._statuses.setdefault(_done(row), row["id"])
        if closed not in self._statuses:
            raise PsaUnavailable(
                f"Tryton at {self.url} has no project work status "
                f"{'with' if closed else 'without'} progress 100 %; the run stops"
            )
        return self._statuses[closed]

    # --- records ↔ our values -------------------------------------------------------------------

    def read_fields(self) -> list[str]:
        """What a read asks for: the key, the status and each of our fields this database has."""
        got = self.fields()
        names = [KEY, "status.name", "status.progress", "parent", "party.name"]
        names += [
            t for t, _, _ in (*WRITABLE.values(), *COMPUTED.values()) if t in got and t != "party"
        ]
        return names

    def identifier(self, key: str) -> str:
        return f"{self.identifier_prefix}{key.lower()}"

    def ref(self, record: dict, key: str | None = None) -> ProjectRef:
        if key is None:
            key = record.get(KEY) or ""
        closed = _done(record.get("status.") or {})
        return ProjectRef(
            id=int(record["id"]),
            identifier=self.identifier(key) if key else str(record["id"]),
            key=key,
            url=self.project_url(int(record["id"])),
            status="closed" if closed else "active",
            parent_id=record.get("parent"),
        )

    def project_url(self, work_id: int) -> str:
        """A link a person opens in Tryton's web client (``/#<db>/model/project.work/<id>``)."""
        server, _, database = self.url.rpartition("/")
        return f"{server}/#{database}/model/{MODEL}/{work_id}"

    def values(self, record: dict) -> dict[str, Any]:
        """A project.work record as our field -> typed value (key included)."""
        got = self.fields()
        values: dict[str, Any] = {"key": record.get(KEY) or None}
        for ours, (theirs, kind, _) in WRITABLE.items():
            if theirs not in got:
                continue
            if ours == "customer":
                values[ours] = (record.get("party.") or {}).get("name")
                continue
            value = record.get(theirs)
            if kind == "decimal" and isinstance(value, Decimal):
                value = plain_decimal(value)
            values[ours] = value if value not in ("", None) else None
        return values

    def body(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Our typed fields as project.work values; a field with no place is a ``ConfigError``."""
        got = self.fields()
        body: dict[str, Any] = {}
        for name, value in fields.items():
            spec = WRITABLE.get(name)
            if spec is None or spec[0] not in got:
                why = (
                    self.absent().get(name) or f"{name!r} is not a field psa-sync writes in Tryton"
                )
                raise ConfigError(
                    f"project field {name!r} has no place in Tryton at {self.url}: {why}"
                )
            theirs, kind, _ = spec
            if name == "customer":
                body["party"] = self.party(value) if value else None
            elif kind == "decimal" and value is not None:
                body[theirs] = Decimal(str(value))
            elif kind == "date" and isinstance(value, dt.datetime):
                body[theirs] = value.date()
            else:
                body[theirs] = value
        if any(n in fields for n in ("start_date", "end_date")):
            body["timesheet_available"] = True  # the dates live on the project's timesheet work
        return body

    def party(self, name: str) -> int:
        """The id of the party named ``name``: found (one search) or, if ``create_parties``, made.

        Raises ``TrytonError`` when there is none and parties are not created: that deal fails so.
        """
        name = str(name)
        with self._lock:
            if name in self._parties:
                return self._parties[name]
        found = self.read_call(
            "search", [["name", "=", name]], 0, 2, [["id", "ASC"]], model="party.party"
        )
        if found:
            party_id = found[0]
        elif self.create_parties:
            party_id = self.rpc.model("party.party", "create", [{"name": name}], idempotent=False)[
                0
            ]
        else:
            raise TrytonError(
                "UserError",
                f"no party named {name!r} in Tryton: create it, or set "
                "psa.options.create_parties: true",
            )
        with self._lock:
            self._parties[name] = party_id
        return party_id

    def read_call(self, method: str, *params: Any, model: str = MODEL) -> Any:
        """A read-only call; Tryton refusing it means it cannot answer now (``PsaUnavailable``)."""
        try:
            return self.rpc.model(model, method, *params)
        except TrytonError as exc:
            raise PsaUnavailable(
                f"Tryton at {self.url} refused {model}.{method}: {exc.message}; the run stops "
                "and resumes next time"
            ) from None


def _done(status: dict) -> bool:
    """A work status means closed when it carries progress 100 % (Tryton's Done)."""
    progress = status.get("progress")
    return progress is not None and not isinstance(progress, bool) and progress >= 1
