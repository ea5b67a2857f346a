"""Connector writes and reads a few at a time: the one bounded pool every PSA connector uses.

Not Redmine's nor Tryton's own: both send project creates (and Redmine its per-project hour counts)
``write_concurrency`` at a time, and both must stop a batch the same way when the whole connection fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sync.errors import SyncError


def run_bounded(fn: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list:
    """``fn`` over items, at most ``workers`` requests in flight, results in input order.

    A whole-connection failure (``PsaUnavailable``, ``AuthError``) stops the batch: requests not
    yet sent are cancelled and the error is raised with ``.results`` = the results obtained so
    far, in order (the rest recover through their intents anyway, but a pipeline may record them).
    """
    items = list(items)
    results: list = []
    if workers <= 1 or len(items) <= 1:
        try:
            for item in items:
                results.append(fn(item))
        except SyncError as exc:
            exc.results = results
            raise
        return results
    error = None
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
