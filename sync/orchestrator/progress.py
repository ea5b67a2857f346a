"""Progress of a long command (a backfill): a bar on a terminal, plain lines in a log.

At Redmine's ~20 creates a second, ten thousand deals take minutes, so a person at a terminal sees a
rich progress bar with the rate and the time left; cron and CI get a plain line at most every
``EVERY_SECONDS`` (and at the end), which reads well in a log file.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from sync.orchestrator.backfill import Progress

logger = logging.getLogger(__name__)

EVERY_SECONDS = 10.0


def line(progress: Progress, elapsed: float) -> str:
    """``done/total deals, created …, rate, time left`` of a backfill's progress."""
    rate = progress.done / elapsed if elapsed > 0 else 0.0
    left = (progress.total - progress.done) / rate if rate > 0 else None
    counts = (
        ", ".join(f"{k} {v}" for k, v in progress.counts.items() if v and k != "extracted") or "-"
    )
    eta = f", about {left / 60:.1f} min left" if left is not None else ""
    return f"backfill {progress.done}/{progress.total} deals ({counts}); {rate:.1f} deals/s{eta}"


@contextmanager
def reporter(
    quiet: bool = False, stream: TextIO | None = None
) -> Iterator[Callable[[Progress], None] | None]:
    """A callback for each window's progress: a bar on a terminal, else lines in the log."""
    stream = stream or sys.stderr
    if quiet:
        yield None
        return
    started = time.monotonic()
    if stream.isatty():
        from rich.progress import (
            BarColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        with Bar(
            TextColumn("backfill"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            transient=False,
        ) as bar:
            task = bar.add_task("backfill", total=None, counts="")

            def update(progress: Progress) -> None:
                counts = ", ".join(
                    f"{k} {v}" for k, v in progress.counts.items() if v and k != "extracted"
                )
                bar.update(task, total=progress.total, completed=progress.done, counts=counts)

            yield update
        return
    last = [started]

    def log(progress: Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= EVERY_SECONDS or progress.done >= progress.total:
            last[0] = now
            logger.info("%s", line(progress, now - started))

    yield log
