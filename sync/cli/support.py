"""What every psa-sync command shares: the options given before or after the command, printing
through redaction, and the mapping of errors to exit codes (docs/architecture.md §7).

Kept apart from the commands so that each family of commands (``cli``, ``cli.first_day``,
``cli.service``) is a short module built on the same plumbing.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from sync.common.errors import INTERRUPTED, UNEXPECTED, SyncError
from sync.common.logs import redact, setup_logging
from sync.config import Settings, find_config, load_settings

logger = logging.getLogger("sync")

CONTEXT = {"help_option_names": ["-h", "--help"]}


class Context:
    """The options every command shares, given before the command or after it (the later wins)."""

    def __init__(
        self, config: str | None = None, log_level: str = "INFO", log_format: str = "text"
    ):
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
    click.option(
        "--config",
        metavar="FILE",
        expose_value=False,
        callback=_shared,
        help="Config file (default: $PSA_SYNC_CONFIG, then ./psa-sync.yaml).",
    ),
    click.option(
        "--log-level",
        expose_value=False,
        callback=_shared,
        help="[default: INFO]",
        type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    ),
    click.option(
        "--log-format",
        expose_value=False,
        callback=_shared,
        help="[default: text]",
        type=click.Choice(["text", "json"]),
    ),
)


def shared_options(command):
    """``--config``, ``--log-level`` and ``--log-format`` on the group and on every command, so
    ``psa-sync --config F run`` and ``psa-sync run --config F`` both work."""
    # a function collects options bottom-up, a Command appends them: both end up in this order
    for option in (
        _SHARED_OPTIONS if isinstance(command, click.Command) else reversed(_SHARED_OPTIONS)
    ):
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


def exit_with(code: int) -> None:
    sys.exit(code)


def guarded(func):
    """Map our errors to exit codes. Exit 1 is kept for new record-level failures: a bug is logged
    (redacted) and exits 70, Ctrl-C exits 130."""

    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SyncError as exc:
            echo(f"psa-sync: {exc}", err=True)
            exit_with(exc.exit_code)
        except KeyboardInterrupt:
            echo(
                "psa-sync: interrupted; what was committed stays, the next run goes on from there",
                err=True,
            )
            exit_with(INTERRUPTED)
        except Exception:  # noqa: BLE001 - the last line of defence prints through the redacting logger
            logger.exception("unexpected error (a bug in psa-sync: please report it with this log)")
            exit_with(UNEXPECTED)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper
