"""The mapping's ``members`` section: Salesforce users put on the PSA project with a role.

```yaml
members:
  owner:         {from: OwnerId, role: Manager}                   # the deal owner
  delivery_lead: {from: Delivery_Lead__c, role: Developer, sync: on_create}
```

``from`` names a lookup to User on the source record (a standard ``…Id`` lookup or a custom
``…__c`` one). Its e-mail is read by the run's own query through the relationship
(``Owner.Email``, ``Delivery_Lead__r.Email``): no extra Salesforce call. The e-mail travels as
the project payload's ``member.<name>`` value, so the diff, the snapshot and the ``sync`` policy
treat a member like any field; load hands those values to the connector's ``set_members``
(``sync/load/members.py``). ``psa-sync check`` verifies against the describe that ``from`` is a
reference to User (``sync/ops/check/members.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sync.common.problems import Problems, kind_of
from sync.mapping.model import FieldRule

PREFIX = "member."  # payload key of a member: member.<name>
MEMBER_KEYS = ("from", "role", "sync")
SYNC = ("always", "on_create")
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_LOOKUP = re.compile(r"[A-Za-z][A-Za-z0-9_]*(Id|__c)\Z")


@dataclass(frozen=True)
class MemberRule:
    """One person put on the project: the user in ``lookup`` (e.g. ``OwnerId``), with ``role``."""

    name: str
    lookup: str  # the lookup field: OwnerId, Delivery_Lead__c
    role: str  # the PSA role's name: Manager, Developer
    sync: str = "always"
    line: int = 0

    @property
    def relationship(self) -> str:
        """``OwnerId`` → ``Owner``; ``Delivery_Lead__c`` → ``Delivery_Lead__r``."""
        if self.lookup.endswith("__c"):
            return self.lookup[:-3] + "__r"
        return self.lookup[:-2]

    @property
    def email_path(self) -> str:
        return f"{self.relationship}.Email"

    @property
    def field(self) -> str:
        """The payload key that carries the member's e-mail."""
        return PREFIX + self.name

    def rule(self) -> FieldRule:
        """The field rule the transform evaluates: the user's e-mail, trimmed and lower-cased."""
        return FieldRule(
            name=self.field,
            source=self.email_path,
            transforms=("strip", "lower"),
            sync=self.sync,
            line=self.line,
        )


def parse_members(value: Any, problems: Problems) -> dict[str, MemberRule]:
    """Validate ``members``; each problem goes to ``problems`` (``file:line: members.x.key: …``)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(
            ("members",),
            f"must be a mapping of name: {{from: <User lookup>, role: <PSA role>}}, "
            f"not {kind_of(value)}",
        )
        return {}
    out: dict[str, MemberRule] = {}
    for name, raw in value.items():
        rule = _member(name, raw, problems)
        if rule is not None:
            out[rule.name] = rule
    return out


def _member(name: Any, raw: Any, problems: Problems) -> MemberRule | None:
    path = ("members", str(name))
    before = len(problems.items)
    if not isinstance(name, str) or not _NAME.match(name):
        problems.add(path, f"'{name}' is not a member name (lower_case_with_underscores)")
    if not isinstance(raw, dict):
        problems.add(
            path,
            "must be {from: <User lookup such as OwnerId>, role: <PSA role>}, "
            f"not {kind_of(raw)}",
        )
        return None
    for key in raw:
        if key not in MEMBER_KEYS:
            problems.add(
                (*path, str(key)), f"unknown key '{key}'; valid keys: {', '.join(MEMBER_KEYS)}"
            )
    lookup = raw.get("from")
    if not isinstance(lookup, str) or not _LOOKUP.match(lookup):
        problems.add(
            (*path, "from"),
            "missing: name a lookup to User, e.g. from: OwnerId"
            if lookup is None
            else f"{lookup!r} is not a lookup field: name the User lookup itself, "
            "such as OwnerId or Delivery_Lead__c (its e-mail is read through the relationship)",
        )
    role = raw.get("role")
    if not isinstance(role, str) or not role.strip():
        problems.add(
            (*path, "role"),
            "missing: the PSA role's name, e.g. role: Manager"
            if role is None
            else f"{role!r} is not a role name such as Manager",
        )
    sync = raw.get("sync", "always")
    if sync not in SYNC:
        problems.add((*path, "sync"), f"{sync!r} is not one of: {', '.join(SYNC)}")
    if len(problems.items) != before:
        return None
    return MemberRule(
        name=name, lookup=lookup, role=role.strip(), sync=sync, line=problems.doc.line(path)
    )


def member_values(fields: dict[str, Any]) -> dict[str, Any]:
    """The ``member.*`` values of a payload or change, by member name."""
    return {name[len(PREFIX) :]: value for name, value in fields.items() if name.startswith(PREFIX)}


def project_values(fields: dict[str, Any]) -> dict[str, Any]:
    """A payload or change without its ``member.*`` values: what a project's own fields are."""
    return {name: value for name, value in fields.items() if not name.startswith(PREFIX)}
