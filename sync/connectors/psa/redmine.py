"""The Redmine connector: deals become Redmine projects, delivery values come back.

Facts this module is built on (psa-targets.md, read from Redmine 5.0.4's source):

* The external key lives in a project custom field; ``cf_N==a|b|c`` finds several keys in one
  call. An unknown filter is silently dropped and returns *all* projects, so every match is
  re-checked client-side.
* The identifier (prefix + key lowercased) is unique, so a second create of the same deal gets
  422 "Identifier has already been taken": a second guard against duplicates after the intent.
* A 500 or timeout on a create may hide a commit (SQLite "database is locked"): look the
  identifier up before calling it failed ("unknown" when not found).
* Closed projects are read-only (403). Archived ones are invisible even to admin: never archive.
* Writes serialise on SQLite: ``write_concurrency`` bounds the parallel requests.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import requests

from sync.connectors.psa.base import (
    Delivery,
    FieldSpec,
    NewProject,
    ProjectChange,
    ProjectRef,
    WriteResult,
)
from sync.connectors.psa.redmine_fields import (
    DEFAULT_CUSTOM_FIELDS,
    CustomField,
    custom_value,
    field_specs,
    parse_custom_fields,
    plain_decimal,
    project_body,
    resolve,
    typed_values,
)
from sync.connectors.psa.redmine_http import RedmineHttp, error_text, run_bounded
from sync.errors import ConfigError, PsaUnavailable, RecordError

_STATUS = {1: "active", 5: "closed"}
_IDENTIFIER_PREFIX = re.compile(r"^[a-z][a-z0-9_-]*$")
CREATE_ATTEMPTS = 3  # a create answered 5xx and surely not committed is sent again, this often in all
CREATE_BACKOFF_SECONDS = 0.2  # doubled after each attempt
_KEY_CHARS_PER_CALL = 1000  # keys per find call, by length: WEBrick refuses request lines > 2083 bytes
_OPTIONS = {"identifier_prefix", "customer", "on_closed", "write_concurrency", "custom_fields", "timeout"}


class RedmineConnector:
    """A :class:`~sync.connectors.psa.base.PsaConnector` for Redmine 5.x over its REST API."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        session: requests.Session,
        identifier_prefix: str = "sf-",
        custom_fields: dict[str, str] | None = None,
        write_concurrency: int = 2,
        customer: str = "custom_field",
        on_closed: str = "skip",
        timeout: float = 30.0,
    ):
        _check_options(identifier_prefix, write_concurrency, customer, on_closed, custom_fields)
        self.http = RedmineHttp(url, api_key, session, timeout)
        self.url = self.http.url
        self.identifier_prefix = identifier_prefix
        self.write_concurrency = write_concurrency
        self.customer = customer
        self.on_closed = on_closed
        self._wanted = {**DEFAULT_CUSTOM_FIELDS, **(custom_fields or {})}
        self._explicit = set(custom_fields or {})
        self._cf: dict[str, CustomField] | None = None
        self._lock = threading.Lock()
        self._parents: dict[str, ProjectRef] = {}

    @classmethod
    def from_settings(
        cls, url: str, api_key: str, options: dict, session: requests.Session, *, timeout: float = 30.0
    ) -> RedmineConnector:
        """Build from config ``psa.url``, ``psa.api_key`` and ``psa.options`` (design.md §7)."""
        options = dict(options or {})
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise ConfigError(
                f"psa.options: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(_OPTIONS))}"
            )
        options.setdefault("timeout", timeout)
        return cls(url, api_key, session=session, **options)

    # --- fields -------------------------------------------------------------------------------

    def fields(self) -> dict[str, CustomField]:
        """Our field -> Redmine custom field, resolved once (``GET /custom_fields.json``, admin)."""
        with self._lock:
            if self._cf is None:
                body = self.http.get("/custom_fields.json") or {}
                self._cf = resolve(parse_custom_fields(body), self._wanted, self._explicit)
            return self._cf

    def describe(self) -> dict[str, FieldSpec]:
        return field_specs(self.fields())

    # --- reads --------------------------------------------------------------------------------

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
            ref = self._ref(project)
            if ref.key in found and ref.id not in seen:
                seen.add(ref.id)
                found[ref.key].append(ref)
        return found

    def list_linked(self) -> list[ProjectRef]:
        """Every active or closed project carrying a key, ⌈n/100⌉ calls, oldest first."""
        return [self._ref(p) for p in self._linked_projects()]

    def _linked_projects(self) -> list[dict]:
        key_cf = self.fields()["key"]
        params = {f"cf_{key_cf.id}": "*", "status": "1|5", "sort": "created_on"}
        projects: dict[int, dict] = {}  # by id: offset paging may repeat a row if one is created meanwhile
        for project in self.http.pages("/projects.json", params, "projects"):
            if custom_value(project, key_cf):  # re-check: an ignored filter returns every project
                projects[project["id"]] = project
        return list(projects.values())

    def read(self, refs: Sequence[ProjectRef]) -> dict[str, dict]:
        """key -> our field -> typed value, ⌈refs/100⌉ calls. Missing projects are left out."""
        by_id = {p["id"]: p for p in self._projects_by_ids([r.id for r in refs])}
        return {r.key: self._values(by_id[r.id]) for r in refs if r.id in by_id}

    def delivery(self, refs: Sequence[ProjectRef], hours: bool) -> dict[str, Delivery]:
        """Status and percent complete from one listing; hours (when asked) one call per project.

        A project that no longer exists (deleted, archived) is left out of the result.
        """
        fields = self.fields()
        by_id = {p["id"]: p for p in self._projects_by_ids([r.id for r in refs])}
        present = [r for r in refs if r.id in by_id]
        spent = self._map_reads(self.spent_hours, [r.id for r in present]) if hours else {}
        if hours:  # a project deleted between the listing and its hours is left out, like a missing one
            present = [r for r in present if spent.get(r.id) is not None]
        result = {}
        for ref in present:
            project = by_id[ref.id]
            percent = None
            if "percent_complete" in fields:
                percent = custom_value(project, fields["percent_complete"])
            result[ref.key] = Delivery(
                status=_STATUS.get(project.get("status"), "closed"),
                percent_complete=percent if isinstance(percent, int) else None,
                spent_hours=spent.get(ref.id),
                values=self._values(project),
            )
        return result

    def spent_hours(self, project_id: int) -> Decimal | None:
        """Sum of the project's time entries (100 a page); floats summed as exact decimals.

        None when the project vanished meanwhile (a person deleted it while we read): that is the
        project's business, not a reason to fail the whole run.
        """
        total = Decimal(0)
        params = {"project_id": project_id}
        for entries in self.http.page_lists("/time_entries.json", params, "time_entries", missing_ok=True):
            if entries is None:
                return None
            total += sum((Decimal(str(entry.get("hours") or 0)) for entry in entries), Decimal(0))
        return plain_decimal(total)

    # --- writes -------------------------------------------------------------------------------

    def create(self, rows: Sequence[NewProject]) -> list[WriteResult]:
        """Create one project per row; results in input order (see ``OUTCOMES`` in base)."""
        self.fields()
        return self._map_writes(self._create_one, rows)

    def update(self, changes: Sequence[ProjectChange]) -> list[WriteResult]:
        """PUT only the given fields: 204 updated, 403 closed (read-only), 422 failed."""
        self.fields()
        return self._map_writes(self._update_one, changes)

    def set_lifecycle(self, refs: Sequence[ProjectRef], action: str) -> list[WriteResult]:
        """Close or reopen (never archive: archived projects vanish from the API)."""
        if action not in ("close", "reopen"):
            raise ValueError(f"set_lifecycle: action must be 'close' or 'reopen', not {action!r}")
        return self._map_writes(lambda ref: self._lifecycle_one(ref, action), refs)

    def ensure_parent(self, account_key: str, name: str, fields: dict[str, Any] | None = None) -> ProjectRef:
        """The one parent project of an Account (``customer: parent_project``), found or created.

        Identified by its identifier (prefix + "acct-" + Account Id lowercased) alone, so it never
        shows up as a linked deal project. ``fields`` supplies values Redmine requires of every
        project (a required "Billing type"); "customer" defaults to ``name``.
        """
        with self._lock:
            if account_key in self._parents:
                return self._parents[account_key]
        identifier = f"{self.identifier_prefix}acct-{account_key.lower()}"
        _, project = self._lookup(identifier)
        if project is None:
            project = self._create_parent(account_key, identifier, name, fields or {})
        ref = self._ref(project, key=account_key)
        with self._lock:
            self._parents[account_key] = ref
        return ref

    # --- one record ---------------------------------------------------------------------------

    def _create_one(self, row: NewProject) -> WriteResult:
        identifier = self.identifier(row.key)
        project = self._project_body(row.fields, key=row.key)
        project.update(identifier=identifier, is_public=False)
        if row.parent is not None:
            project["parent_id"] = row.parent.id
        for attempt in range(CREATE_ATTEMPTS):
            try:
                response = self.http.send("POST", "/projects.json", body={"project": project})
            except PsaUnavailable as exc:
                # No answer: the request may still be running, so it is never sent again here.
                return self._confirm(row.key, identifier, str(exc))
            if response.status_code < 500:
                return self._settle_create(row.key, identifier, response)
            # A 5xx is a finished request (SQLite "database is locked" rolled it back, or it
            # committed before failing): look it up; resend only when it surely did not commit.
            result = self._confirm(row.key, identifier, f"HTTP {response.status_code}")
            if result.outcome != "unknown" or attempt == CREATE_ATTEMPTS - 1:
                return result
            time.sleep(CREATE_BACKOFF_SECONDS * 2**attempt)
        raise AssertionError("unreachable")

    def _settle_create(self, key: str, identifier: str, response: requests.Response) -> WriteResult:
        if response.status_code == 201:
            return WriteResult(key, "created", ref=self._ref(response.json()["project"]))
        # 422 (or another 4xx): if the identifier is taken, the project exists — adopt it.
        # Decided by looking it up, not by parsing Redmine's (translatable) message.
        message = error_text(response)
        status, existing = self._lookup(identifier)
        if existing is not None:
            return self._adopt(key, existing)
        if status == 403:
            message += f"; identifier {identifier} belongs to an archived project: unarchive it in Redmine"
        return WriteResult(key, "failed", error=message)

    def _confirm(self, key: str, identifier: str, why: str) -> WriteResult:
        """After a create with no clear answer: did it commit? (the lookup may raise)."""
        _, existing = self._lookup(identifier)
        if existing is not None:
            return self._adopt(key, existing)
        return WriteResult(key, "unknown", error=f"create of {identifier} unconfirmed ({why}); not found")

    def _adopt(self, key: str, project: dict) -> WriteResult:
        ref = self._ref(project)
        if ref.key and ref.key != key:
            return WriteResult(
                key, "failed", error=f"identifier {ref.identifier} is taken by project {ref.id} of key {ref.key}"
            )
        if not ref.key:  # made by hand without the key: give it the key so find() sees it
            self._send_update(ref, {"key": key})
            ref = replace(ref, key=key)
        return WriteResult(key, "exists", ref=ref, values={**self._values(project), "key": key})

    def _update_one(self, change: ProjectChange) -> WriteResult:
        ref = change.ref
        if not change.fields:
            return WriteResult(ref.key, "unchanged", ref=ref)
        response = self._send_update(ref, change.fields)
        return self._write_outcome(ref, response, ok=ref, forbidden="closed")

    def _lifecycle_one(self, ref: ProjectRef, action: str) -> WriteResult:
        response = self.http.send("PUT", f"/projects/{ref.id}/{action}.json")
        done = replace(ref, status="closed" if action == "close" else "active")
        return self._write_outcome(ref, response, ok=done, forbidden="failed")

    def _send_update(self, ref: ProjectRef, fields: dict[str, Any]) -> requests.Response:
        body = {"project": self._project_body(fields)}
        return self.http.send("PUT", f"/projects/{ref.id}.json", body=body)

    def _write_outcome(self, ref: ProjectRef, response, *, ok: ProjectRef, forbidden: str) -> WriteResult:
        status = response.status_code
        if 200 <= status < 300:
            return WriteResult(ref.key, "updated", ref=ok)
        if status == 403:
            why = "project is closed (read-only) or archived in Redmine"
            return WriteResult(ref.key, forbidden, ref=ref, error=why)
        if status == 404:
            return WriteResult(ref.key, "failed", ref=ref, error=f"project {ref.id} no longer exists in Redmine")
        if status >= 500:
            return WriteResult(ref.key, "unknown", ref=ref, error=f"HTTP {status}; try again next run")
        return WriteResult(ref.key, "failed", ref=ref, error=error_text(response))

    def _create_parent(self, account_key: str, identifier: str, name: str, fields: dict) -> dict:
        project = self._project_body({"customer": name, **fields, "name": name})
        project.update(identifier=identifier, is_public=False)
        try:
            response = self.http.send("POST", "/projects.json", body={"project": project})
        except PsaUnavailable:
            response = None
        if response is not None and response.status_code == 201:
            return response.json()["project"]
        _, existing = self._lookup(identifier)  # raced, or committed behind a 500
        if existing is not None:
            return existing
        if response is None or response.status_code >= 500:
            raise PsaUnavailable(f"Redmine did not confirm the parent project {identifier}; try again later")
        raise RecordError(account_key, "parent", error_text(response))

    # --- helpers ------------------------------------------------------------------------------

    def identifier(self, key: str) -> str:
        """The identifier psa-sync gives the project of ``key`` (prefer it among copies)."""
        return f"{self.identifier_prefix}{key.lower()}"

    def _lookup(self, identifier: str) -> tuple[int, dict | None]:
        response = self.http.send("GET", f"/projects/{identifier}.json")
        if response.status_code == 200:
            return 200, response.json()["project"]
        if response.status_code in (403, 404):
            return response.status_code, None
        raise PsaUnavailable(f"Redmine answered {response.status_code} looking up project {identifier}")

    def _projects_with_keys(self, keys: list[str]) -> list[dict]:
        key_cf = self.fields()["key"].id
        projects = []
        for chunk in _chunks_within(keys, _KEY_CHARS_PER_CALL):
            # the leading "=" pins the operator, whatever the key starts with
            params = {f"cf_{key_cf}": "=" + "|".join(chunk), "status": "1|5"}
            projects.extend(self.http.pages("/projects.json", params, "projects"))
        return projects

    def _projects_by_ids(self, ids: list[int]) -> list[dict]:
        unique = list(dict.fromkeys(ids))
        projects = []
        step = self.http.page_size
        for start in range(0, len(unique), step):
            chunk = "|".join(str(i) for i in unique[start : start + step])
            projects.extend(self.http.pages("/projects.json", {"id": "=" + chunk, "status": "1|5"}, "projects"))
        return projects

    def _ref(self, project: dict, key: str | None = None) -> ProjectRef:
        if key is None:
            key = custom_value(project, self.fields()["key"]) or ""
        parent = project.get("parent") or {}
        return ProjectRef(
            id=int(project["id"]),
            identifier=project["identifier"],
            key=str(key),
            url=f"{self.url}/projects/{project['identifier']}",
            status=_STATUS.get(project.get("status"), "closed"),
            parent_id=parent.get("id"),
        )

    def _values(self, project: dict) -> dict:
        return typed_values(project, self.fields())

    def _project_body(self, fields: dict[str, Any], key: str | None = None) -> dict:
        return project_body(fields, self.fields(), key=key, where=self.url)

    def _map_writes(self, fn: Callable[[Any], WriteResult], items: Sequence[Any]) -> list[WriteResult]:
        """``write_concurrency`` requests at a time (see ``run_bounded`` for failures)."""
        return run_bounded(fn, items, self.write_concurrency)

    def _map_reads(self, fn: Callable[[int], Decimal], ids: list[int]) -> dict[int, Decimal]:
        return dict(zip(ids, run_bounded(fn, ids, max(2, self.write_concurrency)), strict=True))


def _chunks_within(keys: list[str], budget: int) -> list[list[str]]:
    """Split keys into runs whose joined, URL-encoded length stays within ``budget``."""
    chunks: list[list[str]] = [[]]
    used = 0
    for key in keys:
        cost = len(requests.utils.quote(key, safe="")) + 3  # + the encoded "|"
        if chunks[-1] and used + cost > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(key)
        used += cost
    return [c for c in chunks if c]


def _check_options(prefix, concurrency, customer, on_closed, custom_fields) -> None:
    problems = []
    if not isinstance(prefix, str) or not _IDENTIFIER_PREFIX.match(prefix):
        problems.append(
            f"psa.options.identifier_prefix: {prefix!r} must start with a lower-case letter and use only a-z 0-9 - _"
        )
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or not 1 <= concurrency <= 16:
        problems.append(f"psa.options.write_concurrency: {concurrency!r} must be an integer from 1 to 16")
    if customer not in ("custom_field", "parent_project"):
        problems.append(f"psa.options.customer: {customer!r} must be custom_field or parent_project")
    if on_closed not in ("skip", "reopen_update_close"):
        problems.append(f"psa.options.on_closed: {on_closed!r} must be skip or reopen_update_close")
    if custom_fields is not None and not (
        isinstance(custom_fields, dict) and all(isinstance(v, str) for v in custom_fields.values())
    ):
        problems.append("psa.options.custom_fields: must map our field names to Redmine custom field names")
    if problems:
        raise ConfigError(problems)
