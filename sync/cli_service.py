"""The commands of psa-sync as a service: ``daemon`` (the sync on its own schedule) and ``status``
(what the state file says, and whether an operator should be told)."""

from __future__ import annotations

import json

import click

from sync import report
from sync.cli_base import Context, _exit, _guarded, echo


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (versioned).")
@click.pass_obj
@_guarded
def status(obj: Context, as_json: bool) -> None:
    """Show the last runs, watermark, links, quarantine and outbox.

    \b
    Example:
        psa-sync status --json | jq .runs[0]
    """
    data = report.status_data(obj.settings())
    echo(json.dumps(data, indent=2, default=str) if as_json else report.status_text(data))


@click.command()
@click.pass_obj
@_guarded
def daemon(obj: Context) -> None:
    """Run the sync as a service: a cycle every schedule.interval (30s unless set), one token for all.

    Each cycle is a `run` (same lock, run rows, exit codes). Cycles ending 3 or 4 back off; 2 or 5
    stop the daemon with that code. SIGTERM/SIGINT stop it cleanly (exit 0); SIGHUP reloads the
    config and mapping, keeping the old ones if the new are broken.

    \b
    Example (systemd: scripts/psa-sync-daemon.service):
        psa-sync --config /etc/psa-sync/psa-sync.yaml daemon
    """
    from sync.daemon import Daemon

    _exit(Daemon(obj.config_path, obj.settings()).serve())
