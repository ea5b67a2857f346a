"""What every psa-sync command shares: the context (config discovery, logging), printing through the
redaction, and the mapping of errors to exit codes (docs/architecture.md §7)."""

from __future__ import annotations

import logging
import os
import sys

import click

from sync.config import Settings, find_config, load_settings
from sync.errors import INTERRUPTED, UNEXPECTED, SyncError
from sync.logs import redact, setup_logging

logger = logging.getLogger("sync")

CONTEXT = {"help_option_names": ["-h", "--help"]}


class Context:
    def __init__(self, config: str | None, log_level: str, log_format: str):
        self.config_path = find_config(config, os.environ)
        self.log_level = log_level
        self.log_format = log_format

    def settings(self) -> Settings:
        settings = load_settings(self.config_path)
        setup_logging(self.log_level, self.log_format, settings)
        return settings


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
