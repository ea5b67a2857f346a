"""Hand edits in the PSA of fields the CRM owns (docs/architecture.md §1.1).

An edit is a conflict only when the PSA's value, typed and normalised (Redmine returns every
custom value as a string), differs from both the value we last pushed and the value we want now.
By the time back-sync runs, this run's CRM changes are already pushed, so "last pushed" and "wanted
now" are the link's snapshot. The policy decides:

- ``crm_wins``: overwrite the PSA's value with the CRM's and record a conflict event;
- ``keep_psa``: leave it, record it, and stop pushing that field for that deal.

``on_create`` fields are PSA-owned after creation and never conflict; neither does a closed project
(read-only) or a field whose change is waiting for the project to be reopened.
"""

from __future__ import annotations

import logging
from typing import Any

from sync.common.model import DONE, Link
from sync.connectors.psa.base import ProjectChange
from sync.load.context import LoadContext, ref_of
from sync.transform.diff import canonical

logger = logging.getLogger(__name__)


def _norm(value: Any) -> Any:
    value = canonical(value)
    if isinstance(value, str):
        value = value.strip() or None  # Redmine strips text and stores "" for an empty value
    return value


def edited_fields(link: Link, psa_values: dict[str, Any], on_create: set[str]) -> dict[str, Any]:
    """CRM-owned fields whose PSA value differs from what we last pushed (and want now)."""
    return {
        name: psa_values[name]
        for name, pushed in link.payload.items()
        if name in psa_values
        and name not in on_create
        and name not in link.kept_psa
        and name not in link.pending
        and _norm(psa_values[name]) != _norm(pushed)
    }


def resolve(ctx: LoadContext, link: Link, psa_values: dict[str, Any], policy: str) -> bool:
    """Apply the conflicts policy to one linked project; True when a conflict was found."""
    edited = edited_fields(link, psa_values, ctx.on_create)
    if not edited:
        return False
    detail = {name: {"psa": value, "crm": link.payload.get(name)} for name, value in edited.items()}
    if policy == "keep_psa":
        with ctx.state.transaction():
            ctx.state.save_link(link.but(kept_psa=sorted({*link.kept_psa, *edited})))
            ctx.state.event(ctx.run_id, link.record_id, "conflict", "kept-psa", detail)
        return True
    result = ctx.psa.update(
        [ProjectChange(ref=ref_of(link), fields={n: link.payload[n] for n in edited})]
    )[0]
    outcome = "overwritten" if result.outcome in DONE else f"not-overwritten:{result.outcome}"
    with ctx.state.transaction():
        ctx.state.event(
            ctx.run_id,
            link.record_id,
            "conflict",
            outcome,
            {**detail, **({"error": result.error} if result.error else {})},
        )
    return True
