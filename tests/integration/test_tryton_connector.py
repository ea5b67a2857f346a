"""The Tryton connector's own promises beyond the contract suite, against a real Tryton: a create
whose answer is lost (committed or not) is never doubled, parties are found or created as the
option says, and reads cost a call per 500 projects, whatever the number of projects."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import Decimal

import pytest
import requests

from sync.connectors.psa.base import NewProject, ProjectChange
from sync.connectors.psa.tryton.connector import TrytonConnector

pytestmark = pytest.mark.integration

KEY = "006AK00000AbCdEQAA"


class FaultySession(requests.Session):
    """Counts JSON-RPC methods; for the next ``fail`` creates, does what a flaky network does:
    ``"forward-then-500"`` (Tryton commits, the client sees 500) or ``"drop"`` (nothing is sent,
    the client sees no answer)."""

    def __init__(self):
        super().__init__()
        self.methods: Counter = Counter()
        self.fail: list[str] = []

    def request(self, method, url, *args, data=None, **kwargs):
        rpc = json.loads(data)["method"] if data else ""
        self.methods[rpc] += 1
        if rpc == "model.project.work.create" and self.fail:
            action = self.fail.pop(0)
            if action == "drop":
                raise requests.ConnectionError("connection reset by a test")
            super().request(method, url, *args, data=data, **kwargs)
            failed = requests.Response()
            failed.status_code, failed._content, failed.url = 500, b"Internal Server Error", url
            return failed
        return super().request(method, url, *args, data=data, **kwargs)


def fields(**overrides):
    values = {
        "name": "Acme Corp - Implementation",
        "customer": "Acme Corp",
        "budget": Decimal("125000.50"),
        "billing_type": "manual",
        "start_date": dt.date(2026, 2, 1),
        "end_date": dt.date(2026, 5, 2),
    }
    return {**values, **overrides}


@pytest.fixture
def session():
    with FaultySession() as s:
        yield s


def connector(tryton, session, **options) -> TrytonConnector:
    return TrytonConnector(tryton.env.url, tryton.env.password, session=session, **options)


def test_a_create_committed_behind_a_500_is_found_by_its_key_not_made_twice(tryton, session):
    psa = connector(tryton, session)
    session.fail = ["forward-then-500"]
    [result] = psa.create([NewProject(KEY, fields())])
    assert result.outcome == "exists" and result.ref.key == KEY
    assert session.methods["model.project.work.create"] == 1  # looked up, never sent again
    assert tryton.count() == 1


def test_a_create_that_got_no_answer_and_did_not_commit_is_sent_again_once(tryton, session):
    psa = connector(tryton, session)
    session.fail = ["drop"]
    [result] = psa.create([NewProject(KEY, fields())])
    assert result.outcome == "created"
    assert session.methods["model.project.work.create"] == 2
    assert tryton.count() == 1


def test_a_create_that_never_gets_through_is_unknown_and_makes_nothing(tryton, session):
    psa = connector(tryton, session)
    session.fail = ["drop"] * 3
    [result] = psa.create([NewProject(KEY, fields())])
    assert result.outcome == "unknown" and "not found" in result.error
    assert tryton.count() == 0


def test_a_customer_is_a_party_found_by_name_or_refused_when_parties_are_not_created(
    tryton, session
):
    psa = connector(tryton, session)
    psa.create([NewProject(KEY, fields()), NewProject("006AK00000ZzZzZQAB", fields(name="Second"))])
    parties = {p["party."]["id"] for p in tryton.projects()}
    assert len(parties) == 1 and session.methods["model.party.party.create"] <= 1

    strict = connector(tryton, requests.Session(), create_parties=False)
    [refused] = strict.create([NewProject("006AK00000YyYyYQAB", fields(customer="Nobody Ltd"))])
    assert refused.outcome == "failed"
    assert (
        refused.error == "no party named 'Nobody Ltd' in Tryton: "
        "create it, or set psa.options.create_parties: true"
    )
    [fine] = strict.create([NewProject("006AK00000YyYyYQAB", fields())])  # Acme Corp exists now
    assert fine.outcome == "created"


def test_reads_cost_one_call_whatever_the_number_of_projects(tryton, session):
    psa = connector(tryton, session)
    refs = [
        r.ref
        for r in psa.create(
            [NewProject(f"006AK0000{n:05d}XQAA", fields(name=f"Deal {n}")) for n in range(6)]
        )
    ]
    session.methods.clear()
    assert len(psa.find([r.key for r in refs])) == 6
    assert len(psa.delivery(refs, hours=True)) == 6
    assert len(psa.read(refs)) == 6
    assert session.methods == Counter({"model.project.work.search_read": 3})
    [updated] = psa.update([ProjectChange(refs[0], {"budget": Decimal("1")})])
    assert updated.outcome == "updated"
    assert session.methods["model.project.work.write"] == 1


def test_a_child_whose_create_answer_was_lost_is_found_by_its_key_not_made_twice(tryton, session):
    from sync.common.structure import Child, ChildKind

    psa = connector(tryton, session)
    [project] = psa.create([NewProject(KEY, fields())])
    task = Child(f"{KEY}/li:00kAK000003AbCdQAA", ChildKind.TASK, "Training", hours=Decimal("8"))
    session.fail = ["forward-then-500"]
    [lost] = psa.create_children(project.ref, [task], {})
    [again] = psa.create_children(
        project.ref, [task], {}
    )  # the database refuses the key a second time
    assert (lost.outcome, again.outcome) == ("exists", "exists") and lost.ref.id == again.ref.id
    keyed = tryton.call(
        "project.work", "search", [["salesforce_key", "=", task.key]], 0, None, None
    )
    assert keyed == [lost.ref.id]
