"""The daemon's ``events`` job: drain what the listeners queued, re-read the deals they name through
the same ``Id IN`` fetch and the same page step as every run, and commit the replay ids with the
last page.

An empty drain costs nothing (no call, no run row, no write). Events make a run like any other (mode
``events``: the lock, a run row, recover → step → settle → unconfirmed → write-back), whose step is:
a poll window first when a fallback asks for one (overflow, wildcard, LATEST after a lost position),
then the named deals, page by page; the last page's commit also stores each topic's replay id and
the stream's status (``sync.state.events``). A cycle that fails keeps its work for the next tick and
commits no replay id, so a crash or an error re-reads the same deals: a no-op where it was done.
Keepalives and echoes alone move the replay id in a small write of their own (the run lock, no run).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sync.common.errors import ExitCode, LockHeldError, SyncError
from sync.events.client import Credentials, Fault
from sync.events.intake import Work
from sync.extract import incremental
from sync.extract.soql import field, to_soql
from sync.orchestrator import stages
from sync.orchestrator.session import Run
from sync.state import State
from sync.state import events as stored
from sync.state.lock import run_lock

if TYPE_CHECKING:
    from sync.daemon.service import Daemon

logger = logging.getLogger(__name__)


def events_cycle(daemon: Daemon) -> None:
    path = daemon.event_path
    if path is None or path.gave_up and not path.queue.qsize():
        return
    if not path.started:
        _start(daemon)
        if not path.started:
            return
    path.watchdog()
    work = path.drain()
    if any(d.fault is Fault.AUTH for d in work.downs):
        daemon.connections.client.refresh_token()  # the listener's next subscribe sends the new one
    if work.needs_cycle:
        _cycle(daemon, work)
    elif work.replay or work.ups or work.downs or work.events:
        _record(daemon, work)


def _start(daemon: Daemon) -> None:
    """Once the first cycle has a token: subscribe after each topic's stored replay id (LATEST and a
    poll window at once when there is none, or it belongs to another org or instance)."""
    connections = daemon.connections
    if connections is None or not connections.client.org_id:
        return
    client = connections.client
    replays = {}
    with _state(daemon) as state:
        for topic in daemon.event_path.topics:
            saved = stored.replay(state, topic) if state is not None else None
            replays[topic] = (
                saved.replay_id
                if saved and saved.belongs_to(client.org_id, client.instance_url)
                else None
            )

    def credentials() -> Credentials:
        grant = client.grant
        return Credentials(grant.access_token, grant.instance_url, grant.org_id)

    daemon.event_path.start(credentials, replays, **daemon.listener_options)


class _state:
    """The state file read-only (None before the first run made it)."""

    def __init__(self, daemon: Daemon):
        self.path = daemon.settings.state

    def __enter__(self) -> State | None:
        self.state = State.open_readonly(self.path)
        return self.state

    def __exit__(self, *exc) -> None:
        if self.state is not None:
            self.state.close()


def _cycle(daemon: Daemon, work: Work) -> None:
    from sync.daemon.jobs import after

    began = daemon.clock()
    if daemon.backoff.waiting(began):
        return
    try:
        code = stages.cycle(
            daemon.settings,
            "events",
            lambda run: _step(daemon, run, work),
            environ=daemon.environ,
            **daemon.kept(),
        ).exit_code
    except LockHeldError:
        return  # a run started by hand: the work waits for the next tick
    except SyncError as exc:
        logger.error("%s", exc)
        code = exc.exit_code
    except Exception:  # noqa: BLE001 - a bug: the run row says failed; the work stays for next tick
        logger.exception(
            "unexpected error in an events cycle "
            "(a bug in psa-sync: please report it with this log)"
        )
        code = ExitCode.UNEXPECTED
    if code in (0, 1):
        daemon.event_path.done()
        if work.poll_now:
            daemon.last_poll = began
    after(daemon, code, began)


def _step(daemon: Daemon, run: Run, work: Work) -> None:
    if work.poll_now:
        logger.info("events: a poll window now (%s)", ", ".join(sorted(set(work.poll_now))))
        stages.sync_changes(run)
    ids = work.deal_ids | _deals_of(run, work.line_item_ids)
    pages = incremental.fetch_ids(run.client, run.mapping, ids)
    page = next(pages, None)
    while page is not None:
        following = next(pages, None)
        commit = (lambda _records: _commit(daemon, run.state, work)) if following is None else None
        stages.process_page(run, page, advance=commit)
        run.fault("after-page")
        page = following
        if commit is not None:
            return
    with run.state.transaction():
        _commit(daemon, run.state, work)


def _deals_of(run: Run, line_item_ids: set[str]) -> set[str]:
    """The deals of changed line items: one query per 300 line items."""
    ids, deals = sorted(line_item_ids), set()
    for start in range(0, len(ids), incremental.MAX_IDS_PER_QUERY):
        soql = (
            f"SELECT OpportunityId FROM OpportunityLineItem "
            f"WHERE {to_soql(field('Id').in_(ids[start : start + incremental.MAX_IDS_PER_QUERY]))}"
        )
        for records in run.client.query_pages(soql, include_deleted=False):
            deals.update(r["OpportunityId"] for r in records if r.get("OpportunityId"))
    return deals


def _commit(daemon: Daemon, state: State, work: Work) -> None:
    """Inside a transaction: the replay ids the work reached, and the stream's status."""
    client = daemon.connections.client
    for topic, replay_id in work.replay.items():
        stored.save_replay(state, topic, replay_id, client.org_id, client.instance_url)
    stored.save_stream_status(state, daemon.event_path.status)


def _record(daemon: Daemon, work: Work) -> None:
    """Replay ids of keepalives and echoes, and status changes: a small write under the run lock."""
    if _write(daemon, lambda state: _commit(daemon, state, work)):
        daemon.event_path.done()


def record_stopped(daemon: Daemon) -> None:
    """The daemon stops: ``status`` must not go on saying the stream is connected. No replay id is
    written here (work not yet committed comes again at the next start)."""
    path = daemon.event_path
    if path is None or not path.started:
        return
    path.status.pop("connected_since", None)
    path.status["connected"] = False
    _write(daemon, lambda state: stored.save_stream_status(state, path.status), wait=2)


def _write(daemon: Daemon, write, wait: float = 0) -> bool:
    try:
        with run_lock(daemon.settings, wait):
            state = State.open(daemon.settings.state)
            try:
                with state.transaction():
                    write(state)
            finally:
                state.close()
    except LockHeldError:
        return False  # kept pending: the next tick writes it
    except SyncError as exc:
        logger.warning(
            "events: the stream's state was not stored (%s); the next tick tries again", exc
        )
        return False
    return True
