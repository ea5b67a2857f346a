"""The daemon's timetable: which jobs run when, on one APScheduler ``BlockingScheduler``.

Jobs run one at a time in the main thread (``DebugExecutor``: it calls the job where the scheduler
loop runs), see ``sync.daemon.service``. ``max_instances=1`` and ``coalesce=True`` say the same to
the scheduler: a cycle that outlasts its interval is followed by one cycle, not a backlog.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_SUBMITTED
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from sync.config import At, Settings
from sync.daemon import event_jobs, jobs

DRAIN_EVERY = 0.2  # seconds between two looks at the events queue (an empty look costs nothing)


def timetable(
    settings: Settings,
    job: Callable[[Callable], Callable[[], None]],
    after_job: Callable[[object], None],
    *,
    events: bool,
) -> BlockingScheduler:
    """A scheduler with the sync cycle, the events drain (``events``), the scheduled reconcile and
    the nightly retention, each body wrapped by ``job``; ``after_job`` hears each job submitted."""
    schedule = settings.schedule
    interval = schedule.cycle.total_seconds()
    scheduler = BlockingScheduler(
        timezone=UTC,
        executors={"default": DebugExecutor()},
        job_defaults={"max_instances": 1, "coalesce": True},
    )
    scheduler.add_job(
        job(jobs.sync_cycle),
        IntervalTrigger(seconds=interval, jitter=min(interval * 0.1, 5)),
        id="sync",
        name="sync",
        next_run_time=datetime.now(UTC),
        misfire_grace_time=max(int(interval), 1),
    )
    if events:
        scheduler.add_job(
            job(event_jobs.events_cycle),
            IntervalTrigger(seconds=DRAIN_EVERY),
            id="events",
            name="events",
            misfire_grace_time=1,
        )
    if schedule.reconcile is not None:
        scheduler.add_job(
            job(jobs.reconcile),
            _cron(schedule.reconcile),
            id="reconcile",
            name="reconcile",
            misfire_grace_time=3600,
        )
    scheduler.add_job(
        job(jobs.retention),
        _cron(settings.retention.at),
        id="retention",
        name="retention",
        misfire_grace_time=3600,
    )
    # A job runs inside the scheduler's loop; the loop may end only once it has stored the job's
    # next run time, which is when it reports the job submitted.
    scheduler.add_listener(after_job, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES)
    return scheduler


def _cron(at: At) -> CronTrigger:
    return CronTrigger(day_of_week=at.day_of_week, hour=at.hour, minute=at.minute, timezone=UTC)
