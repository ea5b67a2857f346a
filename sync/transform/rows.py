"""A page of raw Salesforce records → desired project rows + per-row errors (pure, no I/O).

The mapping compiles to column operations over one DataFrame per page (see
:mod:`sync.transform.rules` for one field, :mod:`sync.transform.criteria` for ``criteria``).
A row that fails any field becomes one :class:`RowError` naming the first failing field and
every reason; the rest of the page goes on. Transform takes no decisions about what a failure
*means*: a RowError carries ``deleted`` and ``matches`` so the pipeline can quarantine a won
deal but let a lost one that no longer maps pass by.

Values leave this module as plain Python (``str``, ``Decimal``, ``int``, ``bool``, ``date``,
aware-UTC ``datetime``, ``None``): no DataFrame, no NaN crosses into the diff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from sync.common.model import DesiredRow, RowError
from sync.mapping.model import FieldRule, Mapping
from sync.transform import coerce
from sync.transform.criteria import evaluate_criteria
from sync.transform.frame import RecordFrame
from sync.transform.keys import key_problem
from sync.transform.rules import Evaluated, apply_rule, evaluate_rule

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the modstamp of a record whose own is unreadable
CRITERIA = "(criteria)"


@dataclass(frozen=True)
class TransformResult:
    rows: list[DesiredRow]
    errors: list[RowError]


@dataclass(frozen=True)
class _System:
    """The columns every row needs whatever the mapping: identity, stamp, deletion, scope."""

    record_id: np.ndarray
    key: np.ndarray
    modstamp: np.ndarray
    deleted: np.ndarray
    matches: np.ndarray
    reasons: dict[str, np.ndarray]
    pipeline: np.ndarray  # matches pipeline.criteria, not the won criteria, not deleted


def transform(records: list[dict], mapping: Mapping) -> TransformResult:
    """Map one page of REST-shaped records; never raises for a bad record."""
    if not records:
        return TransformResult([], [])
    frame = RecordFrame(records)
    system = _system_columns(frame, mapping)
    fields = {name: evaluate_rule(rule, frame) for name, rule in mapping.rules().items()}
    if (tentative := mapping.tentative) is not None:  # the stage field: won, tentative (or nothing)
        stage = np.where(
            system.matches,
            tentative.stage("won"),
            np.where(system.pipeline, tentative.stage("tentative"), None),
        ).astype(object)
        fields[tentative.stage_field] = Evaluated(stage, np.full(len(frame), None, dtype=object))
    links = _record_links(frame, mapping)
    reasons = {**system.reasons, **{name: out.reasons for name, out in fields.items()}}
    failed = np.zeros(len(frame), dtype=bool)
    for column in reasons.values():
        failed |= pd.notna(column)
    rows = _rows(system, fields, links, np.flatnonzero(~failed))
    errors = _errors(system, reasons, frame, np.flatnonzero(failed))
    return TransformResult(rows, errors)


def _system_columns(frame: RecordFrame, mapping: Mapping) -> _System:
    record_id = np.array(frame.text("Id"), dtype=object)
    key = (
        record_id
        if mapping.key.lower() == "id"
        else np.array(frame.text(mapping.key), dtype=object)
    )
    stamp = coerce.parse(frame.column("SystemModstamp"), "datetime")
    deleted = coerce.parse(frame.column("IsDeleted"), "boolean")
    matches, criteria_problems = evaluate_criteria(mapping.source.criteria, frame)
    is_deleted = np.array(deleted.values.fillna(False), dtype=bool)
    reasons = {
        "Id": _missing(record_id, "Id: the record has no Id"),
        "SystemModstamp": _stamp_reasons(stamp),
        "IsDeleted": _prefixed("IsDeleted", deleted),
        CRITERIA: criteria_problems,
    }
    if mapping.key.lower() != "id":
        reasons[mapping.key] = _missing(
            key, f"{mapping.key}: the record has no value for the mapping's key"
        )
    key_name = "Id" if mapping.key.lower() == "id" else mapping.key
    reasons[key_name] = _key_reasons(key, key_name, reasons[key_name])
    modstamp = np.array(stamp.values, dtype=object)
    modstamp[pd.isna(modstamp)] = EPOCH
    # A row whose criteria cannot be evaluated may well be in scope: count it as matching, so
    # the pipeline quarantines it instead of letting it pass by unseen.
    matches = (matches | pd.notna(criteria_problems)) & ~is_deleted
    pipeline = np.zeros(len(frame), dtype=bool)
    if mapping.pipeline is not None:  # a row it cannot evaluate is simply not in the pipeline
        pipeline = evaluate_criteria(mapping.pipeline.criteria, frame)[0] & ~matches & ~is_deleted
    return _System(
        record_id=record_id,
        key=key,
        modstamp=modstamp,
        deleted=is_deleted,
        matches=matches,
        reasons=reasons,
        pipeline=pipeline,
    )


def _missing(values: np.ndarray, message: str) -> np.ndarray:
    out = np.full(len(values), None, dtype=object)
    out[pd.isna(values)] = message
    return out


def _key_reasons(keys: np.ndarray, name: str, reasons: np.ndarray) -> np.ndarray:
    """``reasons`` plus, for a present key that cannot name a project (:mod:`sync.transform.keys`),
    why: it would become the PSA's identifier and a URL segment, so that row fails alone."""
    out = reasons.copy()
    for position, key in enumerate(keys):
        if out[position] is None and (problem := key_problem(key)):
            out[position] = f"{name}: {problem}"
    return out


def _stamp_reasons(stamp: coerce.Parsed) -> np.ndarray:
    out = np.array(_prefixed("SystemModstamp", stamp), dtype=object)
    out[pd.isna(stamp.values) & pd.isna(out)] = "SystemModstamp: the record has none (select it)"
    return out


def _prefixed(name: str, parsed: coerce.Parsed) -> np.ndarray:
    problems = np.array(parsed.problems, dtype=object)
    bad = pd.notna(problems)
    problems[bad] = name + ": " + problems[bad]
    return problems


def _record_links(frame: RecordFrame, mapping: Mapping) -> dict[str, np.ndarray]:
    """Current values on the record of the fields psa-sync writes, for drift repair.

    Write-back fields are text; back-sync fields are read in their rule's type. A value that
    does not parse is kept as it is, so it differs from what we wrote and gets repaired.
    """
    out: dict[str, np.ndarray] = {}
    for name in mapping.writeback:
        out[name] = np.array(frame.text(name), dtype=object)
    for name, rule in mapping.backsync.items():
        raw = frame.column(name)
        parsed = coerce.parse(raw, rule.type)
        values = np.array(parsed.values, dtype=object)
        bad = parsed.bad.to_numpy(dtype=bool)
        values[bad] = np.array(raw[bad], dtype=object)
        out[name] = values
    return out


def _rows(
    system: _System, fields: dict[str, Evaluated], links: dict[str, np.ndarray], good: np.ndarray
) -> list[DesiredRow]:
    field_rows = _dicts({name: out.values[good] for name, out in fields.items()}, len(good))
    link_rows = _dicts({name: values[good] for name, values in links.items()}, len(good))
    return [
        DesiredRow(
            record_id=rid,
            key=key,
            modstamp=stamp,
            deleted=bool(gone),
            matches=bool(hit),
            fields=values,
            record_links=current,
            pipeline=bool(open_deal),
        )
        for rid, key, stamp, gone, hit, values, current, open_deal in zip(
            system.record_id[good],
            system.key[good],
            system.modstamp[good],
            system.deleted[good],
            system.matches[good],
            field_rows,
            link_rows,
            system.pipeline[good],
            strict=True,
        )
    ]


def _dicts(columns: dict[str, np.ndarray], n: int) -> list[dict[str, Any]]:
    names = list(columns)
    return (
        [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
        if names
        else [{} for _ in range(n)]
    )


def _errors(
    system: _System, reasons: dict[str, np.ndarray], frame: RecordFrame, failed: np.ndarray
) -> list[RowError]:
    errors = []
    for position in failed:
        found = [
            (name, column[position])
            for name, column in reasons.items()
            if column[position] is not None
        ]
        errors.append(
            RowError(
                record_id=system.record_id[position] or "",
                key=system.key[position] or "",
                modstamp=system.modstamp[position],
                deleted=bool(system.deleted[position]),
                matches=bool(system.matches[position]),
                pipeline=bool(system.pipeline[position]),
                field=found[0][0],
                reason="; ".join(reason for _, reason in found),
                payload=frame.payload(int(position)),
            )
        )
    return errors


def transform_backsync(
    values: dict[str, dict[str, Any]], mapping: Mapping
) -> dict[str, dict[str, Any]]:
    """PSA delivery values per key → the Salesforce fields of ``backsync``, same grammar.

    ``{"006…": {"status": "active", "percent_complete": 40}}`` →
    ``{"006…": {"PSA_Status__c": "active", "PSA_Percent_Complete__c": 40}}``. A value that fails
    its rule (unmapped with ``error``, not a number) is left out of that key's fields rather than
    written wrong; :func:`backsync_problems` says which and why.
    """
    mapped, _ = _backsync(values, mapping.backsync)
    return mapped


def backsync_problems(values: dict[str, dict[str, Any]], mapping: Mapping) -> dict[str, list[str]]:
    """Key → the reasons its delivery values could not be written back (empty when all fit)."""
    _, problems = _backsync(values, mapping.backsync)
    return problems


def transform_progress(
    values: dict[str, dict[str, Any]], mapping: Mapping
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Each project's task progress per key → the Salesforce fields of ``structure.backsync`` (same
    grammar as ``backsync``), and per key the reasons a value could not be written.

    ``{"006…": {"tasks_done": 3, "tasks_total": 8, "current_phase": "Build"}}`` →
    ``{"006…": {"PSA_Tasks_Done__c": 3, …}}``; the values are those of
    :data:`sync.mapping.structure_rules.PROGRESS_TYPES`."""
    return _backsync(values, mapping.structure.backsync if mapping.structure is not None else {})


def _backsync(values: dict[str, dict[str, Any]], rules: dict[str, FieldRule]):
    keys = list(values)
    mapped: dict[str, dict[str, Any]] = {key: {} for key in keys}
    problems: dict[str, list[str]] = {}
    if not keys:
        return mapped, problems
    for target, rule in rules.items():
        raw = coerce.objects([values[key].get(rule.source) for key in keys])
        out = apply_rule(rule, raw)
        for key, value, reason in zip(keys, out.values, out.reasons, strict=True):
            if reason is None:
                mapped[key][target] = value
            else:
                problems.setdefault(key, []).append(reason)
    return mapped, problems
