"""The Salesforce half of `psa-sync check`: every field the mapping names, against describe.

Cost: one token call, then one ``describe`` per object the mapping touches
(:mod:`sync.ops.check.describe`); each field use is checked by :mod:`sync.ops.check.field_use`.
"""

from __future__ import annotations

from sync.common.errors import SyncError
from sync.connectors.salesforce.client import SalesforceClient
from sync.mapping.model import PIPELINE_FIELDS, SYSTEM_FIELDS, Mapping
from sync.ops.check.describe import Describer
from sync.ops.check.field_use import FieldUse, check_use
from sync.ops.check.members import check_members
from sync.ops.check.runner import Findings
from sync.ops.check.structure import check_structure_salesforce


def field_uses(mapping: Mapping) -> list[FieldUse]:
    """Every Salesforce field the mapping reads or writes, each with its mapping key."""
    uses = [FieldUse(name, ("source", "object"), "system") for name in SYSTEM_FIELDS]
    uses.append(FieldUse(mapping.key, ("key",), "key"))
    for name, rule in mapping.fields.items():
        base = ("project", "fields", name)
        where = (*base, "template" if rule.template is not None else "from")
        uses += [FieldUse(path, where, "read", rule, base) for path in rule.read_fields()]
    if mapping.source.criteria is not None:
        uses += [
            FieldUse(path, ("source", "criteria"), "criteria")
            for path in sorted(mapping.source.criteria.fields(), key=str.lower)
        ]
    if mapping.pipeline is not None:  # its criteria, and what the pipeline table keeps of each deal
        uses += [
            FieldUse(path, ("pipeline", "criteria"), "criteria")
            for path in [
                *sorted(mapping.pipeline.criteria.fields(), key=str.lower),
                *PIPELINE_FIELDS,
            ]
        ]
    uses += [FieldUse(target, ("writeback", target), "write") for target in mapping.writeback]
    uses += [
        FieldUse(target, ("backsync", target), "write", rule, ("backsync", target))
        for target, rule in mapping.backsync.items()
    ]
    return uses


def check_salesforce(client: SalesforceClient, mapping: Mapping, findings: Findings) -> None:
    """Connect, describe each object once, and report on every field use."""
    errors_before = len(findings.result.errors)
    try:
        client.connect()
        describer = Describer(client)
        source = mapping.source.object
        fields, why = describer.fields(source)
        if fields is None:
            findings.at(
                "ERROR",
                ("source", "object"),
                f"{why}; check the object's API name and the integration user's access to it",
            )
            return
        uses = field_uses(mapping)
        for use in uses:
            check_use(describer, source, use, findings)
        check_members(fields, mapping, findings)
        check_structure_salesforce(describer, mapping, findings)
    except SyncError as exc:
        findings.failure("salesforce", exc)
        return
    if len(findings.result.errors) == errors_before:
        objects = ", ".join(describer.described)
        findings.about(
            "OK",
            "salesforce",
            f"org {client.org_id}: {len(uses)} field use(s) verified against "
            f"the describe of {objects}",
        )
