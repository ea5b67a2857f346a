"""People on the project (the mapping's ``members``): load's view of the PSA when a mapping has
them.

A member travels in the payload as ``member.<name>`` (the user's e-mail), so the diff, the snapshot
and the ``sync`` policy handle it like any field (``sync/mapping/members.py``). The PSA's project
fields know nothing of it: :class:`MembersPsa` wraps the connector for load, takes the ``member.*``
values out of every create and update, sends the rest as before, and then, for each project the PSA
created or updated, matches the e-mails to PSA users and calls ``set_members``.

A person is never a reason to fail a deal: a user with no PSA account, an unknown role, or a PSA
that refuses or does not answer the membership is recorded as a ``members`` event (``explain``,
``status``) and logged, and the run goes on. Members are only ever added; a new owner joins the
project and the previous one stays (delivery owns its team).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sync.common.errors import SyncError
from sync.common.model import DONE, Outcome
from sync.connectors.psa.base import (
    Member,
    NewProject,
    ProjectChange,
    ProjectRef,
    PsaConnector,
    WriteResult,
)
from sync.mapping.members import MemberRule, member_values, project_values
from sync.state import State

logger = logging.getLogger(__name__)

ACTION = "members"
NO_ACCOUNT = "no-psa-user"  # the event outcome `status` counts


class MembersPsa:
    """A :class:`~sync.connectors.psa.base.PsaConnector` that also puts members on projects."""

    def __init__(
        self,
        psa: PsaConnector,
        members: dict[str, MemberRule],
        state: State,
        run_id: int,
        key_is_id: bool = True,
    ):
        self._psa = psa
        self._members = members
        self._state = state
        self._run_id = run_id
        self._key_is_id = key_is_id

    def __getattr__(self, name: str) -> Any:  # every other member of the protocol, unchanged
        return getattr(self._psa, name)

    def create(self, rows: Sequence[NewProject]) -> list[WriteResult]:
        results = self._psa.create(
            [replace(row, fields=project_values(row.fields)) for row in rows]
        )
        for row, result in zip(rows, results, strict=True):
            if result.outcome == Outcome.CREATED and result.ref is not None:
                self.assign(result.ref, member_values(row.fields))
        return results

    def update(self, changes: Sequence[ProjectChange]) -> list[WriteResult]:
        results = self._psa.update(
            [replace(change, fields=project_values(change.fields)) for change in changes]
        )
        for change, result in zip(changes, results, strict=True):
            wanted = member_values(change.fields)
            if wanted and result.outcome in DONE:
                self.assign(change.ref, wanted)
        return results

    def assign(self, ref: ProjectRef, emails: dict[str, Any]) -> None:
        """Put each named member's user on the project; report, never raise, what failed."""
        wanted = {
            name: str(email) for name, email in emails.items() if email and name in self._members
        }
        if not wanted:
            return
        try:
            users = self._psa.users_by_email(list(wanted.values()))
            found = [
                Member(users[email.lower()], self._members[name].role)
                for name, email in wanted.items()
                if email.lower() in users
            ]
            result = self._psa.set_members(ref, found) if found else None
        except SyncError as exc:  # a person is never a reason to stop the run
            self._note(ref, "failed", {"error": str(exc)})
            return
        missing = {
            name: {"email": email, "role": self._members[name].role}
            for name, email in wanted.items()
            if email.lower() not in users
        }
        if result is not None and result.outcome not in DONE:
            self._note(
                ref, "failed", {"error": result.error or str(result.outcome), "project_id": ref.id}
            )
        elif result is not None:
            added = {name: self._members[name].role for name in wanted if name not in missing}
            self._note(ref, str(result.outcome), {"members": added, "project_id": ref.id})
        # written last: a deal whose latest members event is this one still lacks someone
        if missing:
            logger.warning("project %s: no PSA user for %s", ref.id, ", ".join(sorted(missing)))
            self._note(ref, NO_ACCOUNT, {"missing": missing, "project_id": ref.id})

    def _note(self, ref: ProjectRef, outcome: str, detail: dict) -> None:
        with self._state.transaction():
            self._state.event(self._run_id, self._record_of(ref.key), ACTION, outcome, detail)

    def _record_of(self, key: str) -> str | None:
        """The record of a key: the key itself, or (external-Id keys) its intent or link."""
        return key if self._key_is_id else self._state.record_of_key(key)


def with_members(
    psa: PsaConnector, members: dict[str, MemberRule], state: State, run_id: int, key_is_id: bool
) -> PsaConnector:
    """``psa`` itself when the mapping has no members, else the wrapper."""
    return MembersPsa(psa, members, state, run_id, key_is_id) if members else psa  # type: ignore[return-value]


def unmatched(state: State, limit: int = 100) -> list[dict]:
    """``status``: the people missing from linked projects — deals whose latest ``members`` event
    says a user had no PSA account (a later change that matched everyone clears it), newest
    first."""
    out = []
    for record_id, detail in state.latest_events(ACTION, NO_ACCOUNT, limit):
        missing = (detail or {}).get("missing") or {}
        out += [
            {"record_id": record_id, "member": name, **person}
            for name, person in sorted(missing.items())
        ]
    return out
