"""`--config`, `--log-level` and `--log-format` are accepted before the command and after it
(issue 12)."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from sync.cli import main


@pytest.fixture(autouse=True)
def _logging_as_it_was():
    """The CLI sets up logging (root level, urllib3 quieted); other tests expect it untouched."""
    root, names = logging.getLogger(), ("urllib3", "simple_salesforce")
    saved = root.level, list(root.handlers), {n: logging.getLogger(n).level for n in names}
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_takes_the_shared_options(command):
    help_text = CliRunner().invoke(main, [command, "--help"]).output
    assert all(
        option in help_text for option in ("--config FILE", "--log-level", "--log-format")
    ), help_text


@pytest.mark.parametrize(
    "args,used",
    [
        (["--config", "before.yaml", "status"], "before.yaml"),
        (["status", "--config", "after.yaml"], "after.yaml"),
        (
            ["--config", "before.yaml", "status", "--config", "after.yaml"],
            "after.yaml",
        ),  # the later wins
        (
            ["status", "--log-level", "debug", "--log-format", "json", "--config", "after.yaml"],
            "after.yaml",
        ),
    ],
)
def test_the_config_given_after_the_command_is_the_one_used(tmp_path, monkeypatch, args, used):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PSA_SYNC_CONFIG", raising=False)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert f"{used}:1: (file): config file not found" in result.output


def test_a_bad_log_level_after_the_command_is_a_usage_error():
    result = CliRunner().invoke(main, ["run", "--log-level", "loud"])
    assert result.exit_code == 2 and "Invalid value for '--log-level'" in result.output
