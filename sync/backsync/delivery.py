"""PSA-owned delivery values (status, percent complete, hours spent) → the outbox.

Redmine has no change feed for projects, so a back-sync lists the linked projects (100 a page) and
diffs their delivery values against what we last wrote, 2,000 projects at a time (memory holds one
chunk, whatever the number of projects). That is ⌈linked/100⌉ PSA calls, too many for every
30-second daemon cycle, so it runs at most every ``schedule.backsync_interval`` (5 minutes by
default; 0 = every run); hours spent are a sum over time entries, one call per project, so they are
recounted only every ``schedule.hours_interval``. Only changes reach the outbox, so an idle
back-sync costs zero Salesforce calls. A project that was reopened gets the CRM changes that waited
while it was closed (``on_closed: skip``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sync.backsync import conflicts
from sync.backsync.plan_progress import plan_progress
from sync.common.clock import iso, parse_iso, utcnow
from sync.common.model import DONE
from sync.connectors.psa.base import ProjectChange
from sync.connectors.psa.structure import StructureConnector
from sync.load.context import ref_of
from sync.state import children as state_children
from sync.transform.diff import same
from sync.transform.rows import transform_backsync, transform_progress

logger = logging.getLogger(__name__)

HOURS_STAMP = "hours_counted_at"
BACKSYNC_STAMP = "backsync_at"
CHUNK = 2000  # links read, asked for and compared at a time (20 Redmine listing pages of 100)


def hours_due(state, interval: timedelta, stamp: str = HOURS_STAMP) -> bool:
    last = state.meta(stamp)
    return interval.total_seconds() == 0 or last is None or utcnow() - parse_iso(last) >= interval


def run(run) -> None:
    """Read delivery values of every linked project and queue what changed since the last write
    (when ``schedule.backsync_interval`` has passed since the last back-sync), ``CHUNK`` links at a
    time: memory holds one chunk's links and delivery values, whatever the number of projects."""
    state, mapping = run.state, run.mapping
    if not hours_due(state, run.settings.schedule.backsync_interval, BACKSYNC_STAMP):
        return
    ids = state.link_ids()
    if not ids:
        return
    hours = hours_due(state, run.settings.schedule.hours_interval) and any(
        rule.source == "spent_hours" for rule in mapping.backsync.values()
    )
    for start in range(0, len(ids), CHUNK):
        links = {link.key: link for link in state.links(ids[start : start + CHUNK]).values()}
        # a value still waiting is compared with, and replaced by, a newer one: the chunk's own (the
        # whole outbox, a first run's every write-back, held through the back-sync was its peak)
        pending = state.outbox_of([link.record_id for link in links.values()])
        _chunk(run, links, hours, pending)
    state.set_meta(BACKSYNC_STAMP, iso(utcnow()))
    if hours:
        state.set_meta(HOURS_STAMP, iso(utcnow()))


def _chunk(run, links: dict, hours: bool, pending: dict[str, dict]) -> None:
    state, mapping = run.state, run.mapping
    delivery = run.psa.delivery([ref_of(link) for link in links.values()], hours=hours)
    values = {
        key: {
            **(getattr(d, "figures", None) or {}),
            "status": d.status,
            "percent_complete": d.percent_complete,
            "spent_hours": d.spent_hours,
        }
        for key, d in delivery.items()
    }
    wanted = transform_backsync(values, mapping) if mapping.backsync else {}
    if (
        mapping.structure is not None and mapping.structure.backsync
    ):  # the progress of the projects' plans
        progress, _ = transform_progress(_plans(run, links), mapping)
        for key, fields in progress.items():
            wanted.setdefault(key, {}).update(fields)
    # links whose delivery status moved: saved in one commit, before conflicts save theirs
    noted: list = []
    read = {
        key: _note_status(
            _apply_pending(run, link, delivery[key].status), delivery[key].status, noted
        )
        for key, link in links.items()
        if key in delivery
    }
    if noted:
        with state.transaction():
            state.save_links(noted)
    queued: dict[str, dict] = {}
    for key, link in read.items():
        current = getattr(delivery[key], "values", None)
        if current is not None and delivery[key].status == "active":
            run.counts["conflicts"] += conflicts.resolve(run.ctx, link, current, mapping.conflicts)
        sf_values = {
            f: v
            for f, v in wanted.get(key, {}).items()
            if not (f in _hours_fields(mapping) and not hours)
        }
        waiting = pending.get(link.record_id, {})
        changed = {
            f: v
            for f, v in sf_values.items()
            if not same(v, waiting[f] if f in waiting else link.written.get(f, _MISSING))
        }
        if changed:
            queued[link.record_id] = changed
    if not queued:
        return
    with (
        state.transaction()
    ):  # the chunk's changes in one commit (a crash: the next back-sync finds them again)
        state.queue_all(queued.items())
        state.add_events(
            run.run_id,
            (
                (record_id, "back-sync", "queued", {"fields": changed})
                for record_id, changed in queued.items()
            ),
        )
    run.counts["backsync"] += len(queued)


_MISSING = object()


def _plans(run, links: dict) -> dict[str, dict]:
    """key → progress values of the linked projects with a plan (one children read a chunk)."""
    by_record = {link.record_id: link for link in links.values()}
    children = state_children.children_of(run.state, list(by_record))
    planned = [by_record[r] for r in children if any(c.child_id for c in children[r].values())]
    if not planned or not isinstance(run.psa, StructureConnector):
        return {}
    read = run.psa.children([ref_of(link) for link in planned])
    return {
        link.key: plan_progress(read.get(link.project_id, []), children[link.record_id])
        for link in planned
    }


def _hours_fields(mapping) -> set[str]:
    return {field for field, rule in mapping.backsync.items() if rule.source == "spent_hours"}


def _note_status(link, status: str, noted: list):
    """Keep the project's delivery status as back-sync read it (``links.backsync``): the forecast
    reads the state file only, and a project delivery closed is no upcoming work. Written only when
    it changed, for the whole chunk at once (``noted``)."""
    if link.backsync.get("status") == status:
        return link
    link = link.but(backsync={**link.backsync, "status": status})
    noted.append(link)
    return link


def _apply_pending(run, link, status: str):
    """CRM changes recorded while the project was closed land once a person reopens it."""
    if not link.pending or status != "active":
        return link
    result = run.psa.update([ProjectChange(ref=ref_of(link), fields=link.pending)])[0]
    if result.outcome not in DONE:
        return link
    applied = link.but(pending={})
    with run.state.transaction():
        run.state.save_link(applied)
        run.state.event(
            run.run_id, link.record_id, "update", "applied-pending", {"changed": link.pending}
        )
    return applied
