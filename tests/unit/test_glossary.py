"""One word, one meaning (docs/architecture.md §15): the glossary names each word, and the code no
longer gives the words it settled a second meaning."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def glossary() -> dict[str, str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text[text.index("## 15. Glossary") :]
    return dict(re.findall(r"^\| \*\*([\w ]+)\*\* \| (.+)$", section, re.M))


def test_the_glossary_gives_each_overloaded_word_one_meaning():
    assert {"pipeline", "settle", "window", "progress", "connect", "Outcome"} <= set(glossary())


@pytest.mark.parametrize(
    "module,old,new",
    [
        (
            "sync.orchestrator.connections",
            "connect",
            "make_clients",
        ),  # building clients connects nothing
        ("sync.orchestrator.backfill", "Outcome", "BackfillReport"),  # Outcome is one PSA write's
        ("sync.orchestrator.backfill", "windows", "batches"),  # a window is a time range
        ("sync.orchestrator.backfill", "WINDOW_ROWS", "BATCH_ROWS"),
        (
            "sync.ops.reconcile.repair",
            "settle",
            "grade",
        ),  # settle is the end-of-run retry of unconfirmed writes
    ],
)
def test_a_renamed_word_is_gone_from_its_module(module, old, new):
    loaded = __import__(module, fromlist=["_"])
    assert not hasattr(loaded, old) and hasattr(loaded, new)


def test_the_page_step_advances_rather_than_progresses():
    from sync.orchestrator.stages import process_page

    assert "advance" in inspect.signature(process_page).parameters
    assert "progress" not in inspect.signature(process_page).parameters


def test_backfill_takes_a_batch_size_and_still_its_old_name():
    from click.testing import CliRunner

    from sync.cli import main

    text = CliRunner().invoke(main, ["backfill", "--help"]).output
    assert "--batch-size" in text and "--window-size" in text
