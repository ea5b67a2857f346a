"""What a daemon holds for its whole life, and how a reload swaps it: the single-instance lock
beside the state file and the ``/metrics`` server.

The run lock is taken per cycle, so a second daemon on the same config would not be refused by it:
the two would take turns and each log the other's cycles as "held". The daemon lock
(``<state>.daemon.lock``) is held from start to exit; a second daemon exits 75 at once, naming it.
A reload (SIGHUP) that names another state file or metrics address takes the new lock and serves the
new address *before* letting go of the old ones, so a reload that cannot have them is refused whole
and the daemon goes on as it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from filelock import FileLock, Timeout

from sync.common.errors import DaemonRunningError
from sync.config import Settings
from sync.ops.metrics import export
from sync.ops.metrics.server import MetricsServer
from sync.state.files import translate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Held:
    lock: FileLock
    metrics: MetricsServer | None


def take(settings: Settings, **limits) -> Held:
    """The daemon lock, then ``/metrics`` (``limits``: the server's); raises DaemonRunningError, or
    ConfigError naming the address when it cannot be served, having let go of what it took."""
    lock = _lock(settings)
    try:
        return Held(lock, export.serve(settings, **limits))
    except BaseException:
        lock.release()
        raise


def swap(held: Held, old: Settings, new: Settings, **limits) -> Held:
    """What the daemon holds under ``new`` settings; ``held`` untouched when it raises."""
    lock = _lock(new) if new.daemon_lock_path != old.daemon_lock_path else held.lock
    try:
        metrics = _metrics(held.metrics, old, new, **limits)
    except BaseException:
        if lock is not held.lock:
            lock.release()
        raise
    if lock is not held.lock:
        held.lock.release()
        logger.info("SIGHUP: the daemon now serves state file %s", new.state)
    if metrics is not held.metrics and held.metrics is not None:
        held.metrics.stop()
    return Held(lock, metrics)


def release(held: Held) -> None:
    if held.metrics is not None:
        held.metrics.stop()
    held.lock.release()


def _lock(settings: Settings) -> FileLock:
    lock = FileLock(str(settings.daemon_lock_path), timeout=0)
    try:
        settings.state.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise DaemonRunningError(
            f"another psa-sync daemon serves state file {settings.state} "
            f"(it holds {settings.daemon_lock_path}); "
            "this one did not start. Stop the other first (systemctl status psa-sync-daemon)"
        ) from None
    except OSError as exc:
        raise translate(settings.daemon_lock_path, exc) from exc
    return lock


def _metrics(
    server: MetricsServer | None, old: Settings, new: Settings, **limits
) -> MetricsServer | None:
    """The server under ``new``: the same one when its address stays (reading ``new``'s state file),
    else one on the new address, bound while the old one still serves. (The same port on another
    address of this host collides with the old one: that reload is refused, saying so; restart.)"""
    if server is not None and (new.metrics.port, new.metrics.address) == (
        old.metrics.port,
        old.metrics.address,
    ):
        server.collector.settings = new
        return server
    moved = export.serve(new, **limits)
    if moved is not None:
        logger.info("SIGHUP: /metrics now on %s", moved.where)
    elif server is not None:
        logger.info("SIGHUP: /metrics is no longer served (metrics.port removed)")
    return moved
