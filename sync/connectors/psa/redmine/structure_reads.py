"""Reading a project's plan in Redmine: what the site offers (the key and role custom fields,
trackers, closed statuses) and the keyed versions and issues already under a project.

The facts it relies on are listed in :mod:`sync.connectors.psa.redmine.structure`, which adds the
writes (docs/architecture.md §14).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sync.common.structure import ChildKind
from sync.connectors.psa.base import ProjectRef
from sync.connectors.psa.batch import run_bounded
from sync.connectors.psa.redmine.http import RedmineHttp, path
from sync.connectors.psa.structure import ChildProgress, ChildRef, StructureSpec

DEFAULT_TRACKER = "Feature"  # Redmine's default data has Bug, Feature and Support
DEFAULT_KEY_FIELD = "psa-sync key"
DEFAULT_ROLE_FIELD = "Role"

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


def custom_text(item: dict, field_id: int | None) -> str | None:
    """The non-empty text of custom field ``field_id`` on a version or an issue, else None."""
    for cf in item.get("custom_fields") or ():
        if cf["id"] == field_id:
            value = cf.get("value")
            return value if isinstance(value, str) and value else None
    return None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


class RedmineStructureReads:
    """The site's plan settings and the keyed versions and issues of deal projects."""

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
            key = custom_text(raw, field and field["id"])
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
            key = custom_text(raw, field and field["id"])
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
