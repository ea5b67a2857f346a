"""The end-of-run retry of writes the PSA left unconfirmed: only what is still open is sent again.

A deal can come twice in one run (recovery's re-fetch, then the query). Re-sending an older write
after a later one was confirmed would put stale values back, so the retry goes by the intents
left in the (real) state file, never by the run's memory alone.
"""

from datetime import UTC, datetime

import pytest

from sync.common.model import Create, DesiredRow, Update
from sync.connectors.psa.base import ProjectRef
from sync.load.context import LoadContext, LoadReport
from sync.load.projects import new_link
from sync.load.settle import settle_unconfirmed, still_unconfirmed
from sync.state import State
from tests.fixtures.fake_psa import FakePsa

A, B, C, D = (f"006000000000000{n}AA" for n in "ABCD")


def ref(key: str) -> ProjectRef:
    return ProjectRef(
        id=len(key), identifier="sf-" + key.lower(), key=key, url="http://psa/p", status="active"
    )


def row(oid: str, budget: int) -> DesiredRow:
    return DesiredRow(
        record_id=oid,
        key=oid,
        modstamp=datetime(2026, 3, 1, tzinfo=UTC),
        deleted=False,
        matches=True,
        fields={"name": oid, "budget": budget},
        record_links={},
    )


@pytest.fixture
def state(tmp_path):
    state = State.open(tmp_path / "psa-sync.sqlite")
    yield state
    state.close()


@pytest.fixture
def ctx(state):
    # the fake numbers projects as ref() does, so a link and the fake's project agree
    return LoadContext(state=state, psa=FakePsa(id_of=len), run_id=1, writeback={}, on_create=set())


def linked(state: State, oid: str, budget: int):
    link = new_link(row(oid, budget), ref(oid), row(oid, budget).fields)
    state.save_link(link)
    return link


def test_only_writes_whose_intent_is_still_open_are_sent_again(state, ctx):
    report = LoadReport()
    # A: a create the PSA never confirmed; its intent is open.
    state.add_intents([(A, A, row(A, 1).fields)], run_id=1)
    report.unknown[A] = Create(row(A, 1), "h")
    # B: a create unconfirmed at first, then linked when the deal came again this run (intent gone).
    report.unknown[B] = Create(row(B, 1), "h")
    linked(state, B, 1)
    # C: an update unconfirmed at first, then confirmed with newer values (intent gone).
    report.unknown[C] = Update(row(C, 2), linked(state, C, 1), {"budget": 2}, "h")
    # D: an update still unconfirmed; its intent is open.
    report.unknown[D] = Update(row(D, 5), linked(state, D, 1), {"budget": 5}, "h")
    state.add_intents([(D, D, {"budget": 5})], run_id=1, action="update")
    ctx.psa.add(D, {"budget": 1})  # the project D's link points at

    assert sorted(still_unconfirmed(state, report.unknown)) == [A, D]
    settle_unconfirmed(ctx, report, lambda key: "sf-" + key.lower(), pause=0)

    assert ctx.psa.created == [A]
    assert ctx.psa.updated == [(D, {"budget": 5})]
    assert report.unknown == {} and state.intents() == []
    assert state.links([A])[A].project_id == len(A)
    assert state.links([D])[D].payload["budget"] == 5


def test_a_write_unconfirmed_again_stays_unknown_with_its_intent(state, ctx):
    ctx.psa.script("create", "unknown", error="HTTP 500")
    report = LoadReport()
    state.add_intents([(A, A, row(A, 1).fields)], run_id=1)
    report.unknown[A] = Create(row(A, 1), "h")

    settle_unconfirmed(ctx, report, lambda key: "sf-" + key.lower(), pause=0)

    assert ctx.psa.created == [A]
    assert list(report.unknown) == [A]
    assert [i.record_id for i in state.intents()] == [A]
