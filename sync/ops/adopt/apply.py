"""Link the pairs ``adopt`` and ``link`` found, and forget one pair (``unlink``), in run sessions.

Each batch of pairs is one :func:`sync.orchestrator.stages.cycle` (the run lock, a run row, the
org/PSA guard, recovery first, the final write-back last) whose step writes each project's key, then
hands the pair to load's ``adopt()``: the link, its snapshot and the queued write-back of the link
fields commit together, and only the CRM-owned ``always`` fields that differ are pushed, so values a
person entered in the project for ``on_create`` fields, and PSA-owned values, survive.

The key goes into the project *before* the link is committed. Interrupted between the two, the
project carries the deal's key and no link: the next ``adopt --apply`` matches it by key (and a run
or backfill reading the deal adopts it through the create path's look-up), so nothing is doubled or
lost. ``unlink`` goes the other way: the key is cleared first, then the link is dropped, the deal
marked ignored and its link fields cleared through the outbox in one commit; interrupted in between,
the same command finishes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

from sync.common.errors import AdoptionRefused, PsaUnavailable
from sync.common.model import Outcome
from sync.config import Settings
from sync.load.projects import adopt, ref_of
from sync.mapping.model import Mapping
from sync.ops.adopt.match import Pair
from sync.orchestrator import stages
from sync.orchestrator.backfill import BATCH_ROWS, LOCK_WAIT_SECONDS
from sync.orchestrator.session import Connected, Run, RunResult


@dataclass
class Applied:
    """What ``--apply`` (or ``link``) did."""

    linked: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # deal → why its pair was not linked
    skipped: list[str] = field(default_factory=list)  # linked meanwhile (a run adopted it first)
    exit_code: int = 0
    error: str | None = None
    api_calls: dict[str, int] = field(default_factory=dict)


def apply(
    settings: Settings,
    connected: Connected,
    mapping: Mapping,
    pairs: list[Pair],
    *,
    mode: str = "adopt",
    readmit: bool = False,
    batch: int = BATCH_ROWS,
) -> Applied:
    """Link ``pairs`` in batches, each in a run session of its own (the lock is held one batch at a
    time), all with ``mapping``, the one the command matched with. ``readmit``: pairs named by a
    person (``--pairs``, ``link``) also end a deal's ignored mark."""
    applied = Applied()
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        step = partial(_link, pairs=chunk, readmit=mode if readmit else None, applied=applied)
        result = stages.cycle(
            settings, mode, step, connected=connected, mapping=mapping, wait=LOCK_WAIT_SECONDS
        )
        applied.exit_code = max(applied.exit_code, result.exit_code)
        for name, calls in result.api_calls.items():
            applied.api_calls[name] = applied.api_calls.get(name, 0) + calls
        if result.exit_code not in (0, 1):
            applied.error = result.error
            break
    return applied


def _link(run: Run, *, pairs: list[Pair], readmit: str | None, applied: Applied) -> None:
    """Keys first, then ``adopt()`` for each pair whose key the PSA confirmed; ``readmit`` names the
    command that ends the ignored mark of the deals it links."""
    already = run.state.links([p.row.record_id for p in pairs])
    applied.skipped += [p.row.record_id for p in pairs if p.row.record_id in already]
    todo = [p for p in pairs if p.row.record_id not in already]
    to_key = [p for p in todo if p.project.key != p.row.key]
    answers = {
        p.row.record_id: r
        for p, r in zip(
            to_key, run.psa.set_keys([(p.project, p.row.key) for p in to_key]), strict=True
        )
    }
    ready, failed = [], {}
    for pair in todo:
        answer = answers.get(pair.row.record_id)
        if answer is None or answer.outcome in (Outcome.UPDATED, Outcome.UNCHANGED):
            ready.append((pair, replace(pair.project, key=pair.row.key)))
        else:
            failed[pair.row.record_id] = _key_failure(pair, answer.outcome, answer.error)
    with run.state.transaction():
        for record_id, why in failed.items():
            run.state.event(run.run_id, record_id, "adopt", "failed", {"error": why})
    run.count_new_failures(failed)
    applied.failed.update(failed)
    if readmit:
        run.state.readmit([pair.row.record_id for pair, _ in ready], run.run_id, readmit)
    values = run.psa.read([ref for _, ref in ready]) if ready else {}
    for pair, ref in ready:
        with run.state.transaction():
            run.state.event(
                run.run_id,
                pair.row.record_id,
                "adopt",
                "matched",
                {
                    "project_id": ref.id,
                    "identifier": ref.identifier,
                    "by": pair.by,
                    "line": pair.line,
                },
            )
        adopt(run.ctx, pair.row, ref, values.get(pair.row.key, {}), run.load)
    applied.failed.update(run.load.failed)
    run.tally_load()
    applied.linked += run.load.adopted


def _key_failure(pair: Pair, outcome: str, error: str | None) -> str:
    if outcome == Outcome.UNKNOWN:
        return (
            f"the PSA did not confirm the key written into project {pair.project.id} ({error}); "
            "run the same command again: a project that got its key is then matched by key"
        )
    return f"the PSA refused the key for project {pair.project.id}: {error or outcome}"


def unlink(
    settings: Settings, record_id: str, *, environ: dict[str, str] | None = None
) -> RunResult:
    """Forget one pair; both records stay.

    The key is cleared in the project, the link dropped, the deal's link fields cleared and the
    deal ignored (no new project) until ``link`` or ``retry --id``.
    """
    return stages.cycle(settings, "unlink", lambda run: _unlink(run, record_id), environ=environ)


def _unlink(run: Run, record_id: str) -> None:
    link = run.state.links([record_id]).get(record_id)
    if link is None:
        raise AdoptionRefused(f"deal {record_id} is not linked to any project; nothing to unlink")
    [answer] = run.psa.set_keys([(ref_of(link), None)])
    gone = answer.outcome == Outcome.FAILED and "no longer exists" in (answer.error or "")
    if answer.outcome == Outcome.UNKNOWN:
        raise PsaUnavailable(
            "the PSA did not confirm clearing the key of project "
            f"{link.project_id} ({answer.error}); "
            f"nothing was changed here: run `psa-sync unlink {record_id}` again"
        )
    if answer.outcome == Outcome.FAILED and not gone:
        raise AdoptionRefused(
            f"the PSA refused to clear the key of project {link.project_id}: {answer.error}; "
            "nothing was changed"
        )
    detail = {"project_id": link.project_id, "url": link.project_url, "project_gone": gone or None}
    state = run.state
    with state.transaction():
        state.drop_link(record_id)
        state.drop_intent(record_id)
        state.release(record_id)
        state.drop_outbox(record_id)
        state.queue(record_id, dict.fromkeys(run.mapping.writeback))  # the link fields, cleared
        state.ignore(record_id, link.key, detail, run.run_id)
        state.event(run.run_id, record_id, "unlink", "ignored", detail)
