"""A project's plan in Redmine: phases are versions, tasks are issues, each with its psa-sync key.

Facts this module is built on (Redmine 5.0.4; docs/architecture.md §14):

* A version's name is unique per project (at most 60 characters); ``GET
  /projects/:id/versions.json`` also lists versions *shared into* the project, so versions are
  filtered by their own project.
* An issue's tracker that is not enabled for the project is silently swapped for another, and a
  custom value of a field not enabled for the tracker or project is silently dropped: every create
  is read back from Redmine's answer and a difference reported. A child whose key was dropped could
  never be found again, so it is deleted at once (it was made a moment ago, by us) and the create
  fails with what to fix; a swapped tracker or a dropped role leaves a findable child, reported.
* Issue lists show open issues unless ``status_id=*``; ``spent_hours`` is not in a list, so hours
  come from the project's time entries, summed per issue.
* After creation a child is the PSA's: psa-sync adds a note (a removed line item) or moves an
  estimate (the caller checked no time is logged), never renames, re-dates, closes or deletes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import requests

from sync.common.errors import PsaUnavailable
from sync.common.model import Outcome
from sync.common.structure import Child, ChildKind
from sync.connectors.psa.base import ProjectRef
from sync.connectors.psa.batch import run_bounded
from sync.connectors.psa.redmine.http import RedmineHttp, error_text, path
from sync.connectors.psa.structure import ChildProgress, ChildRef, ChildResult, StructureSpec

VERSION_NAME_MAX = 60
DEFAULT_TRACKER = "Feature"  # Redmine's default data has Bug, Feature and Support
DEFAULT_KEY_FIELD = "psa-sync key"
DEFAULT_ROLE_FIELD = "Role"
CREATE_ATTEMPTS = 3
CREATE_BACKOFF_SECONDS = 0.2  # doubled after each attempt

_CF = [{"id": int, "value?": (str, list, type(None))}]
VERSION = {
    "id": int,
    "project": {"id": int},
    "name": str,
    "status": str,
    "due_date?": (str, type(None)),
    "custom_fields?": _CF,
}
ISSUE = {
    "id": int,
    "project": {"id": int},
    "tracker": {"id": int, "name": str},
    "status": {"id": int},
    "subject": str,
    "estimated_hours?": (int, float, type(None)),
    "due_date?": (str, type(None)),
    "fixed_version?": {"id": int},
    "custom_fields?": _CF,
}
_FIELDS = {
    "custom_fields": [
        {
            "id": int,
            "name": str,
            "customized_type?": str,
            "trackers?": [{"id": int, "name": str}],
            "possible_values?": [{"value": str}],
        }
    ]
}


def _value(item: dict, field_id: int | None) -> str | None:
    for cf in item.get("custom_fields") or ():
        if cf["id"] == field_id:
            value = cf.get("value")
            return value if isinstance(value, str) and value else None
    return None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


class RedmineStructure:
    """Versions and issues under the deal projects; results in input order."""

    def __init__(
        self,
        http: RedmineHttp,
        concurrency: int,
        tracker: str = DEFAULT_TRACKER,
        key_field: str = DEFAULT_KEY_FIELD,
        role_field: str = DEFAULT_ROLE_FIELD,
    ):
        self.http = http
        self.concurrency = concurrency
        self.tracker_name, self.key_field, self.role_field = tracker, key_field, role_field
        self._lock = threading.Lock()
        self._site: dict[str, Any] | None = None

    # --- what this Redmine offers ----------------------------------------------------------

    def site(self) -> dict[str, Any]:
        """Field ids, trackers and closed statuses, read once (three admin GETs)."""
        with self._lock:
            if self._site is None:
                fields = self.http.get(path("custom_fields"), shape=_FIELDS)["custom_fields"]
                by = {(f.get("customized_type"), f["name"]): f for f in fields}
                trackers = self.http.get(
                    path("trackers"), shape={"trackers": [{"id": int, "name": str}]}
                )
                statuses = self.http.get(
                    path("issue_statuses"),
                    shape={"issue_statuses": [{"id": int, "is_closed?": bool}]},
                )
                self._site = {
                    "issue_key": by.get(("issue", self.key_field)),
                    "version_key": by.get(("version", self.key_field)),
                    "role": by.get(("issue", self.role_field)),
                    "trackers": {t["name"]: t["id"] for t in trackers["trackers"]},
                    "closed": {s["id"] for s in statuses["issue_statuses"] if s.get("is_closed")},
                }
            return self._site

    def structure_spec(self) -> StructureSpec:
        site = self.site()
        problems = []
        how = {
            "issue_key": (
                "issue",
                "Issues, format Text, for all projects and every tracker, used as a filter",
            ),
            "version_key": ("version", "Versions, format Text"),
        }
        for kind, (what, where) in how.items():
            if site[kind] is None:
                problems.append(
                    f"Redmine has no {what} custom field named {self.key_field!r}: create it "
                    f"(Administration > Custom fields > {where})"
                )
        if self.tracker_name not in site["trackers"]:
            problems.append(
                f"psa.options.task_tracker: Redmine has no tracker {self.tracker_name!r}; it has "
                f"{', '.join(sorted(site['trackers']))}"
            )
        elif (
            site["issue_key"] is not None
            and "trackers" in site["issue_key"]
            and self.tracker_name not in {t["name"] for t in site["issue_key"]["trackers"]}
        ):
            problems.append(
                f"the issue custom field {self.key_field!r} is not enabled for the tracker "
                f"{self.tracker_name!r}: Redmine would drop every task's key"
            )
        role = site["role"]
        if role is None:
            problems.append(
                f"Redmine has no issue custom field named {self.role_field!r}: "
                "tasks would carry no role "
                "(create it: Administration > Custom fields > Issues, for all projects)"
            )
        values = tuple(v["value"] for v in role.get("possible_values") or ()) if role else ()
        return StructureSpec(tuple(sorted(site["trackers"])), values or None, tuple(problems))

    # --- reads -----------------------------------------------------------------------------

    def find_children(self, project: ProjectRef, keys: Sequence[str]) -> dict[str, list[ChildRef]]:
        wanted = set(keys)
        found: dict[str, list[ChildRef]] = {}
        for ref in self._versions(project) + self._issues(project):
            if ref[0].key in wanted:
                found.setdefault(ref[0].key, []).append(ref[0])
        return found

    def children(self, projects: Sequence[ProjectRef]) -> dict[int, list[ChildProgress]]:
        return dict(
            zip(
                [p.id for p in projects],
                run_bounded(self._progress, projects, self.concurrency),
                strict=True,
            )
        )

    def _progress(self, project: ProjectRef) -> list[ChildProgress]:
        """Each keyed child with its progress; a phase's hours are its tasks' (Redmine's own roll-up
        counts only issues whose version is set, which is every task psa-sync puts in a phase)."""
        spent: dict[int, Decimal] = {}
        for entry in self.http.pages(
            path("time_entries"),
            {"project_id": project.id},
            "time_entries",
            {"hours": (int, float), "issue?": {"id": int}},
        ):
            if entry.get("issue"):
                issue = entry["issue"]["id"]
                spent[issue] = spent.get(issue, Decimal(0)) + Decimal(str(entry["hours"]))
        out: list[ChildProgress] = []
        by_phase: dict[int | None, list[ChildProgress]] = {}  # version id (None: no phase) -> tasks
        for ref, raw in self._issues(project):
            hours = raw.get("estimated_hours")
            task = ChildProgress(
                ref,
                raw["subject"],
                ref.status == "closed",
                None if hours is None else Decimal(str(hours)),
                spent.get(ref.id, Decimal(0)),
                _day(raw.get("due_date")),
            )
            out.append(task)
            by_phase.setdefault((raw.get("fixed_version") or {}).get("id"), []).append(task)
        for ref, raw in self._versions(project):
            tasks = by_phase.get(ref.id, [])
            out.append(
                ChildProgress(
                    ref,
                    raw["name"],
                    raw["status"] == "closed",
                    sum((t.estimated_hours or Decimal(0) for t in tasks), Decimal(0)),
                    sum((t.spent_hours or Decimal(0) for t in tasks), Decimal(0)),
                    _day(raw.get("due_date")),
                )
            )
        return out

    def _versions(self, project: ProjectRef) -> list[tuple[ChildRef, dict]]:
        field = self.site()["version_key"]
        body = self.http.get(
            path("projects", project.id, "versions"), shape={"versions": [VERSION]}, missing_ok=True
        )
        refs = []
        for raw in (body or {}).get("versions", ()):
            key = _value(raw, field and field["id"])
            if (
                raw["project"]["id"] == project.id and key
            ):  # shared versions of other projects leak in
                refs.append((self._version_ref(raw, key), raw))
        return refs

    def _issues(self, project: ProjectRef) -> list[tuple[ChildRef, dict]]:
        field = self.site()["issue_key"]
        params = {"project_id": project.id, "subproject_id": "!*", "status_id": "*"}
        refs = []
        for raw in self.http.pages(path("issues"), params, "issues", ISSUE):
            key = _value(raw, field and field["id"])
            if raw["project"]["id"] == project.id and key:
                refs.append((self._issue_ref(raw, key), raw))
        return refs

    def _version_ref(self, raw: dict, key: str) -> ChildRef:
        status = "closed" if raw["status"] == "closed" else "open"
        return ChildRef(
            raw["id"],
            key,
            ChildKind.PHASE,
            raw["project"]["id"],
            self.http.url + path("versions", raw["id"], ext=""),
            status,
        )

    def _issue_ref(self, raw: dict, key: str) -> ChildRef:
        status = "closed" if raw["status"]["id"] in self.site()["closed"] else "open"
        return ChildRef(
            raw["id"],
            key,
            ChildKind.TASK,
            raw["project"]["id"],
            self.http.url + path("issues", raw["id"], ext=""),
            status,
        )

    # --- writes ----------------------------------------------------------------------------

    def create_children(
        self, project: ProjectRef, children: Sequence[Child], phases: Mapping[str, ChildRef]
    ) -> list[ChildResult]:
        site = self.site()
        return run_bounded(
            lambda child: self._create_one(project, child, phases, site), children, self.concurrency
        )

    def _create_one(
        self, project: ProjectRef, child: Child, phases: Mapping[str, ChildRef], site: dict
    ) -> ChildResult:
        """One create; an answer that does not say (a 5xx: SQLite's "database is locked" after a
        commit, or no answer) is settled by the key: found, it exists; not found, it is sent again,
        ``CREATE_ATTEMPTS`` in all (Redmine has no unique key to refuse a second one for us)."""
        why = ""
        for attempt in range(CREATE_ATTEMPTS):
            try:
                if child.kind is ChildKind.PHASE:
                    result = self._create_version(project, child, site)
                else:
                    result = self._create_issue(project, child, phases, site)
            except PsaUnavailable as exc:
                result = ChildResult(child.key, Outcome.UNKNOWN, error=str(exc))
            if result.outcome != Outcome.UNKNOWN:
                return result
            why = result.error or ""
            found = self.find_children(project, [child.key]).get(child.key)
            if found:
                return ChildResult(child.key, Outcome.EXISTS, found[0])
            time.sleep(CREATE_BACKOFF_SECONDS * 2**attempt)
        return ChildResult(
            child.key, Outcome.UNKNOWN, error=f"create unconfirmed ({why}); not found by its key"
        )

    def _create_version(self, project: ProjectRef, child: Child, site: dict) -> ChildResult:
        if site["version_key"] is None:
            return ChildResult(child.key, Outcome.FAILED, error=self.structure_spec().problems[0])
        body = {
            "version": {
                "name": child.name[:VERSION_NAME_MAX],
                "status": "open",
                "sharing": "none",
                "due_date": child.due.isoformat() if child.due else None,
                "custom_fields": [{"id": site["version_key"]["id"], "value": child.key}],
            }
        }
        response = self.http.send("POST", path("projects", project.id, "versions"), body=body)
        if response.status_code != 201:
            return self._refused(child, response)
        raw = self.http.answer(response, {"version": VERSION})["version"]
        if _value(raw, site["version_key"]["id"]) != child.key:
            return self._undo(child, path("versions", raw["id"]), "version")
        return ChildResult(child.key, Outcome.CREATED, self._version_ref(raw, child.key))

    def _create_issue(
        self, project: ProjectRef, child: Child, phases: Mapping[str, ChildRef], site: dict
    ) -> ChildResult:
        tracker = site["trackers"].get(self.tracker_name)
        if site["issue_key"] is None or tracker is None:
            return ChildResult(
                child.key, Outcome.FAILED, error="; ".join(self.structure_spec().problems)
            )
        values = [{"id": site["issue_key"]["id"], "value": child.key}]
        if child.role and site["role"] is not None:
            values.append({"id": site["role"]["id"], "value": child.role})
        phase = phases.get(child.phase) if child.phase else None
        issue = {
            "project_id": project.id,
            "tracker_id": tracker,
            "subject": child.name[:255],
            "estimated_hours": float(child.hours) if child.hours is not None else None,
            "start_date": child.start.isoformat() if child.start else None,
            "due_date": child.due.isoformat() if child.due else None,
            "fixed_version_id": phase.id if phase else None,
            "custom_fields": values,
        }
        response = self.http.send("POST", path("issues"), body={"issue": issue})
        if response.status_code != 201:
            return self._refused(child, response)
        raw = self.http.answer(response, {"issue": ISSUE})["issue"]
        if _value(raw, site["issue_key"]["id"]) != child.key:
            return self._undo(child, path("issues", raw["id"]), "issue")
        ref = self._issue_ref(raw, child.key)
        differences = []
        if raw["tracker"]["id"] != tracker:
            differences.append(
                f"tracker {raw['tracker']['name']!r} instead of {self.tracker_name!r} (not enabled "
                "for the project)"
            )
        if child.role and _value(raw, site["role"] and site["role"]["id"]) != child.role:
            differences.append(
                f"no {self.role_field!r} value (the custom field is missing or not enabled)"
            )
        error = (
            f"Redmine made issue #{raw['id']} with {'; '.join(differences)}"
            if differences
            else None
        )
        return ChildResult(child.key, Outcome.CREATED, ref, error)

    def _refused(self, child: Child, response: requests.Response) -> ChildResult:
        if response.status_code >= 500:
            return ChildResult(
                child.key, Outcome.UNKNOWN, error=f"Redmine answered {response.status_code}"
            )
        return ChildResult(child.key, Outcome.FAILED, error=error_text(response))

    def _undo(self, child: Child, where: str, what: str) -> ChildResult:
        """A child made without its key could never be found again: it goes at once."""
        self.http.send("DELETE", where)
        return ChildResult(
            child.key,
            Outcome.FAILED,
            error=f"Redmine dropped the {self.key_field!r} value of the new {what} "
            "(the custom field is not enabled for every project and tracker); "
            "it was deleted again. Enable the field for all projects and trackers, then run again",
        )

    def flag_children(self, refs: Sequence[ChildRef], note: str) -> list[ChildResult]:
        def flag(ref: ChildRef) -> ChildResult:
            if ref.kind is ChildKind.PHASE:
                body, where = {"version": {"description": note[:255]}}, path("versions", ref.id)
            else:
                body, where = {"issue": {"notes": note}}, path("issues", ref.id)
            return self._put(ref, where, body)

        return run_bounded(flag, refs, self.concurrency)

    def set_estimates(self, changes: Sequence[tuple[ChildRef, Decimal]]) -> list[ChildResult]:
        return run_bounded(
            lambda change: self._put(
                change[0],
                path("issues", change[0].id),
                {"issue": {"estimated_hours": float(change[1])}},
            ),
            changes,
            self.concurrency,
        )

    def _put(self, ref: ChildRef, where: str, body: dict) -> ChildResult:
        response = self.http.send("PUT", where, body=body)
        if response.status_code in (200, 204):
            return ChildResult(ref.key, Outcome.UPDATED, ref)
        if response.status_code >= 500:
            return ChildResult(
                ref.key, Outcome.UNKNOWN, ref, f"Redmine answered {response.status_code}"
            )
        return ChildResult(ref.key, Outcome.FAILED, ref, error_text(response))
