"""The psa-sync command: parse → load config → call the pipeline → exit code.

Exit codes (docs/architecture.md §7, README "Running it"): 0 done; 1 done with new record-level
failures; 2 bad config, mapping, state file or usage; 3 Salesforce or the PSA unreachable; 4 stopped
to protect the API budget; 5 authentication refused; 74 the local disk refused; 75 another run holds
the lock; 76 a system answered against its own API contract.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from sync import __version__, report
from sync.config import Settings, find_config, load_settings
from sync.errors import INTERRUPTED, UNEXPECTED, ConfigError, SyncError
from sync.logs import redact, setup_logging

logger = logging.getLogger("sync")

CONTEXT = {"help_option_names": ["-h", "--help"]}


class Context:
    """The options every command shares, given before the command or after it (the later wins)."""

    def __init__(self, config: str | None = None, log_level: str = "INFO", log_format: str = "text"):
        self.config = config
        self.log_level = log_level
        self.log_format = log_format

    @property
    def config_path(self) -> Path:
        return find_config(self.config, os.environ)

    def settings(self) -> Settings:
        settings = load_settings(self.config_path)
        setup_logging(self.log_level, self.log_format, settings)
        return settings


def _shared(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        obj = ctx.ensure_object(Context)
        setattr(obj, param.name, value)
        setup_logging(obj.log_level, obj.log_format, None)


_SHARED_OPTIONS = (
    click.option("--config", metavar="FILE", expose_value=False, callback=_shared,
                 help="Config file (default: $PSA_SYNC_CONFIG, then ./psa-sync.yaml)."),
    click.option("--log-level", expose_value=False, callback=_shared, help="[default: INFO]",
                 type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)),
    click.option("--log-format", expose_value=False, callback=_shared, help="[default: text]",
                 type=click.Choice(["text", "json"])),
)


def shared_options(command):
    """``--config``, ``--log-level`` and ``--log-format`` on the group and on every command, so
    ``psa-sync --config F run`` and ``psa-sync run --config F`` both work."""
    # a function collects options bottom-up, a Command appends them: both end up in this order
    for option in (_SHARED_OPTIONS if isinstance(command, click.Command) else reversed(_SHARED_OPTIONS)):
        command = option(command)
    return command


class Commands(click.Group):
    """Every command added to the group takes the shared options too."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        super().add_command(shared_options(cmd), name)


def echo(text: str, err: bool = False) -> None:
    """Everything the CLI prints goes through the same redaction as the logs: an error message or a
    report can quote what a server said, and a server can quote what it was sent."""
    click.echo(redact(text), err=err)


def _exit(code: int) -> None:
    sys.exit(code)


def _guarded(func):
    """Map our errors to exit codes. Exit 1 is kept for new record-level failures: a bug is logged
    (redacted) and exits 70, Ctrl-C exits 130."""

    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SyncError as exc:
            echo(f"psa-sync: {exc}", err=True)
            _exit(exc.exit_code)
        except KeyboardInterrupt:
            echo("psa-sync: interrupted; what was committed stays, the next run goes on from there", err=True)
            _exit(INTERRUPTED)
        except Exception:  # noqa: BLE001 - the last line of defence prints through the redacting logger
            logger.exception("unexpected error (a bug in psa-sync: please report it with this log)")
            _exit(UNEXPECTED)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


@click.group(cls=Commands, context_settings=CONTEXT)
@shared_options
@click.version_option(__version__, prog_name="psa-sync")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Won Salesforce deals become PSA projects exactly once; delivery status flows back.

    \b
    Example:
        psa-sync --config /etc/psa-sync/psa-sync.yaml run
        psa-sync run --config /etc/psa-sync/psa-sync.yaml
    """
    obj = ctx.ensure_object(Context)
    setup_logging(obj.log_level, obj.log_format, None)


@main.command()
@click.pass_obj
@_guarded
def run(obj: Context) -> None:
    """Run one cycle (for cron or a systemd timer).

    \b
    Example:
        psa-sync run && echo synced
    """
    from sync.pipeline import run_once

    result = run_once(obj.settings())
    echo(report.run_summary(result))
    _exit(result.exit_code)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--sample", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Offline: sample records (a query response or `sf data query --json` output).")
@click.option("--mapping", "mapping_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --sample: the mapping to try (default: the config's).")
@click.pass_obj
@_guarded
def plan(obj: Context, as_json: bool, sample: Path | None, mapping_path: Path | None) -> None:
    """Show what a run would do; reads, never writes (no lock, no run row).

    \b
    Example (a mapping smoke test in CI, no connection to anything):
        psa-sync plan --sample tests/deals.json --mapping mappings/opportunity_to_project.yaml
    """
    from sync import planner

    if sample is not None:
        settings = None if mapping_path else _optional_settings(obj)
        result = planner.plan_sample(sample, mapping_path or settings.mapping,
                                     settings.state if settings else None)
    else:
        result = planner.plan_online(obj.settings())
    echo(json.dumps(result.to_json(), indent=2, default=str) if as_json else report.plan_text(result))
    _exit(1 if result.quarantined else 0)


def _optional_settings(obj: Context) -> Settings:
    try:
        return obj.settings()
    except ConfigError as exc:
        raise ConfigError([*exc.problems, "plan --sample needs --mapping FILE or a readable config"]) from None


@main.command()
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


@main.command()
@click.argument("deal_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@_guarded
def explain(obj: Context, deal_id: str, as_json: bool) -> None:
    """Everything we know and did about one deal (15- or 18-character Id).

    \b
    Example:
        psa-sync explain 006Hs00001abcdeIAA
    """
    data = report.explain_data(obj.settings(), deal_id)
    echo(json.dumps(data, indent=2, default=str) if as_json else report.explain_text(data))


@main.command()
@click.option("--id", "deal_id", help="Only this deal.")
@click.pass_obj
@_guarded
def retry(obj: Context, deal_id: str | None) -> None:
    """Re-fetch and re-process quarantined deals now.

    \b
    Example:
        psa-sync retry --id 006Hs00001abcdeIAA
    """
    from sync.pipeline import run_once
    from sync.state import State

    settings = obj.settings()
    state = State.open_readonly(settings.state)
    ids = sorted({q["opportunity_id"] for q in state.quarantined(deal_id)}) if state else []
    if state:
        state.close()
    if not ids:
        echo("nothing is quarantined" + (f" for {deal_id}" if deal_id else ""))
        return
    result = run_once(settings, mode="retry", retry_ids=ids)
    echo(report.run_summary(result))
    _exit(result.exit_code)


@main.command()
@click.option("--since", required=True, metavar="YYYY-MM-DD", help="First CloseDate of the range (a business date).")
@click.option("--until", default=None, metavar="YYYY-MM-DD", help="Last CloseDate of the range (default: today).")
@click.option("--dry-run", is_flag=True, help="Read and plan only; write nothing.")
@click.option("--window-size", default=200, show_default=True, type=click.IntRange(1, 2000),
              help="Deals per window: the run lock is held one window at a time.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@_guarded
def backfill(obj: Context, since: str, until: str | None, dry_run: bool, window_size: int, as_json: bool) -> None:
    """Bring in the deals whose CloseDate is in a range: the org's history, once.

    Selects by CloseDate (unlike `run`, which follows SystemModstamp) and never moves the run's
    watermark. Works in windows of 200 deals, holding the run lock one window at a time, so
    scheduled runs go on meanwhile; resumable: interrupted, the same command continues.

    \b
    Example:
        psa-sync backfill --since 2024-01-01 --until 2025-12-31 --dry-run
    """
    from sync import backfill as history
    from sync.mapping.loader import load_mapping
    from sync.progress import reporter

    settings = obj.settings()
    first, last = history.parse_range(since, until)
    mapping = load_mapping(settings.mapping)
    if dry_run:
        outcome = history.dry_run(settings, mapping, first, last)
    else:
        with reporter(quiet=as_json) as report_progress:
            outcome = history.run_backfill(settings, mapping, first, last, reporter=report_progress,
                                           window_rows=window_size)
    echo(json.dumps(outcome.to_json(), indent=2, default=str) if as_json else report.backfill_text(outcome))
    _exit(outcome.exit_code)


@main.command()
@click.option("--repair", is_flag=True, help="Fix what can be fixed safely (never deletes anything).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (versioned).")
@click.pass_obj
@_guarded
def reconcile(obj: Context, repair: bool, as_json: bool) -> None:
    """Check the invariants against both systems; report or repair drift (exit 1 while drift remains).

    \b
    Example (weekly, from cron):
        psa-sync reconcile --repair --json > /var/log/psa-sync/reconcile.json
    """
    from sync.reconcile.run import reconcile as check_both

    result = check_both(obj.settings(), repair=repair)
    echo(json.dumps(result.to_json(), indent=2, default=str) if as_json else result.text())
    _exit(result.exit_code)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--offline", is_flag=True, help="Validate config and mapping only; connect to nothing.")
@click.pass_obj
@_guarded
def check(obj: Context, as_json: bool, offline: bool) -> None:
    """Validate config and mapping; connect to both sides; verify every mapped field.

    \b
    Example:
        psa-sync check && psa-sync run
    """
    from sync.check import runner as checker

    result = checker.check(obj.config_path, offline=offline)
    echo(json.dumps(result.to_json(), indent=2) if as_json else result.text())
    _exit(result.exit_code)


@main.command()
@click.option("--port", default=8443, show_default=True, type=int)
@click.option("--seed", default=None, help="'demo' for the demo book, or a number of deals.")
@click.option("--state", "state_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep the emulator's records in this SQLite file.")
@click.option("--org-id", default=None, help="The org Id it reports (tell two orgs apart).")
def emulator(port: int, seed: str | None, state_file: Path | None, org_id: str | None) -> None:
    """Run the local Salesforce API emulator (TLS on 127.0.0.1) until interrupted.

    \b
    Example:
        psa-sync emulator --port 8443 --seed demo
    """
    from sync.emulator import serve

    serve(port=port, seed=seed, state_file=state_file, org_id=org_id)
