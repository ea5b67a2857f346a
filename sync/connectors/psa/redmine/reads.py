"""Reading Redmine: find projects by key, list the linked ones, read values, delivery and hours.

Every listing asks ``status=1|5`` (active and closed; archived projects are invisible even to an
admin) and re-checks each project's key client-side, because Redmine silently drops a filter it
does not know and then returns every project. Reads are batched: ⌈n/100⌉ listing calls for n
projects, whatever the caller asks for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from urllib.parse import quote

from sync.connectors.psa.base import Delivery, ProjectRef
from sync.connectors.psa.batch import run_bounded
from sync.connectors.psa.redmine.fields import custom_value, plain_decimal
from sync.connectors.psa.redmine.http import path
from sync.connectors.psa.redmine.site import PROJECT, RedmineSite, status_of

TIME_ENTRY = {"hours?": (int, float)}  # summed as exact decimals
_PROJECT_REF = re.compile(
    r"^[a-z0-9][a-z0-9_-]*$"
)  # a Redmine id or identifier: nothing else reaches the URL
_KEY_CHARS_PER_CALL = (
    1000  # keys per find call, by length: WEBrick refuses request lines > 2083 bytes
)


class RedmineReads:
    """The read half of the Redmine connector (every method is batch-shaped)."""

    def __init__(self, site: RedmineSite, concurrency: int):
        self.site = site
        self.http = site.http
        self.concurrency = max(2, concurrency)  # hours: one call per project, a few at a time

    def find(self, keys: Sequence[str]) -> dict[str, list[ProjectRef]]:
        """Every project (active or closed) carrying each key; a hand copy makes a list of two."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, list[ProjectRef]] = {k: [] for k in wanted}
        if not wanted:
            return found
        if any("|" in k for k in wanted):  # "|" separates values in a filter: list everything
            projects = self._linked_projects()
        else:
            projects = self._projects_with_keys(wanted)
        seen: set[int] = set()
        for project in projects:
            ref = self.site.ref(project)
            if ref.key in found and ref.id not in seen:
                seen.add(ref.id)
                found[ref.key].append(ref)
        return found

    def list_linked(self) -> list[ProjectRef]:
        """Every active or closed project carrying a key, ⌈n/100⌉ calls, oldest first."""
        return [self.site.ref(p) for p in self._linked_projects()]

    def list_unlinked(self) -> list[tuple[ProjectRef, dict]]:
        """Every active or closed project with no key, but the Accounts' parents; ⌈n/100⌉ calls."""
        key_cf = self.site.fields()["key"]
        parents = f"{self.site.identifier_prefix}acct-"
        params = {f"cf_{key_cf.id}": "!*", "status": "1|5", "sort": "created_on"}
        projects = {
            p["id"]: p
            for p in self.http.pages(path("projects"), params, "projects", PROJECT)
            if not custom_value(p, key_cf) and not p["identifier"].startswith(parents)
        }
        return [(self.site.ref(p), self.site.values(p)) for p in projects.values()]

    def project(self, ref: str) -> tuple[ProjectRef, dict] | None:
        """One project by id or identifier (``GET /projects/<ref>``); None when there is none (or it
        is archived, which hides it even from an admin)."""
        ref = str(ref).strip().lower()
        if not _PROJECT_REF.match(ref):
            return None
        _, project = self.site.lookup(ref)
        return None if project is None else (self.site.ref(project), self.site.values(project))

    def read(self, refs: Sequence[ProjectRef]) -> dict[str, dict]:
        """key -> our field -> typed value, ⌈refs/100⌉ calls. Missing projects are left out."""
        by_id = {p["id"]: p for p in self._projects_by_ids([r.id for r in refs])}
        return {r.key: self.site.values(by_id[r.id]) for r in refs if r.id in by_id}

    def delivery(self, refs: Sequence[ProjectRef], hours: bool) -> dict[str, Delivery]:
        """Status and percent complete from one listing; hours (when asked) one call per project.

        A project that no longer exists (deleted, archived) is left out of the result.
        """
        fields = self.site.fields()
        by_id = {p["id"]: p for p in self._projects_by_ids([r.id for r in refs])}
        present = [r for r in refs if r.id in by_id]
        spent = self._spent_hours_of([r.id for r in present]) if hours else {}
        if (
            hours
        ):  # a project deleted between the listing and its hours is left out, like a missing one
            present = [r for r in present if spent.get(r.id) is not None]
        result = {}
        for ref in present:
            project = by_id[ref.id]
            percent = None
            if "percent_complete" in fields:
                percent = custom_value(project, fields["percent_complete"])
            result[ref.key] = Delivery(
                status=status_of(project),
                percent_complete=percent if isinstance(percent, int) else None,
                spent_hours=spent.get(ref.id),
                values=self.site.values(project),
            )
        return result

    def spent_hours(self, project_id: int) -> Decimal | None:
        """Sum of the project's time entries (100 a page); floats summed as exact decimals.

        None when the project vanished meanwhile (a person deleted it while we read): that is the
        project's business, not a reason to fail the whole run.
        """
        total = Decimal(0)
        params = {"project_id": project_id}
        for entries in self.http.page_lists(
            path("time_entries"), params, "time_entries", TIME_ENTRY, missing_ok=True
        ):
            if entries is None:
                return None
            total += sum((Decimal(str(entry.get("hours") or 0)) for entry in entries), Decimal(0))
        return plain_decimal(total)

    def _spent_hours_of(self, ids: list[int]) -> dict[int, Decimal | None]:
        return dict(zip(ids, run_bounded(self.spent_hours, ids, self.concurrency), strict=True))

    def _linked_projects(self) -> list[dict]:
        key_cf = self.site.fields()["key"]
        params = {f"cf_{key_cf.id}": "*", "status": "1|5", "sort": "created_on"}
        projects: dict[
            int, dict
        ] = {}  # by id: offset paging may repeat a row if one is created meanwhile
        for project in self.http.pages(path("projects"), params, "projects", PROJECT):
            if custom_value(project, key_cf):  # re-check: an ignored filter returns every project
                projects[project["id"]] = project
        return list(projects.values())

    def _projects_with_keys(self, keys: list[str]) -> list[dict]:
        key_cf = self.site.fields()["key"].id
        projects: list[dict] = []
        for chunk in _chunks_within(keys, _KEY_CHARS_PER_CALL):
            # the leading "=" pins the operator, whatever the key starts with
            params = {f"cf_{key_cf}": "=" + "|".join(chunk), "status": "1|5"}
            projects.extend(self.http.pages(path("projects"), params, "projects", PROJECT))
        return projects

    def _projects_by_ids(self, ids: list[int]) -> list[dict]:
        unique = list(dict.fromkeys(ids))
        projects: list[dict] = []
        step = self.http.page_size
        for start in range(0, len(unique), step):
            chunk = "|".join(str(i) for i in unique[start : start + step])
            projects.extend(
                self.http.pages(
                    path("projects"), {"id": "=" + chunk, "status": "1|5"}, "projects", PROJECT
                )
            )
        return projects


def _chunks_within(keys: list[str], budget: int) -> list[list[str]]:
    """Split keys into runs whose joined, URL-encoded length stays within ``budget``."""
    chunks: list[list[str]] = [[]]
    used = 0
    for key in keys:
        cost = len(quote(key, safe="")) + 3  # + the encoded "|"
        if chunks[-1] and used + cost > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(key)
        used += cost
    return [c for c in chunks if c]
