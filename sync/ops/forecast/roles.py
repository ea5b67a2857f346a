"""``forecast --by role``: the tasks of each project's plan → hours per role per month (pure: no
I/O, no clock; README "Forecast", docs/architecture.md §12 and §14).

Where the other groupings spread a whole deal's hours, this one spreads each task's estimated hours
over the task's own dates (start → due, both days included, as :func:`spread` shares them). A task
without a start starts on its project's start, one without a due date ends on its project's end (the
mapped start and end fields of the deal's payload); with neither, it starts in the first forecast
month and ends the day it starts. A won deal's tasks count whole; a tentative project's tasks count
times the deal's probability, as the pipeline does. A deal without tasks (no structure, or an open
pipeline deal that has no project yet) puts nothing in any role: the notes say how many.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sync.ops.forecast.compute import HUNDRED, Deal, Forecast, Line, day_of, month_starts, spread
from sync.ops.forecast.config import ForecastConfig

ROLE = "role"
NO_ROLE = "(no role)"  # the tasks without a role: the same words as `plan`'s hours by role


@dataclass(frozen=True)
class Task:
    """One task of a project's plan as the state file keeps it (a linked child, not flagged)."""

    record_id: str
    role: str | None
    hours: Decimal | None
    start: date | None
    due: date | None


def forecast_by_role(
    deals: list[Deal], tasks: list[Task], config: ForecastConfig, first: date, months: int
) -> Forecast:
    """Spread every counted deal's tasks, each weighted by its deal's probability, by role."""
    starts = month_starts(first, months)
    result = Forecast(months=starts, by=ROLE, groups={})
    tasks_of: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        tasks_of[task.record_id].append(task)
    for deal in deals:
        mine = tasks_of.get(deal.record_id)
        if not mine:
            result.counts[f"no_tasks_{deal.kind}"] += 1
            continue
        result.counts[deal.kind] += 1
        for task in mine:
            _add(result, deal, task, config)
    for role, line in result.groups.items():
        line.capacity = config.capacity_by_role.get(role)
    result.notes.extend(_notes(result))
    return result


def task_dates(task: Task, deal: Deal, config: ForecastConfig) -> tuple[date, date] | None:
    """(start, due) of ``task``: its own, else its project's; None when neither gives a start."""
    project_start = day_of(deal.fields.get(config.fields.get("start") or "")) or deal.close_date
    project_end = day_of(deal.fields.get(config.fields.get("end") or ""))
    start = task.start or project_start
    if start is None:
        return None
    due = task.due or project_end or start
    return start, max(due, start)


def _add(result: Forecast, deal: Deal, task: Task, config: ForecastConfig) -> None:
    if task.hours is None:
        result.counts["no_hours"] += 1
        return
    dates = task_dates(task, deal, config)
    if dates is None:
        result.counts["no_dates"] += 1
        dates = (result.months[0], result.months[0])
    count = len(result.months)
    line = result.groups.setdefault(
        task.role or NO_ROLE, Line(won=[Decimal(0)] * count, pipeline=[Decimal(0)] * count)
    )
    target = line.won if deal.kind == "won" else line.pipeline
    weighted = task.hours * deal.probability / HUNDRED
    for index, share in enumerate(spread(weighted, dates[0], dates[1], result.months)):
        target[index] += share


def _notes(result: Forecast) -> list[str]:
    counts, notes = result.counts, []
    if counts["no_tasks_pipeline"]:
        notes.append(
            f"{counts['no_tasks_pipeline']} open pipeline deal(s) "
            "without a project plan (no tasks) left out: "
            "--by role counts only the tasks of won and tentative projects"
        )
    if counts["no_tasks_won"]:
        notes.append(
            f"{counts['no_tasks_won']} won project(s) without tasks (no structure) left out"
        )
    if counts["no_hours"]:
        notes.append(f"{counts['no_hours']} task(s) without estimated hours left out")
    if counts["no_dates"]:
        notes.append(
            f"{counts['no_dates']} task(s) with no date, nor their project, put in the first month"
        )
    return notes
