"""The commands of psa-sync as a service: ``daemon`` (the sync on its own schedule), ``status``
(what the state file says, and whether an operator should be told) and ``prune`` (retention by
hand)."""

from __future__ import annotations

import json

import click

from sync.cli.support import Context, echo, exit_with, guarded
from sync.ops import report


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (versioned).")
@click.option(
    "--check", is_flag=True, help="Health check: exit 0 if healthy, else 10-14 and why (README)."
)
@click.option(
    "--max-age",
    default="15m",
    show_default=True,
    metavar="DURATION",
    help="With --check: the longest time without a successful run (or a write-back waiting).",
)
@click.option(
    "--max-quarantine",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="With --check: how many deals may stay quarantined for over a day.",
)
@click.pass_obj
@guarded
def status(obj: Context, as_json: bool, check: bool, max_age: str, max_quarantine: int) -> None:
    """Show the last runs, watermark, links, quarantine and outbox; or, with --check, whether it is
    healthy.

    \b
    Examples:
        psa-sync status --json | jq .runs[0]
        psa-sync status --check --max-age 15m    # Nagios, Icinga, a Kubernetes probe, a cron mail
    """
    settings = obj.settings()
    if check:
        from sync.common.errors import ConfigError
        from sync.config import parse_duration
        from sync.ops import health

        age = parse_duration(max_age)
        if age is None or age.total_seconds() <= 0:
            raise ConfigError(
                f"--max-age: '{max_age}' is not a duration; write <number><s|m|h|d>, e.g. 15m"
            )
        result = health.check(settings, age, max_quarantine)
        echo(result.text())
        exit_with(result.exit_code)
    data = report.status_data(settings)
    echo(json.dumps(data, indent=2, default=str) if as_json else report.status_text(data))


@click.command()
@click.pass_obj
@guarded
def daemon(obj: Context) -> None:
    """Run the sync as a service: a cycle every schedule.interval (default 30s), one token for all.

    Each cycle is a `run` (same lock, run rows, exit codes). Cycles ending 3 or 4 back off; 2 or 5
    stop the daemon with that code. SIGTERM/SIGINT stop it cleanly (exit 0); SIGHUP reloads the
    config and mapping, keeping the old ones if the new are broken.

    \b
    Example (systemd: scripts/deploy/psa-sync-daemon.service):
        psa-sync --config /etc/psa-sync/psa-sync.yaml daemon
    """
    from sync.daemon import Daemon

    exit_with(Daemon(obj.config_path, obj.settings()).serve())


@click.command()
@click.pass_obj
@guarded
def prune(obj: Context) -> None:
    """Apply retention now: remove runs and events older than retention.runs / .events (the daemon
    does it nightly). Events of deals still linked or quarantined are kept.

    \b
    Example (cron, without the daemon):
        30 3 * * *  psa-sync prune
    """
    from sync.state import retention

    echo(retention.apply(obj.settings()).text())
