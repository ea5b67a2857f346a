"""Recovery: what earlier runs left in doubt is settled before a run reads anything new.

A create intent means the process may have died between the PSA's 201 and the commit of the link:
the key is looked up, and a project found is linked; one not found is re-fetched and created afresh.
An update intent means the PSA's answer was unknown: the record is re-fetched whatever its stamp and
diffed again. The pipeline re-fetches; this module decides and records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sync.common.clock import utcnow
from sync.common.model import DesiredRow
from sync.load.projects import Linking, link_projects

if TYPE_CHECKING:
    from sync.orchestrator.run import Run


def resolve_intents(run: Run) -> list[str] | None:
    """Link the creates the PSA did make; the records to re-fetch (``None``: no intents at all)."""
    intents = run.state.intents()
    if not intents:
        return None
    refetch = [i.record_id for i in intents if i.action == "update"]  # re-fetched, diffed, re-sent
    creates = [i for i in intents if i.action != "update"]
    found = run.psa.find([i.key for i in creates]) if creates else {}
    linked: list[Linking] = []
    missing: list[str] = []
    for intent in creates:
        refs = found.get(intent.key, [])
        ours = [r for r in refs if r.identifier == run.psa.identifier(intent.key)]
        if ours:
            # a tentative project's create says so in its stage field
            tentative = run.mapping.tentative
            pipeline = tentative is not None and intent.payload.get(
                tentative.stage_field
            ) == tentative.stage("tentative")
            row = DesiredRow(
                record_id=intent.record_id,
                key=intent.key,
                modstamp=utcnow(),
                deleted=False,
                matches=not pipeline,
                fields=intent.payload,
                record_links={},
                pipeline=pipeline,
            )
            linked.append(Linking(row, ours[0], intent.payload, "recover", "linked"))
        else:  # never sent, or rolled back: re-fetch the deal and let this run create it afresh
            missing.append(intent.record_id)
    link_projects(run.ctx, linked)  # the batch's links in one commit, as the create would have
    run.load.created.extend(item.row.record_id for item in linked)
    if missing:
        with run.state.transaction():
            run.state.add_events(
                run.run_id, ((record_id, "recover", "not-found", None) for record_id in missing)
            )
    return refetch + missing


def forget_settled_intents(run: Run) -> None:
    """Call only after the re-fetched records were processed: an intent dropped before its deal was
    re-fetched would lose the deal to a crash in between (its stamp may be long behind the
    watermark). A crash before this only means one more look-up and re-fetch. Intents this run
    re-opened carry its run id and stay."""
    with run.state.transaction():
        run.state.drop_stale_intents(before_run=run.run_id)
