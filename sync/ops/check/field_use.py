"""One place the mapping names a Salesforce field, checked against its describe.

What psa-sync does with the field there decides what must hold: a written field must be
updateable and take the value, a key must be unique, a read field's type must parse as the rule's
type, a value map's keys must be values of the picklist.

Why the warnings about parent and formula fields: psa-sync reads records changed since a
SystemModstamp watermark. Editing an Account does not move its Opportunities' SystemModstamp,
and a formula's value changes without any write, so such a change reaches the PSA only when the
record itself is next edited.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.common.yamldoc import KeyPath
from sync.mapping.model import FieldRule
from sync.ops.check.describe import Describer, Resolved, resolve, suggest
from sync.ops.check.runner import Findings

TEXT_TYPES = frozenset(
    {"string", "textarea", "url", "picklist", "email", "phone", "combobox", "encryptedstring"}
)
PICKLIST_TYPES = frozenset({"picklist", "multipicklist"})
# Salesforce field types that can hold a value of each mapping type (text holds anything).
_HOLDS: dict[str, frozenset[str]] = {
    "string": TEXT_TYPES,
    "decimal": TEXT_TYPES | {"double", "currency", "percent"},
    "integer": TEXT_TYPES | {"int", "double", "currency", "percent"},
    "date": TEXT_TYPES | {"date"},
    "datetime": TEXT_TYPES | {"datetime"},
    "boolean": TEXT_TYPES | {"boolean"},
}

_NUMBERS = frozenset({"int", "double", "currency", "percent"})
_IDS = frozenset({"id", "reference"})
# Salesforce types whose values never parse as a mapping type: every record with a value would
# be quarantined, so a `type` that meets one of these is an error, not a style question.
_NEVER_PARSES: dict[str, frozenset[str]] = {
    "decimal": _IDS | {"date", "datetime", "boolean"},
    "integer": _IDS | {"date", "datetime", "boolean"},
    "date": _IDS | _NUMBERS | {"boolean"},
    "datetime": _IDS | _NUMBERS | {"date", "boolean"},
    "boolean": _IDS | {"date", "datetime", "double", "currency", "percent"},
}


@dataclass(frozen=True)
class FieldUse:
    """One place the mapping names a Salesforce field, and what psa-sync does with it there.

    ``role`` is ``read`` (a project field's source), ``criteria``, ``key``, ``system`` (the
    fields every run selects) or ``write`` (writeback and backsync targets).
    """

    path: str
    key: KeyPath
    role: str
    rule: FieldRule | None = None
    rule_key: KeyPath = ()


def check_use(describer: Describer, source: str, use: FieldUse, findings: Findings) -> None:
    """One field use resolved against ``source``'s describe.

    What does not fit is an ERROR at its mapping key (or a WARN when it only may not fit).
    """
    found = resolve(describer, source, use.path)
    if found.problem is not None:
        findings.at("ERROR", use.key, _problem_text(use, found.problem, source))
        return
    if found.field is None:
        findings.at("WARN", use.key, found.note or f"{use.path} could not be verified")
        return
    field = found.field
    if use.role == "write":
        _check_write(use, found.owner, field, findings)
    elif use.role == "key":
        _check_key(use, found.owner, field, findings)
    elif use.role in ("read", "criteria"):
        _check_freshness(use, found, source, findings)
        _check_parses(use, found, findings)
        if use.rule is not None and use.rule.value_map and field.get("type") in PICKLIST_TYPES:
            _check_picklist(use, found.owner, field, findings)


def _problem_text(use: FieldUse, problem: str, source: str) -> str:
    if use.role == "system":
        return (
            f"{problem}: psa-sync selects {use.path} on every run, "
            f"so {source} cannot be a source object"
        )
    return problem


def _check_write(use: FieldUse, owner: str, field: dict, findings: Findings) -> None:
    name, sf_type = f"{owner}.{field['name']}", field.get("type", "?")
    if not field.get("updateable"):
        why = "a formula field" if field.get("calculated") else "read-only for the integration user"
        findings.at(
            "ERROR",
            use.key,
            f"{name} is not updateable ({why}); psa-sync writes it, so every "
            "write-back would fail: pick an editable custom field or grant edit access",
        )
        return
    produced = use.rule.type if use.rule is not None else "string"
    if sf_type not in _HOLDS.get(produced, TEXT_TYPES):
        findings.at(
            "WARN",
            use.key,
            f"psa-sync writes a {produced} value into {name}, a {sf_type} field; "
            "Salesforce may refuse it (each refusal lands in the quarantine)",
        )


def _check_key(use: FieldUse, owner: str, field: dict, findings: Findings) -> None:
    if field.get("type") == "id" or field.get("externalId") or field.get("unique"):
        return
    findings.at(
        "WARN",
        use.key,
        f"{owner}.{field['name']} is neither the Id nor a unique External ID field: "
        "two records with the same value would share one project",
    )


def _check_freshness(use: FieldUse, found: Resolved, source: str, findings: Findings) -> None:
    what = "the criteria read" if use.role == "criteria" else "it reads"
    later = f"so such a change reaches the PSA only when the {source} itself is next edited"
    if found.parent:
        findings.at(
            "WARN",
            use.key,
            f"{what} {use.path}, a field of the parent {found.owner}: editing it does "
            f"not move the {source}'s SystemModstamp, {later}",
        )
    elif found.field and found.field.get("calculated"):
        findings.at(
            "WARN",
            use.key,
            f"{what} {use.path}, a formula field: its value changes without the "
            f"{source}'s SystemModstamp moving, {later}",
        )


def _check_parses(use: FieldUse, found: Resolved, findings: Findings) -> None:
    """A `from` whose Salesforce type can never become the rule's type quarantines every record."""
    rule = use.rule
    if (
        use.role != "read"
        or rule is None
        or rule.template is not None
        or rule.value_map is not None
    ):
        return
    sf_type = (found.field or {}).get("type", "")
    where = f"{found.owner}.{(found.field or {}).get('name', use.path)}"
    if rule.type == "date" and sf_type == "datetime" and rule.tz is None:
        findings.at(
            "ERROR",
            use.key,
            f"{where} is a datetime field: `type: date` needs `tz` (e.g. tz: "
            "Europe/Paris) to say in which time zone its day is taken; without it every "
            "record with a value is quarantined",
        )
    elif sf_type in _NEVER_PARSES.get(rule.type, ()):
        findings.at(
            "ERROR",
            use.key,
            f"{where} is a {sf_type} field, whose values never parse as "
            f"{rule.type}: every record with a value would be quarantined; fix `type`",
        )


def _check_picklist(use: FieldUse, owner: str, field: dict, findings: Findings) -> None:
    """Map keys are picklist API values, matched exactly; a key that no record can carry is dead."""
    values: dict[str, bool] = {
        v["value"]: bool(v.get("active", True)) for v in field.get("picklistValues") or []
    }
    name = f"{owner}.{field['name']}"
    rule = use.rule
    assert rule is not None and rule.value_map is not None
    for key in rule.value_map:
        where = (*use.rule_key, "map", key)
        if values.get(key):
            continue
        if key in values:
            findings.at(
                "WARN",
                where,
                f"'{key}' is an inactive value of the picklist {name}: only old records carry it",
            )
            continue
        same_case = next((v for v in values if v.lower() == key.lower()), None)
        if same_case is not None:
            findings.at(
                "WARN",
                where,
                f"map keys are matched exactly, and the picklist {name} spells it "
                f"'{same_case}': this entry never applies",
            )
        else:
            findings.at(
                "WARN",
                where,
                f"'{key}' is not a value of the picklist {name}"
                f"{suggest(key, list(values))}: this entry never applies",
            )
    _check_coverage(use, name, values, findings)


def _check_coverage(use: FieldUse, name: str, values: dict[str, bool], findings: Findings) -> None:
    rule = use.rule
    assert rule is not None and rule.value_map is not None
    if rule.unmapped != "error":
        return
    uncovered = [v for v, active in values.items() if active and v not in rule.value_map]
    if uncovered:
        listed = ", ".join(f"'{v}'" for v in uncovered)
        findings.at(
            "WARN",
            (*use.rule_key, "map"),
            f"active values of {name} with no entry: {listed}; a deal "
            "carrying one is quarantined (unmapped: error)",
        )
