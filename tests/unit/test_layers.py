"""The package's layers: the pure stages stay pure, and no module grows into a room of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SYNC = Path(__file__).resolve().parents[2] / "sync"
IO_LIBRARIES = ("sqlite_utils", "requests", "simple_salesforce")


@pytest.mark.parametrize(
    "module",
    [
        "sync.transform.diff",
        "sync.transform.rows",
        "sync.common.model",
        "sync.ops.forecast.compute",
        "sync.mapping.members",
        "sync.transform.pipeline_stream",
        "sync.mapping.pipeline",
    ],
)
@pytest.mark.subprocess
def test_a_pure_stage_imports_neither_the_state_store_nor_a_connector(module):
    probe = (
        f"import json, sys; import {module}; "
        f"print(json.dumps([m for m in {IO_LIBRARIES!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=SYNC.parent
    )
    assert json.loads(done.stdout) == []


@pytest.mark.subprocess
def test_the_probe_would_see_an_io_library_if_one_were_imported():
    probe = (
        "import json, sys; import sync.state.store; "
        f"print(json.dumps([m for m in {IO_LIBRARIES!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=SYNC.parent
    )
    assert "sqlite_utils" in json.loads(done.stdout)


def test_no_module_outside_the_emulator_is_over_300_lines():
    long = {
        str(path.relative_to(SYNC)): n
        for path in SYNC.rglob("*.py")
        if "emulator" not in path.parts and (n := len(path.read_text().splitlines())) > 300
    }
    assert long == {}
