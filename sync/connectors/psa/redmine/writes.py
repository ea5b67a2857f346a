"""Writing Redmine: create, update, close or reopen projects, and the Accounts' parent projects.

Per-record trouble is an outcome (:class:`sync.common.model.Outcome`), never an exception: 422
failed, 403 closed (read-only), 5xx unknown. A create answered 5xx, or not answered, may still have
committed (SQLite "database is locked" fails some requests after their commit), so it is looked up
by its identifier before it is called anything; so is a 201 whose body is not the project (a proxy's
page, a cut body): something committed, and only the look-up can say what. The identifier is unique
in Redmine, so a second create of one deal is refused (422) and the existing project adopted. At
most ``concurrency`` requests run at once, because Redmine's writes serialise on SQLite.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import requests

from sync.common.errors import PsaUnavailable, RecordError
from sync.common.model import Outcome
from sync.connectors.psa.base import NewProject, ProjectChange, ProjectRef, WriteResult
from sync.connectors.psa.batch import run_bounded
from sync.connectors.psa.redmine.http import error_text, path
from sync.connectors.psa.redmine.site import ONE_PROJECT, RedmineSite

CREATE_ATTEMPTS = (
    3  # a create answered 5xx and surely not committed is sent again, this often in all
)
CREATE_BACKOFF_SECONDS = 0.2  # doubled after each attempt


class RedmineWrites:
    """The write half of the Redmine connector; results come back in input order."""

    def __init__(self, site: RedmineSite, concurrency: int):
        self.site = site
        self.http = site.http
        self.concurrency = concurrency
        self._lock = threading.Lock()
        self._parents: dict[str, ProjectRef] = {}

    def create(self, rows: Sequence[NewProject]) -> list[WriteResult]:
        """One project per row; results in input order (:class:`sync.common.model.Outcome`)."""
        self.site.fields()
        return self._map(self._create_one, rows)

    def update(self, changes: Sequence[ProjectChange]) -> list[WriteResult]:
        """PUT only the given fields: 204 updated, 403 closed (read-only), 422 failed."""
        self.site.fields()
        return self._map(self._update_one, changes)

    def set_lifecycle(self, refs: Sequence[ProjectRef], action: str) -> list[WriteResult]:
        """Close or reopen (never archive: archived projects vanish from the API)."""
        if action not in ("close", "reopen"):
            raise ValueError(f"set_lifecycle: action must be 'close' or 'reopen', not {action!r}")
        return self._map(lambda ref: self._lifecycle_one(ref, action), refs)

    def set_keys(self, pairs: Sequence[tuple[ProjectRef, str | None]]) -> list[WriteResult]:
        """Write (or clear: None) each project's key. A closed project is read-only in Redmine, so
        it is reopened, given its key and closed again (that project only, never a parent)."""
        self.site.fields()
        return self._map(lambda pair: self._key_one(*pair), pairs)

    def ensure_parent(
        self, account_id: str, name: str, fields: dict[str, Any] | None = None
    ) -> ProjectRef:
        """The one parent project of an Account (``customer: parent_project``), found or created.

        Identified by its identifier (prefix + "acct-" + Account Id lowercased) alone, so it never
        shows up as a linked deal project. ``fields`` supplies values Redmine requires of every
        project (a required "Billing type"); "customer" defaults to ``name``.
        """
        with self._lock:
            if account_id in self._parents:
                return self._parents[account_id]
        identifier = f"{self.site.identifier_prefix}acct-{account_id.lower()}"
        _, project = self.site.lookup(identifier)
        if project is None:
            project = self._create_parent(account_id, identifier, name, fields or {})
        ref = self.site.ref(project, key=account_id)
        with self._lock:
            self._parents[account_id] = ref
        return ref

    # --- one create -----------------------------------------------------------------------------

    def _create_one(self, row: NewProject) -> WriteResult:
        identifier = self.site.identifier(row.key)
        project = self.site.body(row.fields, key=row.key)
        project.update(identifier=identifier, is_public=False)
        if row.parent is not None:
            project["parent_id"] = row.parent.id
        for attempt in range(CREATE_ATTEMPTS):
            try:
                response = self.http.send("POST", path("projects"), body={"project": project})
            except PsaUnavailable as exc:
                # No answer: the request may still be running, so it is never sent again here.
                return self._confirm(row.key, identifier, str(exc))
            if response.status_code < 500:
                return self._settle_create(row.key, identifier, response)
            # A 5xx is a finished request (SQLite "database is locked" rolled it back, or it
            # committed before failing): look it up; resend only when it surely did not commit.
            result = self._confirm(row.key, identifier, f"HTTP {response.status_code}")
            if result.outcome != Outcome.UNKNOWN or attempt == CREATE_ATTEMPTS - 1:
                return result
            time.sleep(CREATE_BACKOFF_SECONDS * 2**attempt)
        raise AssertionError("unreachable")

    def _settle_create(self, key: str, identifier: str, response: requests.Response) -> WriteResult:
        if response.status_code == 201:
            body, problem = self.http.misfit(response, ONE_PROJECT)
            if problem is not None:  # committed, but unreadable: never "created", never sent again
                return self._confirm(key, identifier, problem)
            return WriteResult(key, Outcome.CREATED, ref=self.site.ref(body["project"]))
        # 422 (or another 4xx): if the identifier is taken, the project exists — adopt it.
        # Decided by looking it up, not by parsing Redmine's (translatable) message.
        message = error_text(response)
        status, existing = self.site.lookup(identifier)
        if existing is not None:
            return self._adopt(key, existing)
        if status == 403:
            message += (
                f"; identifier {identifier} belongs to an archived project: unarchive it in Redmine"
            )
        return WriteResult(key, Outcome.FAILED, error=message)

    def _confirm(self, key: str, identifier: str, why: str) -> WriteResult:
        """After a create with no clear answer: did it commit? (the lookup may raise)."""
        _, existing = self.site.lookup(identifier)
        if existing is not None:
            return self._adopt(key, existing)
        return WriteResult(
            key, Outcome.UNKNOWN, error=f"create of {identifier} unconfirmed ({why}); not found"
        )

    def _adopt(self, key: str, project: dict) -> WriteResult:
        ref = self.site.ref(project)
        if ref.key and ref.key != key:
            return WriteResult(
                key,
                Outcome.FAILED,
                error=f"identifier {ref.identifier} is taken by project {ref.id} of key {ref.key}",
            )
        if not ref.key:  # made by hand without the key: give it the key so find() sees it
            self._send_update(ref, {"key": key})
            ref = replace(ref, key=key)
        return WriteResult(
            key, Outcome.EXISTS, ref=ref, values={**self.site.values(project), "key": key}
        )

    # --- one update or lifecycle change ---------------------------------------------------------

    def _update_one(self, change: ProjectChange) -> WriteResult:
        ref = change.ref
        if not change.fields:
            return WriteResult(ref.key, Outcome.UNCHANGED, ref=ref)
        response = self._send_update(ref, change.fields)
        return self._write_outcome(ref, response, ok=ref, forbidden=Outcome.CLOSED)

    def _lifecycle_one(self, ref: ProjectRef, action: str) -> WriteResult:
        response = self.http.send("PUT", path("projects", ref.id, action))
        done = replace(ref, status="closed" if action == "close" else "active")
        return self._write_outcome(ref, response, ok=done, forbidden=Outcome.FAILED)

    def _send_update(self, ref: ProjectRef, fields: dict[str, Any]) -> requests.Response:
        body = {"project": self.site.body(fields)}
        return self.http.send("PUT", path("projects", ref.id), body=body)

    def _write_outcome(
        self, ref: ProjectRef, response: requests.Response, *, ok: ProjectRef, forbidden: Outcome
    ) -> WriteResult:
        status = response.status_code
        if 200 <= status < 300:
            return WriteResult(ref.key, Outcome.UPDATED, ref=ok)
        if status == 403:
            why = "project is closed (read-only) or archived in Redmine"
            return WriteResult(ref.key, forbidden, ref=ref, error=why)
        if status == 404:
            return WriteResult(
                ref.key,
                Outcome.FAILED,
                ref=ref,
                error=f"project {ref.id} no longer exists in Redmine",
            )
        if status >= 500:
            return WriteResult(
                ref.key, Outcome.UNKNOWN, ref=ref, error=f"HTTP {status}; try again next run"
            )
        return WriteResult(ref.key, Outcome.FAILED, ref=ref, error=error_text(response))

    def _key_one(self, ref: ProjectRef, key: str | None) -> WriteResult:
        change = ProjectChange(ref=ref, fields={"key": key or ""})
        result = self._update_one(change)
        if result.outcome == Outcome.CLOSED:
            reopened = self._lifecycle_one(ref, "reopen")
            if reopened.outcome != Outcome.UPDATED:
                return WriteResult(
                    ref.key,
                    Outcome.FAILED,
                    ref=ref,
                    error=f"project {ref.id} is closed and could "
                    f"not be reopened to write its key: {reopened.error}",
                )
            result = self._update_one(change)
            closed = self._lifecycle_one(ref, "close")
            if (
                closed.outcome != Outcome.UPDATED
            ):  # never leave a person's closed project open quietly
                return WriteResult(
                    ref.key,
                    Outcome.FAILED,
                    ref=ref,
                    error=f"project {ref.id} was reopened to "
                    f"write its key and could not be closed again ({closed.error}); close it",
                )
        return replace(result, key=key or "", ref=replace(ref, key=key or ""))

    # --- one parent -----------------------------------------------------------------------------

    def _create_parent(self, account_id: str, identifier: str, name: str, fields: dict) -> dict:
        project = self.site.body({"customer": name, **fields, "name": name})
        project.update(identifier=identifier, is_public=False)
        try:
            response = self.http.send("POST", path("projects"), body={"project": project})
        except PsaUnavailable:
            response = None
        if response is not None and response.status_code == 201:
            body, problem = self.http.misfit(response, ONE_PROJECT)
            if problem is None:
                return body["project"]
        _, existing = self.site.lookup(
            identifier
        )  # raced, committed behind a 500, or an unreadable 201
        if existing is not None:
            return existing
        if response is None or response.status_code >= 500 or response.status_code == 201:
            raise PsaUnavailable(
                f"Redmine did not confirm the parent project {identifier}; try again later"
            )
        raise RecordError(account_id, "parent", error_text(response))

    def _map(self, fn: Callable[[Any], WriteResult], items: Sequence[Any]) -> list[WriteResult]:
        """``concurrency`` requests at a time (see ``run_bounded`` for failures)."""
        return run_bounded(fn, items, self.concurrency)
