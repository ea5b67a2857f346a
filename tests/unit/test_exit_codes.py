"""Exit 1 means new record-level failures and nothing else: a bug exits 70, Ctrl-C 130."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from sync.cli import support as cli_support
from sync.errors import BudgetExceededError, ExitCode, LocalIOError, ProtocolViolation, StateFileError, exit_code_of


def exit_of(exc: BaseException) -> int:
    def command():
        raise exc

    with pytest.raises(SystemExit) as caught:
        cli_support.guarded(command)()
    return caught.value.code


@pytest.mark.parametrize("exc,code", [
    (RuntimeError("a bug"), 70),
    (KeyError("payload"), 70),
    (KeyboardInterrupt(), 130),
    (BudgetExceededError("spent"), 4),
    (StateFileError("not ours"), 2),
    (LocalIOError("disk full"), 74),
    (ProtocolViolation("rows out of order"), 76),
])
def test_every_failure_has_its_own_exit_code_and_none_of_them_is_1(exc, code):
    assert exit_of(exc) == code == exit_code_of(exc)


def test_a_bug_is_logged_as_one_and_says_so(caplog):
    exit_of(RuntimeError("boom"))
    assert "a bug in psa-sync" in caplog.text and "boom" in caplog.text


# -- one table: sync.errors.ExitCode; every written copy is held to it -------------------------------
ROOT = Path(__file__).resolve().parents[2]


def table_rows(text: str, header: str) -> dict[int, list[str]]:
    """The rows of the markdown table under ``header``: exit code → its cells."""
    body = text[text.index(header):].split("\n\n")[0].splitlines()[2:]
    return {int(cells[0]): cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")] for line in body)}


@pytest.mark.parametrize("document,header", [
    ("README.md", "| exit | meaning | what to do |"),
    ("docs/architecture.md", "| exit | raised as | meaning | what to do |"),
])
def test_each_documented_exit_code_table_is_the_enum_every_code_with_its_meaning(document, header):
    rows = table_rows((ROOT / document).read_text(), header)
    assert sorted(rows) == sorted(code.value for code in ExitCode)
    for code in ExitCode:
        assert code.meaning in rows[code.value], f"{document}: exit {code.value} must mean {code.meaning!r}"


def test_the_help_prints_the_table_from_the_enum():
    from click.testing import CliRunner

    from sync.cli import main

    text = CliRunner().invoke(main, ["--help"]).output
    for code in ExitCode:
        assert re.search(rf"^\s+{code.value}\s+{re.escape(code.meaning.replace('*', ''))}$", text, re.M), code


def test_the_error_tree_in_the_docstring_gives_each_class_its_own_code():
    import sync.errors as errors

    written = dict(re.findall(r"── (\w+)\s+\((\d+)\)", errors.__doc__))
    assert written and {name: int(code) for name, code in written.items()} == \
        {name: getattr(errors, name).exit_code for name in written}


def test_the_daemon_reads_every_code_by_its_name():
    from sync.daemon.policy import Verdict, verdict

    assert [verdict(code) for code in (ExitCode.LOCK_HELD, ExitCode.CONFIG, ExitCode.UNEXPECTED)] == \
        [Verdict.QUIET, Verdict.STOP, Verdict.BACKOFF]
    sysexits = {code.value for code in ExitCode if code >= 70}  # no other number of the daemon is one of these
    for path in (ROOT / "sync" / "daemon").glob("*.py"):
        literals = [node.value for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.Constant) and type(node.value) is int and node.value in sysexits]
        assert literals == [], f"sync/daemon/{path.name} writes exit codes as numbers: use ExitCode"
