"""People on a Redmine project: users found by e-mail, memberships with a role found by name.

Facts from Redmine 5.0.4 this is built on:

* ``GET /users.json?name=x`` (admin only) matches x against login, first and last name and mail,
  as a substring, and lists active users only by default; so each hit's ``mail`` is compared with
  the address exactly (ignoring case), and a locked user is never matched.
* ``GET /roles.json`` lists the roles (id, name); a mapping names roles by name.
* ``POST /projects/:id/memberships.json`` adds a user with ``role_ids``; a user already on the
  project is refused (422), so the memberships are read first and an existing one is given the
  extra role with ``PUT /memberships/:id.json`` (its ``role_ids`` replace the non-inherited ones).
"""

from __future__ import annotations

from collections.abc import Sequence

import requests

from sync.common.model import Outcome
from sync.connectors.answers import json_of
from sync.connectors.psa.base import Member, ProjectRef, WriteResult
from sync.connectors.psa.redmine.http import RedmineHttp, error_text, path

_USERS = {"users": [{"id": int, "mail?": str}], "total_count?": int}
_ROLES = {"roles": [{"id": int, "name": str}]}
_MEMBERSHIP = {"id": int, "user?": {"id": int}, "roles": [{"id": int}]}


class RedmineMembers:
    """``users_by_email`` and ``set_members`` of the Redmine connector."""

    def __init__(self, http: RedmineHttp):
        self.http = http
        self._roles: dict[str, int] | None = None
        self._role_names: list[str] = []
        self._users: dict[str, int] = {}  # found addresses only: a user created later is found then

    def users_by_email(self, emails: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for email in dict.fromkeys(e.strip().lower() for e in emails if e and e.strip()):
            if email not in self._users:
                body = self.http.get("/users.json", {"name": email, "limit": 100}, shape=_USERS)
                exact = [
                    u["id"] for u in body["users"] if (u.get("mail") or "").strip().lower() == email
                ]
                if exact:
                    self._users[email] = min(exact)
            if email in self._users:
                found[email] = self._users[email]
        return found

    def roles(self) -> dict[str, int]:
        """Role name (lower-cased) → id, read once."""
        if self._roles is None:
            body = self.http.get("/roles.json", shape=_ROLES)
            self._roles = {r["name"].strip().lower(): r["id"] for r in body["roles"]}
            self._role_names = sorted(r["name"].strip() for r in body["roles"])
        return self._roles

    def role_names(self) -> list[str]:
        """The roles' names as Redmine spells them (``check`` lists them for an unknown role)."""
        self.roles()
        return self._role_names

    def set_members(self, ref: ProjectRef, members: Sequence[Member]) -> WriteResult:
        roles = self.roles()
        unknown = sorted({m.role for m in members if m.role.strip().lower() not in roles})
        if unknown:
            known = ", ".join(sorted(roles)) or "none"
            return WriteResult(
                ref.key,
                Outcome.FAILED,
                ref=ref,
                error=f"Redmine has no role {', '.join(unknown)} (its roles: {known}); "
                "fix members.<name>.role in the mapping or add the role in Redmine",
            )
        current = self._memberships(ref)
        if current is None:
            return WriteResult(
                ref.key,
                Outcome.FAILED,
                ref=ref,
                error=f"project {ref.id} no longer exists in Redmine",
            )
        outcome = Outcome.UNCHANGED
        for member in members:
            role_id = roles[member.role.strip().lower()]
            held = current.get(member.user_id)
            if held is not None and role_id in held[1]:
                continue
            response = self._send(ref, member.user_id, role_id, held)
            if response.status_code >= 500:
                return WriteResult(
                    ref.key, Outcome.UNKNOWN, ref=ref, error=f"HTTP {response.status_code}"
                )
            if not 200 <= response.status_code < 300:
                return WriteResult(
                    ref.key,
                    Outcome.FAILED,
                    ref=ref,
                    error=f"HTTP {response.status_code}: {error_text(response)}",
                )
            current[member.user_id] = (
                held[0] if held else _membership_id(response),
                [*(held[1] if held else []), role_id],
            )
            outcome = Outcome.UPDATED
        return WriteResult(ref.key, outcome, ref=ref)

    def _memberships(self, ref: ProjectRef) -> dict[int, tuple[int, list[int]]] | None:
        """user id → (membership id, own role ids); groups are left out. None: no such project."""
        out: dict[int, tuple[int, list[int]]] = {}
        for items in self.http.page_lists(
            path("projects", ref.id, "memberships"), {}, "memberships", _MEMBERSHIP, missing_ok=True
        ):
            if items is None:
                return None
            for item in items:
                if item.get("user"):
                    own = [r["id"] for r in item["roles"] if not r.get("inherited")]
                    out[item["user"]["id"]] = (item["id"], own)
        return out

    def _send(
        self, ref: ProjectRef, user_id: int, role_id: int, held: tuple[int, list[int]] | None
    ) -> requests.Response:
        if held is None:
            body = {"membership": {"user_id": user_id, "role_ids": [role_id]}}
            return self.http.send("POST", path("projects", ref.id, "memberships"), body=body)
        return self.http.send(
            "PUT",
            path("memberships", held[0]),
            body={"membership": {"role_ids": [*held[1], role_id]}},
        )


def _membership_id(response: requests.Response) -> int:
    """The id of a membership just created (0 if the answer does not say: a later PUT then fails
    with the PSA's own words rather than touching another membership)."""
    body = json_of(response)
    membership = body.get("membership") if isinstance(body, dict) else None
    found = membership.get("id") if isinstance(membership, dict) else None
    return found if isinstance(found, int) else 0
