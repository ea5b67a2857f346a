"""Exit 1 means new record-level failures and nothing else: a bug exits 70, Ctrl-C 130."""

from __future__ import annotations

import ast
import io
import itertools
import logging
import re
from pathlib import Path

import pytest

from sync.cli import support as cli_support
from sync.common import errors
from sync.common.errors import (
    BudgetExceededError,
    ExitCode,
    LocalIOError,
    ProtocolViolation,
    StateFileError,
    exit_code_of,
)
from sync.common.logs import RedactingFormatter, register_secret

ROOT = Path(__file__).resolve().parents[3]


def exit_of(exc: BaseException) -> int:
    def command():
        raise exc

    with pytest.raises(SystemExit) as caught:
        cli_support.guarded(command)()
    return caught.value.code


@pytest.mark.parametrize(
    "exc,code",
    [
        (RuntimeError("a bug"), 70),
        (KeyError("payload"), 70),
        (KeyboardInterrupt(), 130),
        (BudgetExceededError("spent"), 4),
        (StateFileError("not ours"), 2),
        (LocalIOError("disk full"), 74),
        (ProtocolViolation("rows out of order"), 76),
    ],
)
def test_every_failure_has_its_own_exit_code_and_none_of_them_is_1(exc, code):
    assert exit_of(exc) == code == exit_code_of(exc)


def test_a_bug_is_logged_as_one_and_says_so(caplog):
    exit_of(RuntimeError("boom"))
    assert "a bug in psa-sync" in caplog.text and "boom" in caplog.text


# -- one table: sync.common.errors.ExitCode; every written copy is held to it ----------------------
def table_rows(text: str, header: str) -> dict[int, list[str]]:
    """The rows of the markdown table under ``header``: exit code → its cells."""
    body = text[text.index(header) :].split("\n\n")[0].splitlines()[2:]
    return {
        int(cells[0]): cells[1:]
        for cells in ([c.strip() for c in line.strip("|").split("|")] for line in body)
    }


@pytest.mark.parametrize(
    "document,header",
    [
        ("README.md", "| exit | meaning | what to do |"),
        ("docs/architecture.md", "| exit | raised as | meaning | what to do |"),
    ],
)
def test_each_documented_exit_code_table_is_the_enum_every_code_with_its_meaning(document, header):
    rows = table_rows((ROOT / document).read_text(), header)
    assert sorted(rows) == sorted(code.value for code in ExitCode)
    for code in ExitCode:
        assert code.meaning in rows[code.value], (
            f"{document}: exit {code.value} must mean {code.meaning!r}"
        )


def test_the_help_prints_the_table_from_the_enum():
    from click.testing import CliRunner

    from sync.cli import main

    text = CliRunner().invoke(main, ["--help"]).output
    for code in ExitCode:
        assert re.search(
            rf"^\s+{code.value}\s+{re.escape(code.meaning.replace('*', ''))}$", text, re.M
        ), code


def test_the_error_tree_in_the_docstring_gives_each_class_its_own_code():
    import sync.common.errors as errors

    written = dict(re.findall(r"── (\w+)\s+\((\d+)\)", errors.__doc__))
    assert written and {name: int(code) for name, code in written.items()} == {
        name: getattr(errors, name).exit_code for name in written
    }


def test_the_daemon_reads_every_code_by_its_name():
    from sync.daemon.policy import Verdict, verdict

    assert [
        verdict(code) for code in (ExitCode.LOCK_HELD, ExitCode.CONFIG, ExitCode.UNEXPECTED)
    ] == [Verdict.QUIET, Verdict.STOP, Verdict.BACKOFF]
    sysexits = {
        code.value for code in ExitCode if code >= 70
    }  # no other number of the daemon is one of these
    for path in (ROOT / "sync" / "daemon").glob("*.py"):
        literals = [
            node.value
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and type(node.value) is int and node.value in sysexits
        ]
        assert literals == [], f"sync/daemon/{path.name} writes exit codes as numbers: use ExitCode"


# --- the promised message, and nothing leaking (issue 20) -----------------------------------------

SECRET = (
    "tok-3xAmpl3-s3cr3t"  # as if read from ${SF_CLIENT_SECRET}: registered, so it must never print
)


def _every(cls: type) -> list[type]:
    return [cls, *(sub for direct in cls.__subclasses__() for sub in _every(direct))]


def _raised(cls: type) -> BaseException:
    """An instance of ``cls`` whose message carries the secret, built as its callers build it."""
    text = f"the token {SECRET} was refused"
    if issubclass(cls, errors.YamlSyntaxError):
        return cls("psa-sync.yaml", 3, text)
    if issubclass(cls, errors.RecordError):
        return cls("006AK00000AbCdEQAA", "load", text)
    return cls(text)


#: every error class psa-sync defines (a new one is covered without touching this test)
ERRORS = [cls for cls in _every(errors.SyncError) if cls.__module__ == errors.__name__]


@pytest.fixture
def printed(capsys):
    """What the CLI prints and logs, as a person sees it: stderr and the redacting log handler."""
    register_secret(SECRET)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(as_json=False))
    logging.getLogger().addHandler(handler)
    try:
        yield lambda: capsys.readouterr().err + stream.getvalue()
    finally:
        logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_prints_psa_sync_and_its_message_with_the_secret_masked_and_no_traceback(
    cls, printed
):
    exc = _raised(cls)
    assert exit_of(exc) == int(cls.exit_code)
    text = printed()
    assert text == f"psa-sync: {str(exc).replace(SECRET, '***')}\n"
    assert SECRET not in text and "Traceback" not in text


def test_a_bug_says_so_with_the_traceback_masked_and_exits_70(printed):
    assert exit_of(RuntimeError(f"boom with {SECRET}")) == 70
    text = printed()
    assert "unexpected error (a bug in psa-sync: please report it with this log)" in text
    assert "Traceback" in text and "RuntimeError: boom with ***" in text  # the log has it, redacted
    assert SECRET not in text


def test_ctrl_c_says_what_stays_and_exits_130(printed):
    assert exit_of(KeyboardInterrupt()) == 130
    assert (
        printed()
        == "psa-sync: interrupted; what was committed stays, the next run goes on from there\n"
    )


def test_every_exit_code_the_program_can_exit_with_is_documented():
    """Every error class's code, a bug's and Ctrl-C's, 0 and 1: each a row of README's exit-code
    table (the one under "Running it", not the health check's) and of architecture.md's."""
    codes = {int(cls.exit_code) for cls in ERRORS} | {
        exit_code_of(RuntimeError()),
        exit_code_of(KeyboardInterrupt()),
    }
    codes |= {0, 1}
    assert {70, 71, 74, 75, 76, 130} <= codes  # the scan sees the classes
    readme = _table(ROOT / "README.md", "| exit | meaning | what to do |")
    architecture = _table(
        ROOT / "docs" / "architecture.md", "| exit | raised as | meaning | what to do |"
    )
    assert codes - readme == set(), "exit codes missing from README.md's table"
    assert codes - {70, 130} - architecture == set(), (
        "exit codes missing from docs/architecture.md's table"
    )


def _table(path: Path, header: str) -> set[int]:
    """The codes of the table that starts with ``header`` (its first cell of each row)."""
    lines = path.read_text().splitlines()
    start = lines.index(header) + 2
    rows = itertools.takewhile(lambda line: line.startswith("|"), lines[start:])
    return {int(match.group(1)) for row in rows if (match := re.match(r"\| (\d+) \|", row))}
