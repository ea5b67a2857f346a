"""The typed, frozen form of a loaded mapping: what the rest of psa-sync reads.

:mod:`sync.mapping.loader` and :mod:`sync.mapping.fields` validate the YAML and build these;
the transform, extract, check and reconcile stages only ever see these objects, never the YAML.
The fingerprint is kept with them because it must change exactly when their meaning does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from dataclasses import fields as dc_fields
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sync.extract import soql
from sync.mapping.structure_rules import StructureRules

SYSTEM_FIELDS = ("Id", "SystemModstamp", "IsDeleted")
#: What the pipeline stream keeps of each open deal (the ``pipeline`` table; README "Pipeline").
PIPELINE_FIELDS = ("StageName", "Probability", "Amount", "CloseDate", "OwnerId")
DROP = "?"  # `{Account.Name|?}`: an empty part is left out, with its separator


@dataclass(frozen=True)
class FieldRule:
    """How one target field gets its value.

    ``source`` is a Salesforce field path (``Account.Name``) for project fields, or a PSA
    delivery value (``status``) for back-sync. ``value_map`` is keyed by the canonical text of
    the source value (``"true"`` for a checkbox, picklist API values as they are) and holds
    values already parsed to ``type``. ``template_parts`` is the parsed template: (literal text,
    field path or None, what an empty field becomes) triples; the last is None (empty text),
    :data:`DROP` (the field goes, with the separator before it) or a fallback text.
    """

    name: str
    source: str | None = None
    template: str | None = None
    type: str = "string"
    default: Any = None
    required: bool = False
    value_map: dict[str, Any] | None = None
    unmapped: str | None = None
    max_length: int | None = None
    overflow: str = "truncate"
    transforms: tuple[str, ...] = ()
    date_add_days: int | None = None
    tz: str | None = None
    sync: str = "always"
    line: int = 0
    template_parts: tuple[tuple[str, str | None, str | None], ...] = ()

    @property
    def origin(self) -> str:
        """Where the value comes from, for messages: the field, or ``template``."""
        return self.source if self.source is not None else "template"

    def read_fields(self) -> list[str]:
        """Salesforce fields this rule reads (its ``from`` or its template fields)."""
        if self.template is not None:
            return [name for _, name, _ in self.template_parts if name is not None]
        return [self.source] if self.source is not None else []


@dataclass(frozen=True)
class Source:
    """Which records are read: ``object`` where ``criteria`` holds, since ``start_date``."""

    object: str
    criteria: soql.Condition | None
    criteria_text: str | None
    start_date: date
    lookback: timedelta


@dataclass(frozen=True)
class Lifecycle:
    """What happens to a linked project whose record stops matching or is deleted."""

    on_unwon: str = "flag"
    on_deleted: str = "flag"


@dataclass(frozen=True)
class Pipeline:
    """``pipeline:``: the open deals read by the same query as the won ones (``criteria``, which
    excludes closed deals), kept in the state file for the forecast and, with ``create_projects``,
    made tentative projects whose ``stage_field`` says tentative, won or lost (``stages``)."""

    criteria: soql.Condition
    criteria_text: str
    create_projects: bool = False
    on_drop: str = "flag"
    stage_field: str = "stage"
    stages: tuple[tuple[str, str], ...] = (
        ("tentative", "Tentative"),
        ("won", "Won"),
        ("lost", "Lost"),
    )

    def stage(self, which: str) -> str:
        """The PSA's value for ``tentative``, ``won`` or ``lost``."""
        return dict(self.stages)[which]


@dataclass(frozen=True)
class Mapping:
    """A mapping that passed validation: which records, how each field is made, what is written.

    ``fingerprint`` identifies its meaning, so a run can tell when the mapping changed under a
    state file.
    """

    path: Path
    source: Source
    key: str
    fields: dict[str, FieldRule]
    writeback: dict[str, str]
    backsync: dict[str, FieldRule]
    lifecycle: Lifecycle
    conflicts: str
    fingerprint: str
    members: dict[str, Any] = field(default_factory=dict)  # name -> sync.mapping.members.MemberRule
    pipeline: Pipeline | None = None
    # ``structure:`` (sync.mapping.structure_rules.StructureRules). Not in the fingerprint: the
    # fingerprint says which project values a link was made with, and a structure is created once,
    # then the PSA's.
    structure: StructureRules | None = None

    @property
    def tentative(self) -> Pipeline | None:
        """The pipeline when its deals become tentative projects (``create_projects: true``)."""
        return (
            self.pipeline if self.pipeline is not None and self.pipeline.create_projects else None
        )

    def soql_fields(self) -> list[str]:
        """The SELECT list: system fields, key, every field read, and the fields we write.

        Deduplicated ignoring case (Salesforce does), first spelling and order kept.
        """
        names: list[str] = [*SYSTEM_FIELDS, self.key]
        for rule in self.fields.values():
            names += rule.read_fields()
        if self.source.criteria is not None:
            names += sorted(self.source.criteria.fields(), key=str.lower)
        names += [member.email_path for member in self.members.values()]
        if self.pipeline is not None:
            names += [*PIPELINE_FIELDS, *sorted(self.pipeline.criteria.fields(), key=str.lower)]
        if self.structure is not None:
            names += [*self.structure.deal_fields(), *self.structure.backsync]
        names += [*self.writeback, *self.backsync]
        seen: set[str] = set()
        return [n for n in names if not (n.lower() in seen or seen.add(n.lower()))]

    @property
    def link_field(self) -> str | None:
        """The Salesforce field that carries the PSA project id (``project.id``), if any."""
        return next((f for f, v in self.writeback.items() if v == "project.id"), None)

    def on_create_fields(self) -> set[str]:
        """Project fields set once at creation and then owned by the PSA."""
        return {name for name, rule in self.fields.items() if rule.sync == "on_create"} | {
            m.field for m in self.members.values() if m.sync == "on_create"
        }

    def rules(self) -> dict[str, FieldRule]:
        """Every rule the transform evaluates: the project fields, then each member's e-mail."""
        return {**self.fields, **{m.field: m.rule() for m in self.members.values()}}


def fingerprint(parts: dict[str, Any]) -> str:
    """sha256 of the parsed mapping: comments, key order and spelling of YAML don't change it."""
    source: Source = parts["source"]
    canonical = {
        "source": {
            "object": source.object.lower(),
            "start_date": source.start_date.isoformat(),
            "criteria": soql.to_soql(source.criteria) if source.criteria else None,
            "lookback": source.lookback.total_seconds(),
        },
        "key": parts["key"].lower(),
        "fields": {n: _rule_dict(r) for n, r in parts["fields"].items()},
        "writeback": {f.lower(): v for f, v in parts["writeback"].items()},
        "backsync": {f.lower(): _rule_dict(r) for f, r in parts["backsync"].items()},
        "lifecycle": [parts["lifecycle"].on_unwon, parts["lifecycle"].on_deleted],
        "conflicts": parts["conflicts"],
    }
    # only when present, so a mapping without members keeps its fingerprint
    if parts.get("members"):
        canonical["members"] = {
            n: [m.lookup.lower(), m.role, m.sync] for n, m in parts["members"].items()
        }
    # absent: the fingerprints of earlier mappings stay as they were
    if parts.get("pipeline") is not None:
        pipe: Pipeline = parts["pipeline"]
        canonical["pipeline"] = {
            "criteria": soql.to_soql(pipe.criteria),
            "create_projects": pipe.create_projects,
            "on_drop": pipe.on_drop,
            "stage_field": pipe.stage_field,
            "stages": pipe.stages,
        }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _rule_dict(rule: FieldRule) -> dict[str, Any]:
    skip = {"name", "line", "template_parts"}
    return {f.name: getattr(rule, f.name) for f in dc_fields(rule) if f.name not in skip}
