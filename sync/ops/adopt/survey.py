"""Read both systems for ``adopt`` and ``link``, writing nothing: unlinked deals, free projects.

Deals come from the mapping's criteria (and a CloseDate range) through the run's own transform, so a
deal is named here exactly as a run would name its project. Projects are the PSA's projects carrying
no key (``list_unlinked``), less those the state file links (a project whose key was cleared by hand
is still its deal's, which ``reconcile --repair`` restores), and the projects carrying a key are
listed once (``list_linked``) to say why a pair naming one is refused, and to find a key an
interrupted ``adopt --apply`` already wrote. The state file is opened read-only: no lock, no
run row.
"""

from __future__ import annotations

from datetime import date

from sync.common.model import Link
from sync.config import Settings
from sync.connectors.base import SalesforceApi
from sync.connectors.psa.base import PsaConnector
from sync.extract import incremental
from sync.mapping.model import Mapping
from sync.ops.adopt.match import HandProject, Universe
from sync.orchestrator.backfill import read_range
from sync.orchestrator.session import guard
from sync.state import State
from sync.transform.rows import transform


def survey(
    settings: Settings,
    mapping: Mapping,
    client: SalesforceApi,
    psa: PsaConnector,
    since: date | None,
    until: date | None,
) -> tuple[Universe, dict[str, int]]:
    """The universe of ``adopt``, and what was read (deals, projects, and the reader used)."""
    links, ignored = _state(settings, client, psa)
    count, reader, pages = read_range(client, mapping, settings, since, until)
    universe = Universe(rows={}, refused={}, projects={}, taken={}, ignored=ignored)
    for page in pages:
        _add_deals(universe, page, mapping, links)
    _add_projects(universe, psa, links, keyed=True)
    return universe, {"deals": count, "reader": reader}


def link_universe(
    settings: Settings,
    mapping: Mapping,
    client: SalesforceApi,
    psa: PsaConnector,
    record_id: str,
    project: str,
) -> Universe:
    """The universe of ``psa-sync link``: one deal re-fetched by Id, one project looked up."""
    links, ignored = _state(settings, client, psa)
    universe = Universe(rows={}, refused={}, projects={}, taken={}, ignored=ignored)
    records = [r for page in incremental.fetch_ids(client, mapping, [record_id]) for r in page]
    _add_deals(universe, records, mapping, links)
    if record_id not in universe.rows and record_id not in universe.refused:
        universe.refused[record_id] = (
            "is not in Salesforce (or is deleted), or it is not visible to psa-sync's user"
        )
    found = psa.project(project)
    if found is not None:
        _add_projects(universe, psa, links, keyed=False, listed=[found])
    return universe


def _state(
    settings: Settings, client: SalesforceApi, psa: PsaConnector
) -> tuple[dict[str, Link], set[str]]:
    """The links and the ignored deals, from a state file of this org and PSA (else exit 2)."""
    state = State.open_readonly(settings.state)
    if state is None:
        return {}, set()
    try:
        guard(state, client.org_id, psa.url, settings.state, record=False)
        return {link.record_id: link for link in state.all_links()}, set(state.ignored())
    finally:
        state.close()


def _add_deals(
    universe: Universe, records: list[dict], mapping: Mapping, links: dict[str, Link]
) -> None:
    result = transform(records, mapping)
    for row in result.rows:
        if row.record_id in links:
            universe.refused[row.record_id] = _linked(links[row.record_id])
            universe.linked.add(row.record_id)
        elif row.deleted:
            universe.refused[row.record_id] = "is deleted in Salesforce"
        elif not row.matches:
            universe.refused[row.record_id] = (
                f"does not match the criteria ({mapping.source.criteria_text})"
            )
        else:
            universe.rows[row.record_id] = row
    for error in result.errors:
        if error.record_id in links:
            universe.linked.add(error.record_id)
        universe.refused[error.record_id] = (
            _linked(links[error.record_id])
            if error.record_id in links
            else f"does not map: {error.reason}"
        )


def _linked(link: Link) -> str:
    return (
        f"is already linked to project {link.project_id} ({link.project_url}); "
        f"`psa-sync unlink {link.record_id}` first"
    )


def _add_projects(
    universe: Universe,
    psa: PsaConnector,
    links: dict[str, Link],
    *,
    keyed: bool,
    listed: list[tuple] | None = None,
) -> None:
    """Free projects by id and identifier; the taken ones with why.

    ``keyed``: also list the projects carrying a key (adopt), to refuse pairs naming them and to
    match a key already written.
    """
    owner = {link.project_id: link.record_id for link in links.values()}
    for ref, values in listed if listed is not None else psa.list_unlinked():
        why = _taken(ref, owner)
        names = (str(ref.id), ref.identifier.lower())
        universe.projects.update(
            dict.fromkeys(names, HandProject(ref, values)) if why is None else {}
        )
        universe.taken.update(dict.fromkeys(names, why) if why is not None else {})
    if not keyed:
        return
    carrying: dict[str, list] = {}
    for ref in psa.list_linked():
        universe.taken.update(
            dict.fromkeys((str(ref.id), ref.identifier.lower()), _taken(ref, owner))
        )
        if ref.id not in owner:
            carrying.setdefault(ref.key, []).append(ref)
    universe.by_key = {key: refs[0] for key, refs in carrying.items() if len(refs) == 1}


def _taken(ref, owner: dict[int, str]) -> str | None:
    """Why a project cannot adopt another deal; None when it is free."""
    if ref.key:
        return f"already carries key {ref.key}" + (
            f" (linked to deal {owner[ref.id]})" if ref.id in owner else ""
        )
    if ref.id in owner:
        return (
            f"is linked to deal {owner[ref.id]} but lost its key in the PSA; "
            "`psa-sync reconcile --repair` restores it"
        )
    return None
