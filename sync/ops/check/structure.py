"""`psa-sync check` of the mapping's ``structure:``: both sides can hold the plan it describes.

Salesforce: the fields the routing reads on the deal, the line-item fields the rules read (one
describe of ``OpportunityLineItem``) and the deal's fields its progress is written into. The PSA:
it can hold a plan at all (a connector with :class:`StructureConnector`), what it says is missing
(Redmine: the key custom fields, the task tracker, the role field; Tryton: psa_sync_key), and every
role the structure gives a task when the PSA's role field is a list.
"""

from __future__ import annotations

from sync.common.errors import SyncError
from sync.connectors.psa.structure import StructureConnector
from sync.extract.line_items import LINE_ITEM, line_item_fields
from sync.mapping.model import Mapping
from sync.ops.check.describe import Describer
from sync.ops.check.field_use import FieldUse, check_use
from sync.ops.check.runner import Findings

WHERE = ("structure",)


def structure_uses(mapping: Mapping) -> tuple[list[FieldUse], list[FieldUse]]:
    """(the deal's fields, the line items' fields) the structure reads or writes."""
    rules = mapping.structure
    if rules is None:
        return [], []
    deal = [FieldUse(path, (*WHERE, "templates"), "criteria") for path in rules.deal_fields()]
    deal += [
        FieldUse(target, (*WHERE, "backsync", target), "write", rule, (*WHERE, "backsync", target))
        for target, rule in rules.backsync.items()
    ]
    lines = [
        FieldUse(path, (*WHERE, "line_items"), "read") for path in line_item_fields(mapping) or ()
    ]
    return deal, lines


def check_structure_salesforce(describer: Describer, mapping: Mapping, findings: Findings) -> None:
    deal, lines = structure_uses(mapping)
    for use in deal:
        check_use(describer, mapping.source.object, use, findings)
    if lines:
        fields, why = describer.fields(LINE_ITEM)
        if fields is None:
            findings.at(
                "ERROR",
                WHERE,
                f"{why}: a structure reads the deals' line items (Products on "
                "Opportunities must be enabled, and readable by the integration user)",
            )
            return
        for use in lines:
            check_use(describer, LINE_ITEM, use, findings)


def check_structure_psa(psa, mapping: Mapping, findings: Findings) -> None:
    """One ERROR per thing the PSA lacks for the plan the mapping describes."""
    if mapping.structure is None:
        return
    if not isinstance(psa, StructureConnector):
        findings.at(
            "ERROR", WHERE, "this PSA connector cannot hold a project's plan (phases and tasks)"
        )
        return
    try:
        spec = psa.structure_spec()
    except SyncError as exc:
        findings.failure("psa", exc)
        return
    for problem in spec.problems:
        findings.at("ERROR", WHERE, problem)
    if spec.roles is not None:
        known = {r.lower() for r in spec.roles}
        for role in sorted(mapping.structure.roles()):
            if role.lower() not in known:
                findings.at(
                    "ERROR",
                    WHERE,
                    f"role {role!r}: the PSA's role field takes {', '.join(spec.roles)}",
                )
