"""Running `psa-sync daemon` through the real CLI in a test, and reading what it did from the state file."""

from __future__ import annotations

import json
import resource
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.fixtures.sync import CLI
from tests.integration.exactly_once_support import state_rows


def wait_for(what: Callable[[], object], timeout: float, every: float = 0.1, why: str = "") -> object:
    """Poll ``what`` until it is truthy; its value. Fails after ``timeout`` seconds, saying ``why``."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {why}")
        time.sleep(every)


@dataclass
class DaemonProcess:
    """A `psa-sync daemon` subprocess; its log goes to a file (a pipe could fill up and block it)."""

    proc: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, harness, open_files: int | None = None, log_name: str = "daemon.log") -> DaemonProcess:
        """``open_files``: the daemon's descriptor limit (``ulimit -n``), to show what exhausting it does."""
        if not harness.config.exists():
            harness.write_config()
        log = harness.workdir / log_name
        limit = None if open_files is None else lambda: resource.setrlimit(
            resource.RLIMIT_NOFILE, (open_files, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        proc = subprocess.Popen([*CLI, "--config", str(harness.config), "daemon"], env=harness.env(),
                                cwd=harness.workdir, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=limit)
        return cls(proc, log)

    def text(self) -> str:
        return self.log.read_text()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds it took to exit)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def rows_of(harness, table: str) -> list[dict]:
    """A table of the daemon's state file; empty while the first cycle is still creating it."""
    try:
        return state_rows(harness.state, table) if harness.state.exists() else []
    except sqlite3.OperationalError:  # no such table yet
        return []


def runs(harness) -> list[dict]:
    """The run rows, oldest first (counts and calls decoded)."""
    rows = sorted(rows_of(harness, "runs"), key=lambda r: r["id"])
    for row in rows:
        for key in ("counts", "api_calls"):
            row[key] = json.loads(row[key]) if row[key] else {}  # plain numbers: no typed values here
    return rows


def linked(harness) -> set[str]:
    return {row["record_id"] for row in rows_of(harness, "links")}


def started(row: dict) -> float:
    return datetime.fromisoformat(row["started_at"].replace("Z", "+00:00")).timestamp()


WORK = ("created", "adopted", "updated", "lifecycle", "repaired", "written", "written_later", "backsync",
        "quarantined", "unconfirmed")


def idle(row: dict) -> bool:
    """A cycle that found nothing to do (re-reading the lookback is not work: the rows are unchanged)."""
    return row["status"] == "ok" and not any(row["counts"].get(k) for k in WORK)
