"""The in-memory PSA keeps its word: it finds what it creates, a script answers once a record."""

from __future__ import annotations

import pytest

from sync.common.model import Outcome
from sync.connectors.psa.base import NewProject, ProjectChange
from tests.fixtures.fake_psa import FakePsa

KEY, OTHER = "006000000000001AAA", "006000000000002AAA"


def test_a_created_project_is_found_read_and_listed():
    psa = FakePsa()
    [result] = psa.create([NewProject(KEY, {"name": "Acme", "budget": 5})])
    assert result.outcome == Outcome.CREATED and result.ref.identifier == psa.identifier(KEY)
    assert psa.find([KEY, OTHER]) == {KEY: [result.ref], OTHER: []}
    assert psa.read([result.ref]) == {KEY: {"name": "Acme", "budget": 5}}
    assert psa.list_linked() == [result.ref]
    assert psa.create([NewProject(KEY, {})])[0].outcome == Outcome.EXISTS


def test_a_scripted_answer_serves_one_record_then_the_fake_behaves():
    psa = FakePsa()
    psa.script("create", "unknown", error="HTTP 500")
    first, second = psa.create([NewProject(KEY, {}), NewProject(OTHER, {})])
    assert (first.outcome, first.error, first.ref) == (Outcome.UNKNOWN, "HTTP 500", None)
    assert second.outcome == Outcome.CREATED and list(psa.projects) == [OTHER]
    assert psa.created == [KEY, OTHER]


def test_a_committed_script_does_the_write_and_loses_the_answer():
    psa = FakePsa()
    psa.script("create", "unknown", committed=True)
    assert psa.create([NewProject(KEY, {})])[0].outcome == Outcome.UNKNOWN
    assert psa.find([KEY])[KEY]  # found by the next look-up, as after a 500 behind a commit


def test_a_closed_project_refuses_updates_and_a_parent_is_made_once():
    psa = FakePsa()
    ref = psa.add(KEY, {"budget": 1}, status="closed")
    assert psa.update([ProjectChange(ref, {"budget": 2})])[0].outcome == Outcome.CLOSED
    [reopened] = psa.set_lifecycle([ref], "reopen")
    assert psa.update([ProjectChange(reopened.ref, {"budget": 2})])[0].outcome == Outcome.UPDATED
    assert psa.ensure_parent("001000000000001AAA", "Acme") is psa.ensure_parent(
        "001000000000001AAA", "Acme"
    )
    with pytest.raises(ValueError):
        psa.script("create", "created")
