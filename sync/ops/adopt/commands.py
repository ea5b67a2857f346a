"""The three commands, as the CLI calls them: read (``survey``), pair (``match``), then write.

Writing (``apply``) happens only when asked. Everything a person typed is checked before anything
is written: a bad pairs file, an unknown Id, a deal or project already linked is exit 2
(``AdoptionRefused``) with nothing changed.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sync.common.errors import AdoptionRefused
from sync.common.ids import given_id
from sync.config import Settings
from sync.mapping.loader import load_mapping
from sync.ops.adopt import apply as write
from sync.ops.adopt.match import Matching, by_name, resolve
from sync.ops.adopt.pairs import PairLine, read_pairs
from sync.ops.adopt.report import AdoptReport
from sync.ops.adopt.survey import link_universe, survey
from sync.orchestrator.backfill import check_source
from sync.orchestrator.session import RunResult, make_clients
from sync.state import State


def adopt(
    settings: Settings,
    *,
    since: date | None = None,
    until: date | None = None,
    pairs: Path | None = None,
    apply: bool = False,
) -> AdoptReport:
    """The report of hand-made projects against the deals of the criteria (and range); ``apply``
    links the one-to-one matches (or every pair of the file)."""
    mapping = load_mapping(settings.mapping)
    if since or until:
        check_source(mapping)
    if pairs is None and "name" not in mapping.fields:
        raise AdoptionRefused(
            f"{mapping.path}: the mapping makes no project `name`, so deals cannot be matched by "
            "name; give the pairs instead: --pairs FILE"
        )
    lines, problems = read_pairs(pairs) if pairs is not None else (None, [])
    if problems and not lines:  # nothing to check against the systems: refused before any call
        raise AdoptionRefused([f"{pairs}:{n}: {message}" for n, message in problems])
    client, psa = make_clients(settings)
    client.connect()
    universe, read = survey(settings, mapping, client, psa, since, until)
    matching = (
        by_name(universe)
        if lines is None
        else Matching(matched=resolve(lines, universe, pairs, problems))
    )
    report = AdoptReport(
        matching, universe, since, until, read, criteria=mapping.source.criteria_text
    )
    if apply:
        report.applied = write.apply(
            settings, (client, psa), mapping, matching.matched, readmit=lines is not None
        )
    return report


def link(settings: Settings, deal_id: str, project: str) -> AdoptReport:
    """Adopt one pair by hand.

    Refused (exit 2, nothing written) when either side is linked already.
    """
    record_id = given_id(deal_id)
    mapping = load_mapping(settings.mapping)
    client, psa = make_clients(settings)
    client.connect()
    universe = link_universe(settings, mapping, client, psa, record_id, project)
    pairs = resolve([PairLine(0, record_id, project)], universe)
    report = AdoptReport(Matching(matched=pairs), universe, criteria=mapping.source.criteria_text)
    report.applied = write.apply(settings, (client, psa), mapping, pairs, mode="link", readmit=True)
    return report


def unlink(settings: Settings, deal_id: str) -> RunResult:
    """Forget one pair (both records stay) and ignore the deal until ``link`` or ``retry --id``."""
    record_id = given_id(deal_id)
    state = State.open_readonly(settings.state)
    try:
        linked = state.links([record_id]) if state is not None else {}
    finally:
        if state is not None:
            state.close()
    if not linked:
        raise AdoptionRefused(f"deal {record_id} is not linked to any project; nothing to unlink")
    return write.unlink(settings, record_id)
