"""Test-only crash points inside the dangerous windows of a run.

``PSA_SYNC_CRASH_AT=after-create:3`` makes the process kill itself with SIGKILL the third time it
passes the point ``after-create`` (between the PSA's 201 and the link commit). The crash tests use
it to prove that a crash anywhere loses and doubles nothing. Unset (always, in production) it costs
one dictionary look-up per point.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Callable, Mapping

from sync.connectors.psa.batch import CreateChunk

POINTS = (
    "after-token",
    "before-refetch",
    "after-recover",
    "after-page",
    "after-intent",
    "after-create",
    "after-collections",
    "before-commit",
    "after-backsync",
    "after-update",
    "after-lifecycle",
    "after-chunk",
    "after-child-intent",
    "after-child-create",
)


def crash_hook(environ: Mapping[str, str]) -> Callable[[str], None]:
    """The function stages call at each crash point (a no-op unless PSA_SYNC_CRASH_AT is set)."""
    spec = environ.get("PSA_SYNC_CRASH_AT", "")
    if not spec:
        return lambda point: None
    target, _, nth = spec.partition(":")
    wanted = int(nth or 1)

    def hit(point: str) -> None:
        _seen[point] += 1
        if point == target and _seen[point] == wanted:
            os.kill(os.getpid(), signal.SIGKILL)

    return hit


def create_chunk(environ: Mapping[str, str], chunk: CreateChunk | None) -> CreateChunk | None:
    """``PSA_SYNC_CREATE_CHUNK=<n>``: chunks of n creates (test-only, so a crash test's small pages
    make several chunks and a kill can fall between one chunk's links and the next chunk's
    creates)."""
    count = environ.get("PSA_SYNC_CREATE_CHUNK", "")
    return CreateChunk(count=int(count)) if count else chunk


#: Passes counted per process, not per run session: a backfill runs one session per window, and its
#: n-th commit must still be the n-th.
_seen: Counter[str] = Counter()
