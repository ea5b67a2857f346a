"""What a Salesforce describe says about a field path the mapping names, for `psa-sync check`.

Cost: one ``describe`` per object reached — the source object and each parent reached through a
relationship path such as ``Account.Name`` (the relationship is resolved with the describe's
``relationshipName`` and ``referenceTo``). Describes are cached per object, so ``Account.Name``
in three rules is still one describe of Account.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sync.common.errors import ConfigError
from sync.connectors.salesforce.client import SalesforceClient


@dataclass(frozen=True)
class Resolved:
    """Where a field path leads: its describe entry, or why it could not be found."""

    field: dict | None
    owner: str
    parent: bool
    problem: str | None = None
    note: str | None = None


class Describer:
    """One describe per object (cached by lower-case name); fields keyed by lower-case name."""

    def __init__(self, client: SalesforceClient):
        self._client = client
        self._cache: dict[str, tuple[dict[str, dict] | None, str | None]] = {}
        self.described: list[str] = []  # object names as describe spells them, in call order

    def fields(self, sobject: str) -> tuple[dict[str, dict] | None, str | None]:
        """(fields by lower-case name, None) or (None, why the object cannot be described)."""
        key = sobject.lower()
        if key not in self._cache:
            try:
                body = self._client.describe(sobject)
            except ConfigError as exc:  # 404 and friends; unreachable/auth propagate
                self._cache[key] = (None, f"Salesforce cannot describe {sobject}: {exc}")
            else:
                self._cache[key] = ({f["name"].lower(): f for f in body.get("fields") or []}, None)
                self.described.append(str(body.get("name") or sobject))
        return self._cache[key]


def suggest(name: str, candidates: list[str]) -> str:
    """`; did you mean 'Amount'?` for a near miss (ignoring case, like Salesforce), else ``""``."""
    by_lower = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.75)
    return f"; did you mean '{by_lower[close[0]]}'?" if close else ""


def resolve(describer: Describer, source: str, path: str) -> Resolved:
    """Follow ``Account.Owner.Email`` from ``source`` through each relationship to the field."""
    obj, segments = source, path.split(".")
    for rel in segments[:-1]:
        fields, why = describer.fields(obj)
        if fields is None:
            return Resolved(None, obj, True, problem=why)
        ref = next(
            (
                f
                for f in fields.values()
                if (f.get("relationshipName") or "").lower() == rel.lower()
            ),
            None,
        )
        if ref is None:
            names = [f["relationshipName"] for f in fields.values() if f.get("relationshipName")]
            return Resolved(
                None, obj, True, problem=f"{obj} has no relationship '{rel}'{suggest(rel, names)}"
            )
        targets = ref.get("referenceTo") or []
        if len(targets) != 1:
            return Resolved(
                None,
                obj,
                True,
                note=f"{obj}.{ref['relationshipName']} is polymorphic "
                f"({', '.join(targets) or 'no target'}): {path} cannot be "
                "verified by describe",
            )
        obj = targets[0]
    fields, why = describer.fields(obj)
    if fields is None:
        return Resolved(None, obj, len(segments) > 1, problem=why)
    name = segments[-1]
    found = fields.get(name.lower())
    if found is not None:
        return Resolved(found, obj, len(segments) > 1)
    return Resolved(None, obj, len(segments) > 1, problem=_missing(obj, name, fields))


def _missing(obj: str, name: str, fields: dict[str, dict]) -> str:
    relationship = next(
        (f for f in fields.values() if (f.get("relationshipName") or "").lower() == name.lower()),
        None,
    )
    if relationship is not None:
        return (
            f"{obj}.{relationship['relationshipName']} is a relationship, not a field: "
            f"name one of its fields, such as {relationship['relationshipName']}.Name"
        )
    hint = suggest(name, [f["name"] for f in fields.values()])
    return f"{obj} has no field '{name}' (or the integration user cannot read it){hint}"
