"""Reconcile's rules are plain functions: sweeps + links in, named drift out; and its report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.common.model import Link
from sync.connectors.psa.base import ProjectRef
from sync.mapping.loader import load_mapping
from sync.ops.reconcile.drift import find_drift
from sync.ops.reconcile.model import Drift, Known, Observed, Seen
from sync.ops.reconcile.repair import outcome
from sync.ops.reconcile.report import ReconcileReport
from sync.ops.reconcile.sweeps import criteria_query, existence_queries, expected_calls

ROOT = Path(__file__).resolve().parents[3]
WRITEBACK = {"PSA_Project_Id__c": "project.id", "PSA_Project_URL__c": "project.url"}
SINCE = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OLD = SINCE - timedelta(days=30)  # before the window the next run reads
NEW = SINCE + timedelta(minutes=1)  # inside it
A, B, C = "006000000000001AAA", "006000000000002AAA", "006000000000003AAA"


def url(project_id: int, key: str) -> str:
    return (
        f"http://r/projects/{identifier(key)}"
        if project_id < 100
        else f"http://r/projects/copy-{project_id}"
    )


def identifier(key: str) -> str:
    return "sf-" + key.lower()


def link(oid: str, project_id: int, **changes) -> Link:
    values = dict(
        record_id=oid,
        key=oid,
        project_id=project_id,
        project_identifier=identifier(oid),
        project_url=url(project_id, oid),
        payload_hash="h",
        payload={"name": "n"},
        written={},
        backsync={},
        link_state="active",
        sf_status="Won",
        closed_by=None,
        pending={},
        kept_psa=[],
    )
    values.update(changes)
    return Link(**values)


def project(project_id: int, key: str, ident: str | None = None) -> ProjectRef:
    ident = ident or identifier(key)
    return ProjectRef(
        id=project_id, identifier=ident, key=key, url=f"http://r/projects/{ident}", status="active"
    )


def record(
    oid: str, project_id: int | None, *, deleted: bool = False, stamp: datetime = OLD
) -> dict:
    return {
        "Id": oid,
        "IsDeleted": deleted,
        "SystemModstamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "PSA_Project_Id__c": None if project_id is None else str(project_id),
        "PSA_Project_URL__c": None if project_id is None else url(project_id, oid),
    }


def consistent() -> tuple[Observed, dict[str, Link]]:
    """Two won deals, each linked to its own project, link fields written."""
    links = {A: link(A, 1), B: link(B, 2)}
    seen = Observed(
        matching={A: Seen(A, OLD), B: Seen(B, OLD)},
        existing={A: record(A, 1), B: record(B, 2)},
        projects=[project(1, A), project(2, B)],
    )
    return seen, links


def drift(seen: Observed, links: dict[str, Link], **known) -> list[Drift]:
    return find_drift(
        seen, links, Known(since=SINCE, **known), writeback=WRITEBACK, identifier_of=identifier
    )


def kinds(items: list[Drift]) -> list[tuple[str, str | None]]:
    return [(d.kind, d.record_id) for d in items]


def test_a_consistent_system_has_no_drift():
    seen, links = consistent()
    assert drift(seen, links) == []


def test_an_unlinked_match_is_missed_unless_quarantined_ignored_or_still_in_the_next_runs_window():
    seen, links = consistent()
    seen.matching[C] = Seen(C, OLD)
    assert kinds(drift(seen, links)) == [("missed", C)]
    assert drift(seen, links)[0].repair == "refetch"
    assert drift(seen, links, quarantined={C}) == []
    assert drift(seen, links, ignored={C}) == []  # unlinked by hand: no project is the point
    seen.matching[C] = Seen(C, NEW)
    assert drift(seen, links) == []


def test_a_leftover_intent_is_named_in_the_missed_detail():
    seen, links = consistent()
    seen.matching[C] = Seen(C, OLD)
    [item] = drift(seen, links, intents={C})
    assert "intent" in item.detail


def test_a_linked_deal_that_no_longer_comes_back_was_hard_deleted():
    seen, links = consistent()
    del seen.existing[B]
    [item] = drift(seen, links)
    assert (item.kind, item.record_id, item.repair, item.project_ids) == (
        "hard-deleted",
        B,
        "lifecycle",
        (2,),
    )


def test_a_deal_already_flagged_deleted_and_then_purged_is_not_drift():
    seen, links = consistent()
    del seen.existing[B]
    links[B] = link(B, 2, sf_status="Deleted", link_state="deleted")
    assert drift(seen, links) == []


def test_a_deleted_deal_whose_project_was_never_flagged_is_refetched():
    seen, links = consistent()
    seen.existing[B] = record(B, 2, deleted=True)
    assert [(d.kind, d.repair) for d in drift(seen, links)] == [("unflagged-deleted", "refetch")]
    seen.existing[B] = record(B, 2, deleted=True, stamp=NEW)
    assert drift(seen, links) == []


def test_a_project_with_an_unlinked_key_of_a_matching_deal_is_an_orphan_adopted_by_refetch():
    seen, links = consistent()
    seen.matching[C] = Seen(C, OLD)
    seen.projects.append(project(9, C, "by-hand"))
    items = drift(seen, links)
    assert kinds(items) == [("missed", C), ("orphan", C)]
    assert items[1].repair == "refetch" and items[1].project_ids == (9,)


def test_an_orphan_whose_deal_is_outside_the_criteria_is_reported_only():
    seen, links = consistent()
    seen.projects.append(project(9, C, "stray"))
    [item] = drift(seen, links)
    assert (item.kind, item.repair) == ("orphan", None)
    assert "not in the criteria sweep" in item.detail


def test_an_orphan_whose_deal_the_next_run_reads_is_left_to_it():
    seen, links = consistent()
    seen.matching[C] = Seen(C, NEW)
    seen.projects.append(project(9, C, "by-hand"))
    assert drift(seen, links) == []


def test_a_key_on_two_projects_is_a_duplicate_naming_both_and_which_is_ours():
    seen, links = consistent()
    seen.projects.append(project(101, A, "copy-101"))
    [item] = drift(seen, links)
    assert (item.kind, item.record_id, item.repair, item.project_ids) == (
        "duplicate",
        A,
        None,
        (1, 101),
    )
    assert f"1 ({identifier(A)}; psa-sync's identifier, linked)" in item.detail
    assert "101 (copy-101)" in item.detail


def test_a_link_whose_project_is_gone_drops_the_link_and_skips_the_other_checks():
    seen, links = consistent()
    seen.projects = [project(1, A)]
    del seen.existing[B]  # even purged: the missing project is what the repair must handle
    [item] = drift(seen, links)
    assert (item.kind, item.record_id, item.repair) == ("project-missing", B, "drop-link")


def test_a_linked_project_that_lost_its_key_is_not_missing():
    seen, links = consistent()
    seen.projects = [project(1, A)]
    seen.present = {2}
    [item] = drift(seen, links)
    assert (item.kind, item.repair) == ("key-missing", "restore-key")
    assert "carries no key" in item.detail


def test_a_linked_project_carrying_another_key_is_key_drift():
    seen, links = consistent()
    seen.projects = [project(1, A), project(2, C)]
    items = drift(seen, links)
    assert ("key-missing", B) in kinds(items) and f"carries key {C}" in items[-1].detail


def test_a_cleared_link_field_is_queued_unless_already_pending_or_quarantined():
    seen, links = consistent()
    seen.existing[A] = {**record(A, 1), "PSA_Project_Id__c": None}
    [item] = drift(seen, links)
    assert (item.kind, item.repair, item.values) == (
        "link-field",
        "queue",
        {"PSA_Project_Id__c": "1"},
    )
    assert drift(seen, links, pending={(A, "PSA_Project_Id__c")}) == []
    assert drift(seen, links, quarantined={A}) == []


def test_a_cloned_deal_carrying_anothers_link_is_missed_not_linked():
    seen, links = consistent()
    seen.matching[C] = Seen(C, OLD)  # the clone: unlinked; its copied link fields are not identity
    assert kinds(drift(seen, links)) == [("missed", C)]


def test_link_fields_are_compared_ignoring_the_field_names_case():
    seen, links = consistent()
    seen.existing[A] = {k.lower() if k.startswith("PSA") else k: v for k, v in record(A, 1).items()}
    assert drift(seen, links) == []


def test_drift_is_reported_in_kind_order():
    seen, links = consistent()
    seen.matching[C] = Seen(C, OLD)
    seen.existing[A] = {**record(A, 1), "PSA_Project_URL__c": "elsewhere"}
    del seen.existing[B]
    assert [d.kind for d in drift(seen, links)] == ["missed", "hard-deleted", "link-field"]


@pytest.fixture
def mapping(tmp_path):
    path = tmp_path / "m.yaml"
    text = (ROOT / "mappings" / "opportunity_to_project.yaml").read_text()
    criteria = (
        r"""criteria: "IsWon = true AND Name != 'O\\'Brien'" """.strip()
    )  # YAML "\\" is one backslash
    path.write_text(text.replace('criteria: "IsWon = true"', criteria))
    return load_mapping(path)


def test_the_criteria_sweep_selects_ids_and_stamps_since_start_date(mapping):
    soql = criteria_query(mapping)
    assert soql.startswith("SELECT Id, SystemModstamp FROM Opportunity WHERE (")
    assert soql.endswith("AND SystemModstamp >= 2026-01-01T00:00:00Z")
    assert "IsWon = true" in soql and "\\'" in soql  # the criteria's values are escaped again


def test_the_existence_sweep_asks_for_300_ids_a_query_with_the_link_fields(mapping):
    ids = [f"006{n:012d}AAA" for n in range(301)]
    queries = existence_queries(mapping, ids)
    assert len(queries) == 2 and queries[1].count("'") == 2
    assert queries[0].startswith(
        "SELECT Id, SystemModstamp, IsDeleted, PSA_Project_Id__c, PSA_Project_URL__c "
        "FROM Opportunity WHERE Id IN ('006000000000000AAA', "
    )
    assert existence_queries(mapping, []) == []


def test_expected_calls_are_token_plus_pages_of_2000_plus_chunks_of_300():
    assert expected_calls(0, 0) == 2
    assert expected_calls(2000, 300) == 3
    assert expected_calls(2001, 301) == 5


def test_a_repair_is_settled_from_the_state_afterwards():
    links = {A: link(A, 1), C: link(C, 5)}
    missed = Drift("missed", C, C, "", repair="refetch")
    assert outcome(missed, links, {A, C}, set(), set()) == "repaired"
    assert outcome(missed, {}, set(), {C}, set()) == "quarantined"
    assert outcome(missed, {}, set(), set(), set()) == "remaining"
    gone = Drift("project-missing", C, C, "", repair="drop-link", project_ids=(4,))
    assert outcome(gone, links, set(), set(), set()) == "repaired"
    assert (
        outcome(
            Drift("project-missing", C, C, "", repair="drop-link", project_ids=(5,)),
            links,
            set(),
            set(),
            set(),
        )
        == "remaining"
    )
    field = Drift("link-field", A, A, "", repair="queue", values={"PSA_Project_Id__c": "1"})
    assert outcome(field, links, set(), set(), {(A, "PSA_Project_Id__c")}) == "remaining"
    assert outcome(field, links, set(), set(), set()) == "repaired"
    purged = Drift("hard-deleted", A, A, "", repair="lifecycle")
    assert outcome(purged, {A: link(A, 1, sf_status="Deleted")}, set(), set(), set()) == "repaired"
    assert outcome(Drift("duplicate", A, A, ""), links, set(), set(), set()) == "remaining"


def test_a_project_made_again_on_the_deleted_one_s_id_counts_as_repaired():
    """Redmine on SQLite gives a deleted last project's id to the next one it creates: the link the
    repair made points at the same id as the one that went missing, and is still the repair's."""
    links = {C: link(C, 5)}
    remade = Drift("project-missing", C, C, "", repair="drop-link", project_ids=(5,), dropped=True)
    assert outcome(remade, links, set(), set(), set()) == "repaired"
    assert outcome(remade, links, set(), {C}, set()) == "quarantined"


def test_the_report_exits_1_while_drift_remains_and_keeps_its_json_versioned():
    report = ReconcileReport(
        repair=True,
        run_id=3,
        checked={"matching": 2, "linked": 1, "projects": 1},
        api_calls={"token": 1, "query": 1, "queryAll": 1},
    )
    assert report.exit_code == 0 and report.to_json()["consistent"]
    report.drift = [
        Drift("missed", C, C, "missed it", repair="refetch", status="repaired"),
        Drift("duplicate", A, A, "key on projects 1, 2", project_ids=(1, 2), status="remaining"),
    ]
    data = report.to_json()
    assert data["version"] == 1 and data["exit_code"] == 1 and data["remaining"] == 1
    assert data["drift"]["missed"] == {
        "found": 1,
        "repaired": 1,
        "remaining": 0,
        "examples": [
            {"id": C, "key": C, "detail": "missed it", "status": "repaired", "project_ids": []}
        ],
    }
    assert data["salesforce_calls"]["total"] == 3
    text = report.text()
    assert "2 drifted, 1 remaining" in text and f"{A}  key on projects 1, 2  [remaining]" in text
    report.drift.pop()
    assert report.exit_code == 0
    report.error_code, report.error = 4, "stopped to protect the budget"
    assert (report.exit_code, report.status) == (4, "stopped") and "error: stopped" in report.text()


def test_the_report_lists_at_most_50_examples_per_kind():
    report = ReconcileReport(
        repair=False, drift=[Drift("missed", f"006{n:015d}", "k", "") for n in range(60)]
    )
    summary = report.by_kind()["missed"]
    assert summary["found"] == 60 and len(summary["examples"]) == 50 and report.exit_code == 1
