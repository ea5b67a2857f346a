"""Exit 1 means new record-level failures and nothing else: a bug exits 70, Ctrl-C 130."""

from __future__ import annotations

import pytest

from sync.cli import support as cli_support
from sync.errors import BudgetExceededError, LocalIOError, ProtocolViolation, StateFileError, exit_code_of


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
