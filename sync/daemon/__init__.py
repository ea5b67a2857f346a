"""`psa-sync daemon`: the sync as a long-lived service, near real time at almost no API cost.

One process keeps one Salesforce token and one PSA connector across its cycles, so an idle cycle
costs one query call (plus the PSA calls of back-sync, every ``schedule.backsync_interval``). Each
cycle is a run (``stages.run_once`` with the kept clients): the same lock, the same run rows, the
same exit codes. ``policy`` decides what a cycle's exit code means for the next one (back-off,
stop), ``jobs`` holds the job bodies, ``service`` the scheduler, the signals and the reload.
"""

from sync.daemon.service import Daemon, Shutdown

__all__ = ["Daemon", "Shutdown"]
