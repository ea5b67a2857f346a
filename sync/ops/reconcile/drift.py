"""What drifted between Salesforce, the PSA and the links table (pure: no I/O, no clock).

The sweeps of :mod:`sync.ops.reconcile.run` gather an :class:`Observed`; :func:`find_drift`
compares it with the links and the rest of the state (:class:`Known`) and names every drift with
the repair ``--repair`` may take (the types: :mod:`sync.ops.reconcile.model`). Kept apart from
the I/O so each rule is tested as a plain function.

Deals whose stamp is still inside the window the next run reads (watermark − lookback) are not
drift: the next run handles them through the normal path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sync.common.ids import to18
from sync.common.model import Link
from sync.connectors.psa.base import ProjectRef
from sync.ops.reconcile.model import KINDS, Drift, Known, Observed
from sync.ops.reconcile.sweeps import field_of, stamp_of
from sync.transform.diff import link_values, same


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
    for ref in seen.projects:
        by_key.setdefault(ref.key, []).append(ref)
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
                    f"project {link.project_id} (deleted or archived in the PSA); "
                    "repair re-creates it if the deal still matches",
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
