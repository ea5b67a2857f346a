"""The first-day commands (README "First day"): ``init`` → ``check`` → ``adopt`` → ``backfill`` →
schedule ``run``; and ``link`` / ``unlink``, one pair by hand. Thin, like ``cli``: parse, call,
print, exit code."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sync.cli.support import Context, echo, exit_with, guarded
from sync.ops import report

DATE = "YYYY-MM-DD"


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
@guarded
def init(directory: Path) -> None:
    """Write a commented psa-sync.yaml and the default mapping into DIRECTORY (never over a file).

    \b
    Example:
        psa-sync init /etc/psa-sync
    """
    from sync.cli import scaffold

    config, mapping = scaffold.init(directory)
    echo(scaffold.next_steps(config, mapping))


@click.command()
@click.option(
    "--since",
    default=None,
    metavar=DATE,
    help="Only deals whose CloseDate is on or after this day.",
)
@click.option(
    "--until",
    default=None,
    metavar=DATE,
    help="Only deals whose CloseDate is on or before this day.",
)
@click.option(
    "--pairs",
    type=click.Path(dir_okay=False, path_type=Path),
    help=(
        "A CSV of opportunity_id,project (a project id or identifier) instead of matching by name."
    ),
)
@click.option(
    "--apply",
    "apply_",
    is_flag=True,
    help="Link the one-to-one matches (without it: a report only).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (versioned).")
@click.pass_obj
@guarded
def adopt(
    obj: Context,
    since: str | None,
    until: str | None,
    pairs: Path | None,
    apply_: bool,
    as_json: bool,
) -> None:
    """Match the PSA projects people made by hand (no key) to the deals of the criteria.

    By the mapped project name (ignoring case, accents and spacing) or by --pairs FILE; reports
    matched, ambiguous, deals with no project and projects with no deal. --apply links the
    one-to-one matches: only CRM-owned fields that differ are pushed, hand-entered values stay.

    \b
    Example:
        psa-sync adopt --since 2024-01-01 && psa-sync adopt --since 2024-01-01 --apply
    """
    from sync.ops.adopt.commands import adopt as survey_and_link
    from sync.orchestrator.backfill import parse_range

    settings = obj.settings()
    first, last = parse_range(since, until) if since or until else (None, None)
    outcome = survey_and_link(
        settings, since=first, until=last if until else None, pairs=pairs, apply=apply_
    )
    echo(json.dumps(outcome.to_json(), indent=2, default=str) if as_json else outcome.text())
    exit_with(outcome.exit_code)


@click.command()
@click.argument("deal_id")
@click.argument("project")
@click.pass_obj
@guarded
def link(obj: Context, deal_id: str, project: str) -> None:
    """Adopt one project (id or identifier) for one deal by hand; refused if either is linked.

    \b
    Example:
        psa-sync link 006Hs00001abcdeIAA acme-rollout
    """
    from sync.ops.adopt.commands import link as link_pair
    from sync.ops.adopt.report import link_text

    outcome = link_pair(obj.settings(), deal_id, project)
    echo(link_text(outcome))
    exit_with(outcome.exit_code)


@click.command()
@click.argument("deal_id")
@click.pass_obj
@guarded
def unlink(obj: Context, deal_id: str) -> None:
    """Forget one deal's project (both stay) and make no new one until `link` or `retry --id`.

    \b
    Example:
        psa-sync unlink 006Hs00001abcdeIAA
    """
    from sync.ops.adopt.commands import unlink as forget

    result = forget(obj.settings(), deal_id)
    echo(report.run_summary(result))
    exit_with(result.exit_code)


@click.command()
@click.option(
    "--since", required=True, metavar=DATE, help="First CloseDate of the range (a business date)."
)
@click.option(
    "--until", default=None, metavar=DATE, help="Last CloseDate of the range (default: today)."
)
@click.option("--dry-run", is_flag=True, help="Read and plan only; write nothing.")
@click.option(
    "--batch-size",
    "--window-size",
    "batch_size",
    default=200,
    show_default=True,
    type=click.IntRange(1, 2000),
    help="Deals per batch: the run lock is held one batch at a time (--window-size: its old name).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@guarded
def backfill(
    obj: Context, since: str, until: str | None, dry_run: bool, batch_size: int, as_json: bool
) -> None:
    """Bring in the deals whose CloseDate is in a range: the org's history, once.

    Selects by CloseDate (unlike `run`, which follows SystemModstamp) and never moves the run's
    watermark. Works in batches of 200 deals, holding the run lock one batch at a time, so
    scheduled runs go on meanwhile; resumable: interrupted, the same command continues.

    \b
    Example:
        psa-sync backfill --since 2024-01-01 --until 2025-12-31 --dry-run
    """
    from sync.mapping.loader import load_mapping
    from sync.orchestrator import backfill as history
    from sync.orchestrator.progress import reporter

    settings = obj.settings()
    first, last = history.parse_range(since, until)
    mapping = load_mapping(settings.mapping)
    if dry_run:
        outcome = history.dry_run(settings, mapping, first, last)
    else:
        with reporter(quiet=as_json) as report_progress:
            outcome = history.run_backfill(
                settings, mapping, first, last, reporter=report_progress, batch_rows=batch_size
            )
    echo(
        json.dumps(outcome.to_json(), indent=2, default=str)
        if as_json
        else report.backfill_text(outcome)
    )
    exit_with(outcome.exit_code)


COMMANDS = (init, adopt, link, unlink, backfill)
