"""What every "unavailable" error of a connector must be: exit 3, short, and free of secrets."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sync.errors import UnreachableError


def stops_the_run(error: type[UnreachableError], call: Callable[[], object], *, never: tuple[str, ...]) -> str:
    """The message of the ``error`` that ``call`` raises: exit 3, a few lines at most, none of ``never``."""
    with pytest.raises(error) as raised:
        call()
    text = str(raised.value)
    assert raised.value.exit_code == 3 and len(text) < 600
    assert [secret for secret in never if secret in text] == []
    return text
