"""The structure contract: ONE suite of what a PSA promises a project's plan, against every real PSA
(and the tests' in-memory FakePsa, the dry PSA of `make bench`).

A phase and its tasks are made under the deal's project with their keys, found again by key (the
crash recovery of every child), read back with their progress, flagged and re-estimated, and what
a person changed stays. A ``Hands`` holds the little that differs: how a person acts on a child.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
import requests

from sync.common.model import Outcome
from sync.common.structure import Child, ChildKind
from sync.connectors.psa.base import NewProject, get_connector
from sync.connectors.psa.structure import StructureConnector
from tests.fixtures.fake_psa import FakePsa

pytestmark = [pytest.mark.integration, pytest.mark.realpsa]  # the kit asks for its PSA at run time

KEY = "006AK00000PlAnSQAA"
PHASE = Child(f"{KEY}/t:build", ChildKind.PHASE, "Build", due=dt.date(2026, 4, 30))
TASK = Child(
    f"{KEY}/li:00kAK000002XyZwQAA",
    ChildKind.TASK,
    "Configuration",
    phase=PHASE.key,
    hours=Decimal("24"),
    role="Consultant",
    start=dt.date(2026, 3, 2),
    due=dt.date(2026, 3, 20),
)
LOOSE = Child(
    f"{KEY}/t:handover", ChildKind.TASK, "Handover", hours=Decimal("4"), due=dt.date(2026, 5, 2)
)


@dataclass
class Hands:
    """A person's hands on one PSA's children."""

    psa: StructureConnector
    billing: str
    log_time: Callable[[int, int, float], None]  # (project id, child id, hours)
    close_task: Callable[[int], None]
    rename_task: Callable[[int, str], None]
    task_name: Callable[[int], str]


def _redmine(request) -> Hands:
    redmine = request.getfixturevalue("redmine")
    psa = get_connector("redmine")(
        redmine.env.url, redmine.env.api_key, {"write_concurrency": 1}, requests.Session()
    )
    return Hands(
        psa,
        "Fixed Fee",
        lambda project, child, h: redmine.log_time(project, h, issue_id=child),
        lambda child: redmine.call("PUT", f"/issues/{child}.json", {"issue": {"status_id": 5}}),
        lambda child, name: redmine.call(
            "PUT", f"/issues/{child}.json", {"issue": {"subject": name}}
        ),
        lambda child: redmine.call("GET", f"/issues/{child}.json").json()["issue"]["subject"],
    )


def _tryton(request) -> Hands:
    tryton = request.getfixturevalue("tryton")
    psa = get_connector("tryton")(tryton.env.url, tryton.env.password, {}, requests.Session())
    return Hands(
        psa,
        "manual",
        lambda project, child, h: tryton.log_time(child, h),
        tryton.close,
        lambda child, name: tryton.set_fields(child, name=name),
        lambda child: tryton.call("project.work", "read", [child], ["name"])[0]["name"],
    )


def _fake(request) -> Hands:
    """The tests' in-memory PSA (what `make bench` runs against): held to the same promises."""
    psa = FakePsa()
    return Hands(
        psa,
        "Fixed Fee",
        lambda project, child, h: psa.log(child, h),
        psa.close_child,
        psa.rename_child,
        psa.child_name,
    )


@pytest.fixture(params=["redmine", "tryton", "fake"])
def hands(request) -> Hands:
    return {"redmine": _redmine, "tryton": _tryton, "fake": _fake}[request.param](request)


def project(hands: Hands, key: str = KEY):
    fields = {
        "name": "Acme - Rollout",
        "customer": "Acme Corp",
        "billing_type": hands.billing,
        "start_date": dt.date(2026, 3, 1),
        "end_date": dt.date(2026, 5, 2),
    }
    [result] = hands.psa.create([NewProject(key, fields)])
    assert result.outcome == Outcome.CREATED, result
    return result.ref


def made(hands: Hands, ref):
    [phase] = hands.psa.create_children(ref, [PHASE], {})
    tasks = hands.psa.create_children(ref, [TASK, LOOSE], {PHASE.key: phase.ref})
    assert [r.outcome for r in [phase, *tasks]] == [Outcome.CREATED] * 3, [phase, *tasks]
    return phase.ref, tasks[0].ref, tasks[1].ref


def test_a_plan_is_made_under_its_project_and_found_again_by_its_keys(hands):
    ref, other = project(hands), project(hands, "006AK00000OtHeRQAB")
    phase, task, loose = made(hands, ref)
    assert (phase.kind, task.kind) == (ChildKind.PHASE, ChildKind.TASK)
    found = hands.psa.find_children(ref, [PHASE.key, TASK.key, LOOSE.key, f"{KEY}/t:never"])
    assert {k: [c.id for c in v] for k, v in found.items()} == {
        PHASE.key: [phase.id],
        TASK.key: [task.id],
        LOOSE.key: [loose.id],
    }
    assert hands.psa.find_children(other, [PHASE.key, TASK.key]) == {}
    # children are never mistaken for deal projects
    assert sorted(p.key for p in hands.psa.list_linked()) == sorted([KEY, "006AK00000OtHeRQAB"])


def test_progress_is_read_and_what_a_person_did_is_never_undone(hands):
    ref = project(hands)
    phase, task, loose = made(hands, ref)
    hands.log_time(ref.id, task.id, 5)
    hands.close_task(loose.id)
    hands.rename_task(task.id, "Configuration (re-planned)")
    [flag] = hands.psa.flag_children([task], "psa-sync: the line item of this task left the deal")
    [estimate] = hands.psa.set_estimates([(loose, Decimal("6"))])
    assert (flag.outcome, estimate.outcome) == (Outcome.UPDATED, Outcome.UPDATED)
    progress = {c.ref.key: c for c in hands.psa.children([ref])[ref.id]}
    assert progress[TASK.key].spent_hours == Decimal("5") and not progress[TASK.key].done
    assert progress[TASK.key].name == "Configuration (re-planned)" == hands.task_name(task.id)
    assert progress[LOOSE.key].done and progress[LOOSE.key].estimated_hours == Decimal("6")
    assert progress[PHASE.key].ref.kind == ChildKind.PHASE


def test_check_learns_what_the_psa_offers_for_a_plan(hands):
    spec = hands.psa.structure_spec()
    assert spec.problems == ()
