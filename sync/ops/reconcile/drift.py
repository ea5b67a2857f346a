"""What drifted between Salesforce, the PSA and the links table (pure: no I/O, no clock).

The sweeps of :mod:`sync.ops.reconcile.run` gather an :class:`Observed`; :func:`find_drift` compares it with
the links and the rest of the state (:class:`Known`) and names every drift with the repair
``--repair`` may take. Kept apart from the I/O so each rule is tested as a plain function.

Deals whose stamp is still inside the window the next run reads (watermark − lookback) are not
drift: the next run handles them through the normal path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sync.common.ids import to18
from sync.common.model import Link
from sync.connectors.psa.base import ProjectRef
from sync.extract import incremental
from sync.extract.soql import quote, to_soql
from sync.mapping.model import Mapping
from sync.transform.diff import link_values, same

SWEEP_PAGE = 2000  # Ids per page of the criteria sweep

#: Kinds of drift, in the order they are reported, with what each means to a person.
KINDS = {
    "missed": "matches the criteria but is neither linked, quarantined nor ignored (unlinked by hand)",
    "hard-deleted": "linked deal no longer exists in Salesforce (purged from the recycle bin)",
    "unflagged-deleted": "linked deal is deleted in Salesforce but its project was never flagged",
    "orphan": "PSA project carries a key that no link knows",
    "duplicate": "one key is on two or more PSA projects",
    "project-missing": "link points at a PSA project that no longer exists",
    "key-missing": "linked PSA project no longer carries its key",
    "link-field": "link field on the record differs from the link",
    "old-mapping": "linked deal still carries values of an older mapping (not touched since it changed)",
    "child-missing": "a phase or task psa-sync made is gone from its project in the PSA (deleted by hand)",
}


@dataclass
class Drift:
    """One thing that drifted; ``repair`` names the action --repair takes (None: report only)."""

    kind: str
    record_id: str | None
    key: str
    detail: str
    repair: str | None = (
        None  # refetch | lifecycle | drop-link | restore-key | queue | recreate-child
    )
    project_ids: tuple[int, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)  # link fields to queue
    status: str = "found"  # found (report only) | repaired | quarantined | remaining

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.record_id,
            "key": self.key,
            "detail": self.detail,
            "status": self.status,
            "project_ids": list(self.project_ids),
        }


@dataclass(frozen=True)
class Seen:
    """One record of the criteria sweep."""

    key: str
    stamp: datetime | None


@dataclass
class Observed:
    """What both systems said: the input of :func:`find_drift`."""

    matching: dict[str, Seen]  # criteria sweep: record id → key, stamp
    existing: dict[str, dict]  # existence sweep: linked record id → record as returned
    projects: list[ProjectRef]  # every PSA project carrying a key
    present: set[int] = field(
        default_factory=set
    )  # linked projects not listed (lost their key) but there


@dataclass(frozen=True)
class Known:
    """What the state file says, besides the links."""

    quarantined: set[str] = frozenset()
    pending: set[tuple[str, str]] = frozenset()  # (deal, field) waiting in the outbox
    intents: set[str] = frozenset()
    ignored: set[str] = frozenset()  # unlinked by hand: meant to have no project
    since: datetime = datetime(1970, 1, 1, tzinfo=UTC)  # where the next run reads from


# --- pure: what drifted -----------------------------------------------------------------------------


def find_drift(
    seen: Observed,
    links: dict[str, Link],
    known: Known,
    *,
    writeback: dict[str, str],
    identifier_of: Callable[[str], str],
    key_is_id: bool = True,
) -> list[Drift]:
    """Every drift between the sweeps and the links, in ``KINDS`` order (pure)."""
    by_id = {p.id: p for p in seen.projects}
    gone = {
        record_id
        for record_id, link in links.items()
        if link.project_id not in by_id and link.project_id not in seen.present
    }
    drift = missed(seen, links, known)
    drift += deleted(seen, links, known, skip=gone)
    drift += psa_drift(seen, links, known, identifier_of=identifier_of, key_is_id=key_is_id)
    drift += link_fields(seen, links, known, writeback=writeback, skip=gone)
    order = list(KINDS)
    return sorted(drift, key=lambda d: (order.index(d.kind), d.record_id or "", d.key))


def in_next_run(stamp: datetime | None, known: Known) -> bool:
    """The next run reads this record anyway (its stamp is inside watermark − lookback)."""
    return stamp is not None and stamp >= known.since


def missed(seen: Observed, links: dict[str, Link], known: Known) -> list[Drift]:
    out = []
    for record_id, row in seen.matching.items():
        if (
            record_id in links
            or record_id in known.quarantined
            or record_id in known.ignored
            or in_next_run(row.stamp, known)
        ):
            continue
        why = (
            "a create was in flight (intent left by a crash)" if record_id in known.intents else ""
        )
        out.append(Drift("missed", record_id, row.key, why, repair="refetch"))
    return out


def deleted(seen: Observed, links: dict[str, Link], known: Known, *, skip: set[str]) -> list[Drift]:
    out = []
    for record_id, link in links.items():
        if record_id in skip or link.sf_status == "Deleted":
            continue
        record = seen.existing.get(record_id)
        if record is None:
            out.append(
                Drift(
                    "hard-deleted",
                    record_id,
                    link.key,
                    f"{KINDS['hard-deleted']}; project {link.project_id}",
                    repair="lifecycle",
                    project_ids=(link.project_id,),
                )
            )
        elif record.get("IsDeleted") and not in_next_run(stamp_of(record), known):
            out.append(
                Drift(
                    "unflagged-deleted",
                    record_id,
                    link.key,
                    KINDS["unflagged-deleted"],
                    repair="refetch",
                    project_ids=(link.project_id,),
                )
            )
    return out


def psa_drift(
    seen: Observed,
    links: dict[str, Link],
    known: Known,
    *,
    identifier_of: Callable[[str], str],
    key_is_id: bool,
) -> list[Drift]:
    """Orphans, duplicates, missing projects and projects that lost their key."""
    by_key: dict[str, list[ProjectRef]] = {}
    for project in seen.projects:
        by_key.setdefault(project.key, []).append(project)
    linked_keys = {link.key: record_id for record_id, link in links.items()}
    out = [
        d
        for key, refs in by_key.items()
        if key not in linked_keys and (d := _orphan(key, refs, seen, known, key_is_id)) is not None
    ]
    out += [
        _duplicate(key, refs, linked_keys.get(key), links, identifier_of)
        for key, refs in by_key.items()
        if len(refs) > 1
    ]
    by_id = {p.id: p for p in seen.projects}
    for record_id, link in links.items():
        project = by_id.get(link.project_id)
        if project is not None and project.key == link.key:
            continue
        if project is None and link.project_id not in seen.present:
            out.append(
                Drift(
                    "project-missing",
                    record_id,
                    link.key,
                    f"project {link.project_id} "
                    "(deleted or archived in the PSA); repair re-creates it if the deal still matches",
                    repair="drop-link",
                    project_ids=(link.project_id,),
                )
            )
        else:
            now = f"carries key {project.key}" if project is not None else "carries no key"
            out.append(
                Drift(
                    "key-missing",
                    record_id,
                    link.key,
                    f"project {link.project_id} {now}",
                    repair="restore-key",
                    project_ids=(link.project_id,),
                )
            )
    return out


def _orphan(
    key: str, refs: list[ProjectRef], seen: Observed, known: Known, key_is_id: bool
) -> Drift | None:
    record_id = _record_of(key, seen, key_is_id)
    ids = tuple(r.id for r in refs)
    row = seen.matching.get(record_id) if record_id else None
    if row is not None and in_next_run(row.stamp, known):
        return None  # the next run's create path looks the key up and adopts it
    if row is not None:
        return Drift(
            "orphan",
            record_id,
            key,
            f"project {_ids(ids)} is adopted by its deal on repair",
            repair="refetch",
            project_ids=ids,
        )
    return Drift(
        "orphan",
        record_id,
        key,
        f"project {_ids(ids)}: its deal is not in the criteria sweep (not "
        "matching, deleted or older than start_date); clear the key in the PSA if the copy is not "
        "meant to be synced",
        project_ids=ids,
    )


def _duplicate(
    key: str,
    refs: list[ProjectRef],
    record_id: str | None,
    links: dict[str, Link],
    identifier_of: Callable[[str], str],
) -> Drift:
    linked = links[record_id].project_id if record_id else None
    ours = identifier_of(key)
    parts = []
    for ref in refs:
        notes = [
            n
            for n, yes in (
                ("psa-sync's identifier", ref.identifier == ours),
                ("linked", ref.id == linked),
            )
            if yes
        ]
        parts.append(f"{ref.id} ({ref.identifier}{'; ' + ', '.join(notes) if notes else ''})")
    return Drift(
        "duplicate",
        record_id,
        key,
        f"key on projects {', '.join(parts)}; remove the key from the copy "
        "in the PSA (psa-sync never deletes a project)",
        project_ids=tuple(r.id for r in refs),
    )


def link_fields(
    seen: Observed,
    links: dict[str, Link],
    known: Known,
    *,
    writeback: dict[str, str],
    skip: set[str],
) -> list[Drift]:
    out = []
    for record_id, link in links.items():
        record = seen.existing.get(record_id)
        if (
            record is None
            or record.get("IsDeleted")
            or record_id in skip
            or record_id in known.quarantined
            or in_next_run(stamp_of(record), known)
        ):
            continue
        wrong = {
            name: value
            for name, value in link_values(link, writeback).items()
            if (record_id, name) not in known.pending and not same(field_of(record, name), value)
        }
        if wrong:
            shown = ", ".join(f"{name} is {field_of(record, name)!r}" for name in wrong)
            out.append(
                Drift(
                    "link-field",
                    record_id,
                    link.key,
                    f"{shown}; the link says project {link.project_id}",
                    repair="queue",
                    project_ids=(link.project_id,),
                    values=wrong,
                )
            )
    return out


def _record_of(key: str, seen: Observed, key_is_id: bool) -> str | None:
    if key_is_id:
        try:
            return to18(key)
        except ValueError:
            return None
    return next((record_id for record_id, row in seen.matching.items() if row.key == key), None)


def _ids(ids: Iterable[int]) -> str:
    return ", ".join(str(i) for i in ids)


def field_of(record: dict, name: str) -> Any:
    """A field of a REST record, ignoring case (SOQL does; the mapping may spell it differently)."""
    if name in record:
        return record[name]
    return next((v for k, v in record.items() if k.lower() == name.lower()), None)


def stamp_of(record: dict) -> datetime | None:
    text = field_of(record, "SystemModstamp")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z") if text else None


# --- pure: the queries ----------------------------------------------------------------------------


def criteria_query(mapping: Mapping) -> str:
    """Id-only sweep of the criteria since start_date (deleted rows excluded: `query`, not `queryAll`)."""
    start = incremental.since(None, mapping)
    where = f"SystemModstamp >= {quote(start)}"
    if mapping.source.criteria is not None:
        where = f"({to_soql(mapping.source.criteria)}) AND {where}"
    return f"SELECT {', '.join(_id_fields(mapping))} FROM {mapping.source.object} WHERE {where}"


def existence_queries(mapping: Mapping, ids: Iterable[str]) -> list[str]:
    """``Id IN`` queries over queryAll, ≤300 Ids each: what comes back exists (maybe deleted)."""
    ids = sorted(set(ids))
    fields = (
        _id_fields(mapping) + ["IsDeleted"] + [f for f in mapping.writeback if f.lower() != "id"]
    )
    step = incremental.MAX_IDS_PER_QUERY
    return [
        f"SELECT {', '.join(dict.fromkeys(fields))} FROM {mapping.source.object} "
        f"WHERE Id IN ({', '.join(quote(i) for i in ids[start : start + step])})"
        for start in range(0, len(ids), step)
    ]


def _id_fields(mapping: Mapping) -> list[str]:
    return ["Id", "SystemModstamp"] + ([mapping.key] if mapping.key.lower() != "id" else [])


def expected_calls(matching: int, linked: int) -> int:
    """Salesforce calls of a report-only reconcile: token + ⌈matching/2000⌉ + ⌈linked/300⌉."""
    return (
        1
        + max(1, math.ceil(matching / SWEEP_PAGE))
        + math.ceil(linked / incremental.MAX_IDS_PER_QUERY)
    )
