"""`psa-sync check` of the mapping's ``members``: each ``from`` must be a lookup to User.

The run reads a member's e-mail through the lookup's relationship (``Owner.Email``); a field that
is not a reference to User would make that query fail, or read something that is not a person. The
describe of the source object (already made by the Salesforce check) says, per field, its ``type``,
``referenceTo`` and ``relationshipName``: no extra call.
"""

from __future__ import annotations

from sync.common.errors import SyncError
from sync.mapping.model import Mapping
from sync.ops.check.runner import Findings


def check_members(fields: dict[str, dict], mapping: Mapping, findings: Findings) -> None:
    """One ERROR per member whose ``from`` is missing from the describe or is not a User lookup."""
    source = mapping.source.object
    for name, member in mapping.members.items():
        where = ("members", name, "from")
        field = fields.get(member.lookup.lower())
        if field is None:
            findings.at(
                "ERROR",
                where,
                f"{source} has no field '{member.lookup}' (or the integration user "
                "cannot read it); name a lookup to User such as OwnerId",
            )
            continue
        targets = field.get("referenceTo") or []
        if field.get("type") != "reference" or "User" not in targets:
            what = (
                f"a lookup to {', '.join(targets)}"
                if targets
                else f"a {field.get('type', '?')} field"
            )
            findings.at(
                "ERROR",
                where,
                f"{source}.{field['name']} is {what}, not a lookup to User: members "
                "are Salesforce users, matched to PSA users by e-mail",
            )
        elif (field.get("relationshipName") or "").lower() != member.relationship.lower():
            findings.at(
                "ERROR",
                where,
                f"{source}.{field['name']} is reached as "
                f"{field.get('relationshipName')}, not {member.relationship}; "
                "psa-sync reads the e-mail through <relationship>.Email",
            )


def check_member_roles(psa, mapping: Mapping, findings: Findings) -> None:
    """One ERROR per member whose ``role`` the PSA does not have.

    Roles are matched ignoring case, as the run does. A WARN when the PSA's projects have no
    members at all (the connector has no ``role_names``).
    """
    if not mapping.members:
        return
    role_names = getattr(psa, "role_names", None)
    if role_names is None:
        findings.at(
            "WARN",
            ("members",),
            "this PSA's projects have no members: each deal's members are "
            "reported as a 'members' event, never set",
        )
        return
    try:
        names = role_names()
    except SyncError as exc:
        findings.failure("psa", exc)
        return
    known = {name.lower() for name in names}
    for name, member in mapping.members.items():
        if member.role.strip().lower() not in known:
            findings.at(
                "ERROR",
                ("members", name, "role"),
                f"the PSA has no role '{member.role}' (its roles: "
                f"{', '.join(names) or 'none'}); name one of them",
            )
