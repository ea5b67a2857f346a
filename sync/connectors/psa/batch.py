"""Connector writes and reads a few at a time: the one bounded pool every PSA connector uses.

Not Redmine's nor Tryton's own: both send project creates (and Redmine its per-project hour counts)
``write_concurrency`` at a time, and both must stop a batch the same way when the whole
connection fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sync.common.errors import SyncError

Item = TypeVar("Item")
Result = TypeVar("Result")


def run_bounded(fn: Callable[[Item], Result], items: Sequence[Item], workers: int) -> list[Result]:
    """``fn`` over items, at most ``workers`` requests in flight, results in input order.

    A whole-connection failure (``PsaUnavailable``, ``AuthError``) stops the batch: requests not
    yet sent are cancelled and the error is raised with ``.results`` = the results obtained so
    far, in order (the rest recover through their intents anyway, but a pipeline may record them).
    """
    items = list(items)
    results: list[Result] = []
    if workers <= 1 or len(items) <= 1:
        try:
            for item in items:
                results.append(fn(item))
        except SyncError as exc:
            exc.results = results
            raise
        return results
    error: SyncError | None = None
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fn, item) for item in items]
        for future in futures:
            if error is not None:
                future.cancel()
                continue
            try:
                results.append(future.result())
            except SyncError as exc:
                error = exc
    if error is not None:
        error.results = results
        raise error
    return results


@dataclass(frozen=True)
class CreateChunk:
    """How a connector that sends one request per project (Redmine, Tryton: ``create_chunk``) is
    given a batch's creates: at most ``count`` at a time, and no more than about ``seconds`` of
    requests at the rate measured so far. Each chunk's links commit together as soon as it answers,
    so a crash leaves at most one chunk's projects unlinked, which recovery finds by key. A
    connector without the attribute (one call per batch) is given the whole batch."""

    count: int = 100
    seconds: float = 5.0


def chunks(
    items: Sequence[Any], chunk: CreateChunk | None, clock: Callable[[], float] = time.monotonic
) -> Iterator[list[Any]]:
    """``items`` in chunks sized by ``chunk`` (the whole at once when ``None``). The first chunk is
    a tenth of ``count``; each next one as many as the rate of those before sends in ``seconds``."""
    if chunk is None:
        if items:
            yield list(items)
        return
    size, done, started = max(1, chunk.count // 10), 0, clock()
    while done < len(items):
        yield list(items[done : done + size])
        done += size
        elapsed = clock() - started
        size = (
            chunk.count
            if elapsed <= 0
            else max(1, min(chunk.count, int(done / elapsed * chunk.seconds)))
        )
