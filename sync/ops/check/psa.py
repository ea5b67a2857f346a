"""The PSA half of `psa-sync check`: every project field has a place, and lists take our values.

The connector's ``describe()`` says which of our field names the PSA can take (for Redmine: the
native name and description, and each custom field it resolved by name), their type, whether
they are required, and a list field's allowed values. A mapped field with no place is an error
(README.md, "The mapping language"): the run would drop it on the floor. A value map whose
output a list field cannot take is an error too: every deal mapped to it would come back 422 and
land in quarantine.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sync.common.errors import SyncError
from sync.config import Settings
from sync.connectors.psa.base import FieldSpec, PsaConnector
from sync.mapping.model import FieldRule, Mapping
from sync.ops.check.describe import suggest
from sync.ops.check.members import check_member_roles
from sync.ops.check.runner import Findings
from sync.ops.check.structure import check_structure_psa

# The mapping types whose values a PSA field of each type takes without a parse on its side.
_TAKES: dict[str, tuple[str, ...]] = {
    "decimal": ("decimal", "integer"),
    "integer": ("integer",),
    "date": ("date", "datetime"),
    "boolean": ("boolean",),
}
_SUGGESTED_TYPE = {"decimal": "decimal", "integer": "integer", "date": "date", "boolean": "boolean"}


def check_psa(psa: PsaConnector, settings: Settings, mapping: Mapping, findings: Findings) -> None:
    """Read the PSA's fields once and report on every project field and back-sync source."""
    try:
        specs = psa.describe()
    except SyncError as exc:
        findings.failure("psa", exc)
        return
    errors_before = len(findings.result.errors)
    for name, rule in mapping.fields.items():
        spec = specs.get(name)
        if spec is None:
            findings.at(
                "ERROR",
                ("project", "fields", name),
                _no_place(name, settings.psa.connector, specs, psa),
            )
            continue
        if spec.readonly:
            findings.at(
                "ERROR",
                ("project", "fields", name),
                f"the PSA computes '{spec.psa_name}' itself: psa-sync "
                f"cannot write it; read it back with backsync: "
                f"{{SomeField__c: {name}}} instead",
            )
            continue
        _check_type(name, rule, spec, findings)
        _check_list(name, rule, spec, findings)
        _check_required(name, rule, spec, findings)
    _check_unmapped_required(mapping, specs, findings)
    _check_stage(mapping, specs, findings, settings.psa.connector)
    _check_backsync_sources(mapping, specs, findings, psa)
    check_member_roles(psa, mapping, findings)
    check_structure_psa(psa, mapping, findings)
    if len(findings.result.errors) == errors_before:
        findings.about(
            "OK",
            "psa",
            f"{settings.psa.connector} at {psa.url}: {len(mapping.fields)} project "
            f"field(s) have a place among {len(specs)}",
        )


def _no_place(
    name: str, connector: str, specs: dict[str, FieldSpec], psa: PsaConnector | None = None
) -> str:
    known = ", ".join(sorted(n for n, s in specs.items() if not s.readonly))
    hint = suggest(name, list(specs))
    absent = _absent(psa).get(name)
    if absent:  # the connector knows what would give it a place (Tryton: a module to activate)
        return f"project field '{name}' has no place in the PSA: {absent}"
    if connector != "redmine":
        return (
            f"project field '{name}' has no place in the PSA ({connector} knows: {known}){hint}; "
            "remove it from the mapping"
        )
    return (
        f"project field '{name}' has no place in the PSA ({connector} knows: {known}){hint}; "
        "create the field there and name it under psa.options.custom_fields, "
        "or remove it from the mapping"
    )


def _check_type(name: str, rule: FieldRule, spec: FieldSpec, findings: Findings) -> None:
    produced = "string" if rule.template is not None else rule.type
    takes = _TAKES.get(spec.type)
    if takes is None or produced in takes:
        return
    findings.at(
        "WARN",
        ("project", "fields", name),
        f"the PSA field '{spec.psa_name}' is {spec.type}, but this "
        f"rule produces {produced} values, which the PSA may refuse "
        f"(422: the deal is quarantined); add `type: "
        f"{_SUGGESTED_TYPE[spec.type]}`",
    )


def _check_list(name: str, rule: FieldRule, spec: FieldSpec, findings: Findings) -> None:
    """Every value the rule can produce must be one the list takes."""
    if spec.type != "list" or not spec.allowed:
        return
    base = ("project", "fields", name)
    allowed = ", ".join(spec.allowed)
    for key, value in (rule.value_map or {}).items():
        text = _as_text(value)
        if text is not None and text not in spec.allowed:
            findings.at(
                "ERROR",
                (*base, "map", key),
                f"'{text}' is not a value of the PSA list '{spec.psa_name}' "
                f"(allowed: {allowed}){suggest(text, list(spec.allowed))}",
            )
    default = _as_text(rule.default)
    if default is not None and default not in spec.allowed:
        findings.at(
            "ERROR",
            (*base, "default"),
            f"'{default}' is not a value of the PSA list '{spec.psa_name}' "
            f"(allowed: {allowed}){suggest(default, list(spec.allowed))}",
        )
    if rule.value_map is None or rule.unmapped == "pass":
        how = (
            "pass through unmapped"
            if rule.value_map is not None
            else "go to it unchanged (no `map`)"
        )
        findings.at(
            "WARN",
            base,
            f"values of {rule.origin} {how} to the PSA list '{spec.psa_name}', which takes "
            f"only {allowed}: any other value is refused (422) and the deal quarantined",
        )


def _check_required(name: str, rule: FieldRule, spec: FieldSpec, findings: Findings) -> None:
    if not spec.required or rule.required or rule.default is not None or rule.template is not None:
        return
    findings.at(
        "WARN",
        ("project", "fields", name),
        f"the PSA requires '{spec.psa_name}', but a record with no "
        f"{rule.origin} leaves it empty and the PSA refuses the "
        "project (422); add `required: true` (quarantine with a clear "
        "reason) or a `default`",
    )


def _check_unmapped_required(
    mapping: Mapping, specs: dict[str, FieldSpec], findings: Findings
) -> None:
    for name, spec in sorted(specs.items()):
        if spec.required and name not in mapping.fields:
            findings.at(
                "WARN",
                ("project", "fields"),
                f"the PSA requires '{spec.psa_name}' but the mapping has no "
                f"project field '{name}': every create will be refused "
                "unless the PSA fills it itself",
            )


def _check_stage(
    mapping: Mapping, specs: dict[str, FieldSpec], findings: Findings, connector: str
) -> None:
    """Tentative projects need the PSA's stage field, with the three stages among its values.

    psa-sync creates no field the admin did not make. The lifecycle's status list must take
    Tentative and Dropped.
    """
    tentative = mapping.tentative
    if tentative is None:
        return
    spec = specs.get(tentative.stage_field)
    where = ("pipeline", "stage_field")
    if spec is None:
        findings.at(
            "ERROR",
            where,
            f"pipeline.create_projects needs a project field '{tentative.stage_field}' in the "
            f"PSA ({connector}: a list custom field, by default named 'Stage', with the values "
            f"{', '.join(v for _, v in tentative.stages)}); create it, or name yours under "
            "psa.options.custom_fields",
        )
        return
    missing = [
        v
        for _, v in tentative.stages
        if spec.type == "list" and spec.allowed and v not in spec.allowed
    ]
    if missing:
        findings.at(
            "ERROR",
            ("pipeline", "stages"),
            f"the PSA list '{spec.psa_name}' takes {', '.join(spec.allowed)}, "
            f"not {', '.join(missing)}; add them there or set pipeline.stages",
        )
    status = specs.get("salesforce_status")
    if status is not None and status.type == "list" and status.allowed:
        absent = [v for v in ("Tentative", "Dropped") if v not in status.allowed]
        if absent:
            findings.at(
                "WARN",
                where,
                f"the PSA list '{status.psa_name}' lacks {', '.join(absent)}: flagging a "
                "tentative or dropped project there will be refused",
            )


#: delivery values every connector gives (the rest only where describe() lists them)
_ALWAYS_DELIVERED = ("status", "spent_hours")


def _check_backsync_sources(
    mapping: Mapping,
    specs: dict[str, FieldSpec],
    findings: Findings,
    psa: PsaConnector | None = None,
) -> None:
    """``percent_complete`` (Redmine: a custom field), ``revenue`` and ``cost`` (Tryton's
    project_revenue) exist only where the PSA has them."""
    for target, rule in mapping.backsync.items():
        if rule.source in _ALWAYS_DELIVERED or rule.source in specs:
            continue
        why = _absent(psa).get(rule.source) or f"the PSA has no {rule.source} field"
        findings.at(
            "WARN", ("backsync", target, "from"), f"{why}, so {target} will always be written empty"
        )


def _absent(psa: PsaConnector | None) -> dict[str, str]:
    """What the connector says would give each missing field a place ({} when it says nothing)."""
    absent = getattr(psa, "absent", None)
    if absent is None:
        return {}
    try:
        return absent()
    except SyncError:
        return {}


def _as_text(value: Any) -> str | None:
    """A typed mapping value as the PSA compares it: plain decimals, ISO dates, 1/0 for booleans."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
