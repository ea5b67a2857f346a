"""Writing Tryton: create, update, close or reopen project works, and write keys.

A create is never sent twice blind: after a refusal, a 5xx or no answer, the key is looked up
(one search: ``salesforce_key`` is unique and indexed). Found: the project exists and is adopted.
Not found after a 5xx or no answer: it is sent again (at most ``CREATE_ATTEMPTS`` in all), which is
safe because the database refuses a second project with the same key. Updates and lifecycle changes
write values, so sending them again is harmless (``rpc`` retries them).

Tryton lets anyone write a Done project; psa-sync does not: a project whose status is Done is
"closed" (read-only to psa-sync, as ``on_closed`` says), found by one read before the updates.
Closing sets status Done *and* progress 100 %, because Tryton refuses Done below 100 % (README.md,
"Tryton"); reopening sets status Open and leaves progress as it is.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sync.common.errors import PsaUnavailable
from sync.common.model import Outcome
from sync.connectors.psa.base import NewProject, ProjectChange, ProjectRef, WriteResult
from sync.connectors.psa.batch import run_bounded
from sync.connectors.psa.tryton.reads import TrytonReads
from sync.connectors.psa.tryton.rpc import TrytonError
from sync.connectors.psa.tryton.site import KEY, TrytonSite

CREATE_ATTEMPTS = 3
BACKOFF_SECONDS = 0.2


class TrytonWrites:
    """The write half of the Tryton connector; results come back in input order."""

    def __init__(self, site: TrytonSite, reads: TrytonReads, concurrency: int):
        self.site = site
        self.rpc = site.rpc
        self.reads = reads
        self.concurrency = concurrency

    # --- create ---------------------------------------------------------------------------------

    def create(self, rows: Sequence[NewProject]) -> list[WriteResult]:
        self.site.fields()
        return run_bounded(self._create_one, rows, self.concurrency)

    def _create_one(self, row: NewProject) -> WriteResult:
        try:
            values = {
                "type": "project",
                "company": self.rpc.context().get("company"),
                KEY: row.key,
                **self.site.body(row.fields),
            }
        except TrytonError as exc:  # e.g. no such party and parties are not created
            return WriteResult(row.key, Outcome.FAILED, error=exc.message)
        if row.parent is not None:
            values["parent"] = row.parent.id
        why = ""
        for attempt in range(CREATE_ATTEMPTS):
            try:
                [work_id] = self.rpc.model("project.work", "create", [values], idempotent=False)
            except (
                TrytonError
            ) as exc:  # refused: a taken key adopts the project, anything else fails
                existing = self.reads.by_key(row.key)
                if existing is not None:
                    return self._adopt(row.key, existing)
                return WriteResult(row.key, Outcome.FAILED, error=exc.message)
            except PsaUnavailable as exc:  # may have committed: look before sending it again
                why = str(exc)
                existing = self.reads.by_key(row.key)
                if existing is not None:
                    return self._adopt(row.key, existing)
                if attempt < CREATE_ATTEMPTS - 1:
                    time.sleep(BACKOFF_SECONDS * 2**attempt)
                continue
            record = {
                "id": work_id,
                KEY: row.key,
                "status.": {"name": "Open", "progress": None},
                "parent": row.parent.id if row.parent else None,
            }
            return WriteResult(
                row.key, Outcome.CREATED, ref=self.site.ref(record)
            )  # one call per create
        return WriteResult(
            row.key, Outcome.UNKNOWN, error=f"create of {row.key} unconfirmed ({why}); not found"
        )

    def _adopt(self, key: str, record: dict) -> WriteResult:
        return WriteResult(
            key, Outcome.EXISTS, ref=self.site.ref(record), values=self.site.values(record)
        )

    # --- update ---------------------------------------------------------------------------------

    def update(self, changes: Sequence[ProjectChange]) -> list[WriteResult]:
        """Only the given fields; a Done project is ``closed``, a missing one ``failed``."""
        todo = [c for c in changes if c.fields]
        current = self.reads.records([c.ref.id for c in todo]) if todo else {}
        results = []
        for change in changes:
            ref = change.ref
            if not change.fields:
                results.append(WriteResult(ref.key, Outcome.UNCHANGED, ref=ref))
            elif ref.id not in current:
                results.append(
                    WriteResult(
                        ref.key,
                        Outcome.FAILED,
                        ref=ref,
                        error=f"project {ref.id} no longer exists in Tryton",
                    )
                )
            elif self.site.ref(current[ref.id]).status == "closed":
                results.append(
                    WriteResult(
                        ref.key,
                        Outcome.CLOSED,
                        ref=ref,
                        error="project is Done in Tryton (psa-sync does not write it)",
                    )
                )
            else:
                results.append(self._write(ref, change.fields, ok=ref))
        return results

    def _write(
        self, ref: ProjectRef, fields: dict, *, ok: ProjectRef, raw: dict | None = None
    ) -> WriteResult:
        try:
            values = raw if raw is not None else self.site.body(fields)
            self.rpc.model("project.work", "write", [ref.id], values)
        except TrytonError as exc:
            return WriteResult(ref.key, Outcome.FAILED, ref=ref, error=exc.message)
        except PsaUnavailable as exc:
            return WriteResult(
                ref.key, Outcome.UNKNOWN, ref=ref, error=f"{exc}; try again next run"
            )
        return WriteResult(ref.key, Outcome.UPDATED, ref=ok)

    # --- lifecycle and keys -----------------------------------------------------------------------

    def set_lifecycle(self, refs: Sequence[ProjectRef], action: str) -> list[WriteResult]:
        """close: status Done with progress 100 % (Tryton's rule); reopen: status Open."""
        if action not in ("close", "reopen"):
            raise ValueError(f"set_lifecycle: action must be 'close' or 'reopen', not {action!r}")
        if action == "close":
            values = {"status": self.site.status_id(closed=True), "progress": 1.0}
        else:
            values = {"status": self.site.status_id(closed=False)}
        status = "closed" if action == "close" else "active"
        return [self._write(ref, {}, ok=_with(ref, status=status), raw=values) for ref in refs]

    def set_keys(self, pairs: Sequence[tuple[ProjectRef, str | None]]) -> list[WriteResult]:
        """Write (or clear: None) each project's key; Tryton lets a Done project take it as it is.
        A key another project carries is refused by the database (``failed``)."""
        results = []
        for ref, key in pairs:
            new = _with(
                ref, key=key or "", identifier=self.site.identifier(key) if key else str(ref.id)
            )
            result = self._write(ref, {}, ok=new, raw={KEY: key or None})
            results.append(
                WriteResult(
                    key or "",
                    result.outcome,
                    ref=new if result.outcome == "updated" else ref,
                    error=result.error,
                )
            )
        return results


def _with(ref: ProjectRef, **changes: Any) -> ProjectRef:
    from dataclasses import replace

    return replace(ref, **changes)
