"""The psa-sync command: parse → load config → call the pipeline → exit code.

Exit codes: ``sync.common.errors.ExitCode``, the one table (README "Running it" and
docs/architecture.md §7 are held to it; ``psa-sync --help`` prints it, generated).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from sync import __version__
from sync.cli import first_day, service
from sync.cli.forecast import forecast
from sync.cli.support import CONTEXT, Commands, Context, echo, exit_with, guarded, shared_options
from sync.common.errors import ConfigError, ExitCode
from sync.common.logs import redact, setup_logging
from sync.config import Settings
from sync.ops import plan_text, report
from sync.ops.explain import explain_data, explain_text


def exit_codes_help() -> str:
    """The exit-code table of ``--help``, written from ``ExitCode`` (never by hand)."""
    return "\b\nExit codes:\n" + "\n".join(
        f"  {code.value:>3}  {code.meaning.replace('*', '')}" for code in ExitCode
    )


@click.group(cls=Commands, context_settings=CONTEXT, epilog=exit_codes_help())
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
@guarded
def run(obj: Context) -> None:
    """Run one cycle (for cron or a systemd timer).

    \b
    Example:
        psa-sync run && echo synced
    """
    from sync.orchestrator.stages import run_once

    result = run_once(obj.settings())
    echo(report.run_summary(result))
    exit_with(result.exit_code)


@main.command()
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Machine-readable summary: counts, and the first --examples of each action.",
)
@click.option(
    "--jsonl",
    "as_jsonl",
    is_flag=True,
    help="One JSON line per action as it is decided (every action), then a summary line.",
)
@click.option(
    "--examples",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="How many examples of each action the summary keeps.",
)
@click.option(
    "--sample",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Offline: sample records (a query response or `sf data query --json` output).",
)
@click.option(
    "--mapping",
    "mapping_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --sample: the mapping to try (default: the config's).",
)
@click.pass_obj
@guarded
def plan(
    obj: Context,
    as_json: bool,
    as_jsonl: bool,
    examples: int,
    sample: Path | None,
    mapping_path: Path | None,
) -> None:
    """Show what a run would do; reads, never writes (no lock, no run row). Memory stays flat at any
    size: counts plus the first examples of each action, or every action as a JSON line (--jsonl).

    \b
    Example (a mapping smoke test in CI, no connection to anything):
        psa-sync plan --sample tests/deals.json --mapping mappings/opportunity_to_project.yaml
    """
    from sync.orchestrator import plan as planner

    sink = None
    if as_jsonl:
        examples = 0

        def sink(item: dict) -> None:  # buffered, not flushed per line: a million lines stream fast
            sys.stdout.write(redact(json.dumps(item, default=str)) + "\n")

    if sample is not None:
        settings = None if mapping_path else _optional_settings(obj)
        result = planner.plan_sample(
            sample,
            mapping_path or settings.mapping,
            settings.state if settings else None,
            examples=examples,
            sink=sink,
        )
    else:
        result = planner.plan_online(obj.settings(), examples=examples, sink=sink)
    if as_jsonl:
        sys.stdout.flush()
        echo(json.dumps(result.summary_line(), default=str))
    else:
        echo(
            json.dumps(result.to_json(), indent=2, default=str)
            if as_json
            else plan_text.plan_text(result)
        )
    exit_with(1 if result.counts["quarantined"] else 0)


def _optional_settings(obj: Context) -> Settings:
    try:
        return obj.settings()
    except ConfigError as exc:
        raise ConfigError(
            [*exc.problems, "plan --sample needs --mapping FILE or a readable config"]
        ) from None


@main.command()
@click.argument("deal_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@guarded
def explain(obj: Context, deal_id: str, as_json: bool) -> None:
    """Everything we know and did about one deal (15- or 18-character Id).

    \b
    Example:
        psa-sync explain 006Hs00001abcdeIAA
    """
    data = explain_data(obj.settings(), deal_id)
    echo(json.dumps(data, indent=2, default=str) if as_json else explain_text(data))


@main.command()
@click.option("--id", "deal_id", help="Only this deal.")
@click.pass_obj
@guarded
def retry(obj: Context, deal_id: str | None) -> None:
    """Re-fetch and re-process quarantined deals now (--id: also a deal unlinked by hand).

    \b
    Example:
        psa-sync retry --id 006Hs00001abcdeIAA
    """
    from sync.common.ids import given_id
    from sync.orchestrator.stages import run_once
    from sync.state import State

    settings = obj.settings()
    deal_id = given_id(deal_id) if deal_id else None
    with State.reading(settings.state) as state:
        ids = state.retry_ids(deal_id) if state else []
    if not ids:
        echo("nothing is quarantined or ignored" + (f" for {deal_id}" if deal_id else ""))
        return
    result = run_once(settings, mode="retry", retry_ids=ids)
    echo(report.run_summary(result))
    exit_with(result.exit_code)


@main.command()
@click.option(
    "--repair", is_flag=True, help="Fix what can be fixed safely (never deletes anything)."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (versioned).")
@click.pass_obj
@guarded
def reconcile(obj: Context, repair: bool, as_json: bool) -> None:
    """Check the invariants against both systems; report or repair drift (exit 1 while any remains).

    \b
    Example (weekly, from cron):
        psa-sync reconcile --repair --json > /var/log/psa-sync/reconcile.json
    """
    from sync.ops.reconcile.run import reconcile as check_both

    result = check_both(obj.settings(), repair=repair)
    echo(json.dumps(result.to_json(), indent=2, default=str) if as_json else result.text())
    exit_with(result.exit_code)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--offline", is_flag=True, help="Validate config and mapping only; connect to nothing."
)
@click.pass_obj
@guarded
def check(obj: Context, as_json: bool, offline: bool) -> None:
    """Validate config and mapping; connect to both sides; verify every mapped field.

    \b
    Example:
        psa-sync check && psa-sync run
    """
    from sync.ops.check import runner as checker

    result = checker.check(obj.config_path, offline=offline)
    echo(json.dumps(result.to_json(), indent=2) if as_json else result.text())
    exit_with(result.exit_code)


@main.command()
@click.option("--port", default=8443, show_default=True, type=int)
@click.option("--seed", default=None, help="'demo' for the demo book, or a number of deals.")
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the emulator's records in this SQLite file.",
)
@click.option("--org-id", default=None, help="The org Id it reports (tell two orgs apart).")
@click.option(
    "--pubsub-port",
    default=0,
    show_default=True,
    type=int,
    help="Port of its Pub/Sub API (gRPC over TLS); 0 takes a free one, printed at start.",
)
def emulator(
    port: int, seed: str | None, state_file: Path | None, org_id: str | None, pubsub_port: int
) -> None:
    """Run the local Salesforce API emulator (TLS on 127.0.0.1) until interrupted: its REST API and
    its Pub/Sub API (Change Data Capture for Opportunity and OpportunityLineItem) on a port of its
    own.

    \b
    Example:
        psa-sync emulator --port 8443 --pubsub-port 7443 --seed demo
    """
    from sync.emulator import serve

    serve(port=port, seed=seed, state_file=state_file, org_id=org_id, pubsub_port=pubsub_port)


for _command in (*first_day.COMMANDS, service.status, service.daemon, service.prune, forecast):
    main.add_command(_command)
