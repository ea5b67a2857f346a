"""A project's plan in Redmine: phases are versions, tasks are issues, each with its psa-sync key.

This module writes the plan; :mod:`~sync.connectors.psa.redmine.structure_reads` reads it. Facts
both are built on (Redmine 5.0.4; docs/architecture.md §14):

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

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal

import requests

from sync.common.errors import PsaUnavailable
from sync.common.model import Outcome
from sync.common.structure import Child, ChildKind
from sync.connectors.psa.base import ProjectRef
from sync.connectors.psa.batch import run_bounded
from sync.connectors.psa.redmine.http import error_text, path
from sync.connectors.psa.redmine.structure_reads import (
    ISSUE,
    VERSION,
    RedmineStructureReads,
    custom_text,
)
from sync.connectors.psa.structure import ChildRef, ChildResult

VERSION_NAME_MAX = 60
CREATE_ATTEMPTS = 3
CREATE_BACKOFF_SECONDS = 0.2  # doubled after each attempt


class RedmineStructure(RedmineStructureReads):
    """Versions and issues under the deal projects; results in input order."""

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
        if custom_text(raw, site["version_key"]["id"]) != child.key:
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
        if custom_text(raw, site["issue_key"]["id"]) != child.key:
            return self._undo(child, path("issues", raw["id"]), "issue")
        ref = self._issue_ref(raw, child.key)
        differences = []
        if raw["tracker"]["id"] != tracker:
            differences.append(
                f"tracker {raw['tracker']['name']!r} instead of {self.tracker_name!r} (not enabled "
                "for the project)"
            )
        if child.role and custom_text(raw, site["role"] and site["role"]["id"]) != child.role:
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
