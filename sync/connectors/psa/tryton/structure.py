"""A project's plan in Tryton: phases and tasks are child ``project.work`` records with their key.

Tryton has one model for projects and tasks and no custom fields, so psa-sync's ``psa_sync_key``
module carries the child's key in the same unique, indexed ``salesforce_key`` a deal project uses
(a child key holds a ``/``, which no Salesforce Id does; the project reads leave such keys out).
A phase is a work of type project under the deal's project (Tryton shows it as a sub-project); a
task is a work of type task under its phase or the project, with its estimate as
``effort_duration`` and its dates on its timesheet work. Tryton has no role on a work: it goes in
the comment, where a person sees it.

A create is never sent twice blind: the database refuses a second child with the same key, so a
refusal or an unanswered create is settled by looking the key up (one search). After creation a
child is the PSA's: a flag is a line added to its comment; nothing a person set is overwritten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sync.common.errors import PsaUnavailable
from sync.common.model import Outcome
from sync.common.structure import Child, ChildKind
from sync.connectors.psa.base import ProjectRef
from sync.connectors.psa.structure import ChildProgress, ChildRef, ChildResult, StructureSpec
from sync.connectors.psa.tryton.rpc import TrytonError
from sync.connectors.psa.tryton.site import KEY, MODEL, TrytonSite, hours

_READ = [
    "id",
    KEY,
    "name",
    "type",
    "parent",
    "status.progress",
    "progress",
    "effort_duration",
    "timesheet_duration",
    "timesheet_end_date",
    "comment",
]


def _kind(record: dict) -> ChildKind:
    return ChildKind.PHASE if record.get("type") == "project" else ChildKind.TASK


class TrytonStructure:
    """Child works under the deal projects; results in input order."""

    def __init__(self, site: TrytonSite):
        self.site = site
        self.rpc = site.rpc

    def structure_spec(self) -> StructureSpec:
        problems: tuple[str, ...] = ()
        if KEY not in self.site.fields():
            problems = (
                f"Tryton at {self.site.url} has no project.work.{KEY}: install psa-sync's module "
                "psa_sync_key",
            )
        return StructureSpec(
            (), None, problems
        )  # no trackers; a role is text in the work's comment

    # --- reads -----------------------------------------------------------------------------

    def _descendants(self, project_ids: Sequence[int]) -> list[dict]:
        """Every keyed work below the projects (one search; the tree is ``child_of``)."""
        if not project_ids:
            return []
        domain = [
            ["parent", "child_of", list(project_ids)],
            ["id", "not in", list(project_ids)],
            [KEY, "!=", None],
        ]
        return self.site.read_call("search_read", domain, 0, None, [["id", "ASC"]], _READ)

    def _project_of(self, records: list[dict], roots: set[int]) -> dict[int, int]:
        parent = {r["id"]: r.get("parent") for r in records}
        out = {}
        for record in records:
            node = record["id"]
            while node is not None and node not in roots:
                node = parent.get(node)
            if node is not None:
                out[record["id"]] = node
        return out

    def _ref(self, record: dict, project_id: int) -> ChildRef:
        done = (record.get("status.") or {}).get("progress") or 0
        return ChildRef(
            int(record["id"]),
            record[KEY],
            _kind(record),
            project_id,
            self.site.project_url(int(record["id"])),
            "closed" if done >= 1 else "open",
        )

    def find_children(self, project: ProjectRef, keys: Sequence[str]) -> dict[str, list[ChildRef]]:
        wanted = set(keys)
        found: dict[str, list[ChildRef]] = {}
        for record in self._descendants([project.id]):
            if record[KEY] in wanted:
                found.setdefault(record[KEY], []).append(self._ref(record, project.id))
        return found

    def children(self, projects: Sequence[ProjectRef]) -> dict[int, list[ChildProgress]]:
        records = self._descendants([p.id for p in projects])
        owner = self._project_of(records, {p.id for p in projects})
        out: dict[int, list[ChildProgress]] = {p.id: [] for p in projects}
        for record in records:
            if record["id"] not in owner:
                continue
            ref = self._ref(record, owner[record["id"]])
            effort = hours(record.get("effort_duration"))
            out[ref.project_id].append(
                ChildProgress(
                    ref,
                    record.get("name") or "",
                    ref.status == "closed",
                    effort,
                    hours(record.get("timesheet_duration")) or Decimal(0),
                    record.get("timesheet_end_date"),
                )
            )
        return out

    # --- writes ----------------------------------------------------------------------------

    def create_children(
        self, project: ProjectRef, children: Sequence[Child], phases: Mapping[str, ChildRef]
    ) -> list[ChildResult]:
        company = self.rpc.context().get("company")
        return [self._create_one(project, child, phases, company) for child in children]

    def _values(
        self, project: ProjectRef, child: Child, phases: Mapping[str, ChildRef], company: int | None
    ) -> dict[str, Any]:
        phase = phases.get(child.phase) if child.phase else None
        values: dict[str, Any] = {
            "name": child.name,
            "type": "project" if child.kind is ChildKind.PHASE else "task",
            "parent": phase.id if phase else project.id,
            "company": company,
            KEY: child.key,
        }
        if child.hours is not None:
            values["effort_duration"] = dt.timedelta(hours=float(child.hours))
        if child.role:
            values["comment"] = f"Role: {child.role}"
        if child.start or child.due:
            values.update(
                timesheet_available=True,
                timesheet_start_date=child.start,
                timesheet_end_date=child.due,
            )
        return values

    def _create_one(
        self, project: ProjectRef, child: Child, phases: Mapping[str, ChildRef], company: int | None
    ) -> ChildResult:
        values = self._values(project, child, phases, company)
        try:
            [work_id] = self.rpc.model(MODEL, "create", [values], idempotent=False)
        except (
            TrytonError,
            PsaUnavailable,
        ) as exc:  # refused or unanswered: the key says whether it exists
            existing = self.find_children(project, [child.key]).get(child.key)
            if existing:
                return ChildResult(child.key, Outcome.EXISTS, existing[0])
            if isinstance(exc, TrytonError):
                return ChildResult(child.key, Outcome.FAILED, error=exc.message)
            return ChildResult(child.key, Outcome.UNKNOWN, error=str(exc))
        ref = ChildRef(
            work_id, child.key, child.kind, project.id, self.site.project_url(work_id), "open"
        )
        return ChildResult(child.key, Outcome.CREATED, ref)

    def flag_children(self, refs: Sequence[ChildRef], note: str) -> list[ChildResult]:
        if not refs:
            return []
        current = {
            r["id"]: r for r in self.site.read_call("read", [r.id for r in refs], ["comment"])
        }
        results = []
        for ref in refs:
            comment = (current.get(ref.id) or {}).get("comment") or ""
            if note in comment:
                results.append(ChildResult(ref.key, Outcome.UNCHANGED, ref))
                continue
            results.append(self._write(ref, {"comment": f"{comment}\n{note}".strip()}))
        return results

    def set_estimates(self, changes: Sequence[tuple[ChildRef, Decimal]]) -> list[ChildResult]:
        return [
            self._write(ref, {"effort_duration": dt.timedelta(hours=float(h))})
            for ref, h in changes
        ]

    def _write(self, ref: ChildRef, values: dict) -> ChildResult:
        try:
            self.rpc.model(MODEL, "write", [ref.id], values)
        except TrytonError as exc:
            return ChildResult(ref.key, Outcome.FAILED, ref, exc.message)
        except PsaUnavailable as exc:
            return ChildResult(ref.key, Outcome.UNKNOWN, ref, str(exc))
        return ChildResult(ref.key, Outcome.UPDATED, ref)
