"""Issue 15 (items 1 and 2): the pipeline stream and tentative projects, as pure stages.

The mapping's ``pipeline:`` section (validated with file, line and key, overlap with the won
criteria refused), the one query that ORs it in, transform's pipeline flag and stage field, the
pipeline table's rows, and the diff's Tentative / Won / Lost / Dropped decisions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sync.common.errors import MappingError
from sync.common.model import Facts, Link, SfStatus
from sync.extract.incremental import MAX_IDS_PER_QUERY, build_query
from sync.load.lifecycle import policy_for
from sync.mapping.loader import load_mapping
from sync.transform.diff import payload_hash, plan_changes
from sync.transform.pipeline_stream import stream_rows
from sync.transform.rows import transform
from tests.fixtures.sync import line_of, mapping_variant

ROOT = Path(__file__).resolve().parents[3]
PIPELINE = """
pipeline:
  criteria: "IsClosed = false AND Probability >= 50"
  create_projects: true
  on_drop: close
"""
WON_ID, OPEN_ID, LOW_ID = "006000000000001AAA", "006000000000002AAA", "006000000000003AAA"


def with_pipeline(tmp_path: Path, section: str = PIPELINE, *replacements) -> Path:
    path = mapping_variant(tmp_path, *replacements)
    path.write_text(path.read_text() + section)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(MappingError) as raised:
        load_mapping(path)
    return raised.value.problems


def record(
    record_id: str, stage: str, probability: int, *, won=False, closed=False, **changes
) -> dict:
    values = {
        "attributes": {"type": "Opportunity"},
        "Id": record_id,
        "SystemModstamp": "2026-02-03T10:15:30.000+0000",
        "IsDeleted": False,
        "IsWon": won,
        "IsClosed": closed,
        "Name": "Rollout",
        "Account": {"Name": "Acme Corp"},
        "Amount": 80000,
        "Description": None,
        "CloseDate": "2026-05-01",
        "End_Date__c": None,
        "Type": "New Customer",
        "StageName": stage,
        "Probability": probability,
        "OwnerId": "005000000000001AAA",
    }
    values.update(changes)
    return values


@pytest.fixture
def mapping(tmp_path):
    return load_mapping(with_pipeline(tmp_path))


def test_the_pipeline_section_loads_and_adds_what_the_forecast_needs_to_the_select(mapping):
    assert mapping.pipeline.create_projects and mapping.pipeline.on_drop == "close"
    assert (
        mapping.tentative.stage("tentative") == "Tentative"
        and mapping.tentative.stage_field == "stage"
    )
    selected = set(mapping.soql_fields())
    assert {"StageName", "Probability", "Amount", "CloseDate", "OwnerId", "IsClosed"} <= selected


def test_a_mapping_without_pipeline_keeps_its_fingerprint_and_adding_one_changes_it(tmp_path):
    plain = load_mapping(mapping_variant(tmp_path))
    assert plain.pipeline is None
    assert (
        plain.fingerprint
        == load_mapping(ROOT / "mappings" / "opportunity_to_project.yaml").fingerprint
    )
    assert load_mapping(with_pipeline(tmp_path)).fingerprint != plain.fingerprint


def test_a_pipeline_that_could_overlap_the_won_criteria_is_refused_naming_file_line_and_key(
    tmp_path,
):
    path = with_pipeline(
        tmp_path, PIPELINE, ('criteria: "IsWon = true"', "criteria: \"StageName = 'Closed Won'\"")
    )
    line = line_of(path, "IsClosed = false AND Probability")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:{line}: pipeline.criteria: overlaps source.criteria")
    assert "IsWon = true" in problem and f"(line {line_of(path, 'Closed Won')})" in problem


def test_pipeline_criteria_must_exclude_closed_deals(tmp_path):
    path = with_pipeline(
        tmp_path, PIPELINE.replace("IsClosed = false AND Probability >= 50", "Probability >= 50")
    )
    [problem] = problems(path)
    assert problem.startswith(
        f"{path}:{line_of(path, 'Probability >= 50')}: pipeline.criteria: must exclude "
        "closed deals with `IsClosed = false`"
    )


@pytest.mark.parametrize(
    ("section", "needle", "expected"),
    [
        (
            'pipeline:\n  criteria: "IsClosed = false AND (Probability >= "\n',
            "Probability >=",
            "pipeline.criteria: ",
        ),
        (
            PIPELINE.replace("on_drop: close", "on_drop: archive"),
            "on_drop",
            "pipeline.on_drop: 'archive' is not one of",
        ),
        (
            PIPELINE + "  stage_field: name\n",
            "stage_field",
            "pipeline.stage_field: 'name' is also a field",
        ),
        (
            PIPELINE + "  stages: {maybe: Perhaps}\n",
            "stages",
            "pipeline.stages.maybe: unknown stage 'maybe'",
        ),
        (PIPELINE + "  extra: 1\n", "extra", "pipeline.extra: unknown key 'extra'"),
        (
            PIPELINE.replace("create_projects: true", "create_projects: yes please"),
            "create_projects",
            "pipeline.create_projects: 'yes please' is not true or false",
        ),
        (
            "pipeline:\n  criteria: \"IsClosed = false AND PSA_Status__c = 'open'\"\n",
            "AND PSA_Status__c",
            "pipeline.criteria: reads PSA_Status__c, a field psa-sync writes",
        ),
    ],
)
def test_a_bad_pipeline_section_names_file_line_and_key(tmp_path, section, needle, expected):
    path = with_pipeline(tmp_path, section)
    found = problems(path)
    assert any(p.startswith(f"{path}:{line_of(path, needle)}: {expected}") for p in found), found


def test_the_one_query_ors_in_the_pipeline_and_names_the_open_deals_it_watches(mapping):
    start, signpost = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, 10, tzinfo=UTC)
    soql = build_query(
        mapping, start=start, signpost=signpost, extra_ids=["006B"], watch_ids=["006A", "006B"]
    )
    assert (
        "(IsWon = true OR IsClosed = false AND Probability >= 50 OR PSA_Project_Id__c != null "
        "OR Id IN ('006A', '006B'))"
        in soql.replace(
            "(IsClosed = false AND Probability >= 50)", "IsClosed = false AND Probability >= 50"
        )
    )
    many = [f"006{n:015d}" for n in range(MAX_IDS_PER_QUERY)]
    crowded = build_query(
        mapping, start=start, signpost=signpost, extra_ids=["006ZZZ"], watch_ids=many
    )
    # more than fit: the unsettled link is still named, the watched deals come by the wide term
    assert crowded.count("'006") == 1 and "'006ZZZ'" in crowded and "IsWon = false" in crowded


def test_transform_flags_pipeline_deals_and_sets_the_stage_field(mapping):
    result = transform(
        [
            record(WON_ID, "Closed Won", 100, won=True, closed=True),
            record(OPEN_ID, "Id. Decision Makers", 60),
            record(LOW_ID, "Prospecting", 10),
        ],
        mapping,
    )
    rows = {r.record_id: r for r in result.rows}
    assert (rows[WON_ID].matches, rows[WON_ID].pipeline, rows[WON_ID].fields["stage"]) == (
        True,
        False,
        "Won",
    )
    assert (rows[OPEN_ID].matches, rows[OPEN_ID].pipeline, rows[OPEN_ID].fields["stage"]) == (
        False,
        True,
        "Tentative",
    )
    assert (rows[LOW_ID].matches, rows[LOW_ID].pipeline, rows[LOW_ID].fields["stage"]) == (
        False,
        False,
        None,
    )


def test_the_pipeline_rows_rows_of_a_page(mapping):
    records = [
        record(OPEN_ID, "Id. Decision Makers", 60),
        record(LOW_ID, "Prospecting", 10),
        record(WON_ID, "Closed Won", 100, won=True, closed=True),
        record("006000000000004AAA", "Closed Lost", 0, closed=True),
    ]
    result = transform(records, mapping)
    facts = {r["Id"]: Facts(is_won=r["IsWon"], is_closed=r["IsClosed"]) for r in records}
    rows = stream_rows(
        records, result.rows, result.errors, facts, known={LOW_ID, WON_ID, "006000000000004AAA"}
    )
    status = {r["record_id"]: r["status"] for r in rows}
    assert status == {
        OPEN_ID: "open",
        LOW_ID: "dropped",
        WON_ID: "won",
        "006000000000004AAA": "lost",
    }
    [open_row] = [r for r in rows if r["record_id"] == OPEN_ID]
    assert (
        open_row["stage"],
        open_row["probability"],
        open_row["amount"],
        open_row["close_date"],
        open_row["owner_id"],
    ) == ("Id. Decision Makers", 60.0, 80000.0, "2026-05-01", "005000000000001AAA")
    assert open_row["payload"]["name"] == "Acme Corp - Rollout"
    # a deal never in the pipeline, and not in the table, makes no row
    assert stream_rows(records[2:3], result.rows, result.errors, facts, known=set()) == []


def _link(row, status: str) -> Link:
    return Link(
        record_id=row.record_id,
        key=row.key,
        project_id=7,
        project_identifier="sf-x",
        project_url="u",
        payload_hash=payload_hash({**row.fields, "stage": "Tentative"}),
        payload={**row.fields, "stage": "Tentative"},
        written={},
        backsync={},
        link_state="active",
        sf_status=status,
        closed_by=None,
        pending={},
        kept_psa=[],
    )


def _plan(mapping, rec, links=None, tentative=True):
    result = transform([rec], mapping)
    facts = {rec["Id"]: Facts(is_won=rec["IsWon"], is_closed=rec["IsClosed"])}
    return plan_changes(
        result.rows,
        links or {},
        writeback=mapping.writeback,
        on_create=set(),
        facts=facts,
        tentative=tentative,
    ), result.rows[0]


def test_the_diff_makes_a_tentative_project_only_when_create_projects_is_on(mapping):
    plan, _ = _plan(mapping, record(OPEN_ID, "Id. Decision Makers", 60))
    assert [c.row.record_id for c in plan.creates] == [OPEN_ID]
    plan, _ = _plan(mapping, record(OPEN_ID, "Id. Decision Makers", 60), tentative=False)
    assert plan.creates == [] and plan.ignored == [OPEN_ID]


def test_tentative_to_won_updates_the_same_project_and_flags_it_won(mapping):
    _, before = _plan(mapping, record(OPEN_ID, "Id. Decision Makers", 60))
    plan, _ = _plan(
        mapping,
        record(OPEN_ID, "Closed Won", 100, won=True, closed=True),
        {OPEN_ID: _link(before, "Tentative")},
    )
    assert plan.creates == []
    [update] = plan.updates
    assert update.changed == {"stage": "Won"} and update.link.project_id == 7
    [change] = plan.lifecycle
    assert (
        change.status == SfStatus.WON
        and policy_for(change.status, mapping.lifecycle, mapping.pipeline) == "restore"
    )


@pytest.mark.parametrize(
    ("rec", "was", "status", "policy"),
    [
        (record(OPEN_ID, "Closed Lost", 0, closed=True), "Tentative", SfStatus.LOST, "flag"),
        (record(OPEN_ID, "Prospecting", 10), "Tentative", SfStatus.DROPPED, "close"),
        (record(OPEN_ID, "Id. Decision Makers", 60), "Dropped", SfStatus.TENTATIVE, "restore"),
        (
            record(OPEN_ID, "Prospecting", 10),
            "Won",
            SfStatus.REOPENED,
            "flag",
        ),  # a won deal reopened: on_unwon
    ],
)
def test_a_tentative_deal_that_is_lost_drops_or_comes_back_follows_its_policy(
    mapping, rec, was, status, policy
):
    _, row = _plan(mapping, record(OPEN_ID, "Id. Decision Makers", 60))
    plan, _ = _plan(mapping, rec, {OPEN_ID: _link(row, was)})
    [change] = plan.lifecycle
    assert (
        change.status == status
        and policy_for(status, mapping.lifecycle, mapping.pipeline) == policy
    )
    assert plan.creates == []


def test_the_pipeline_table_keeps_first_seen_and_the_last_payload_and_watches_unlinked_open_deals(
    tmp_path,
):
    from sync.state import State, pipeline_rows

    state = State.open(tmp_path / "state.sqlite")
    try:

        def row(record_id, status, payload):
            return {
                "record_id": record_id,
                "stage": "Negotiation/Review",
                "probability": 90.0,
                "amount": 5.0,
                "close_date": "2026-05-01",
                "owner_id": "005A",
                "payload": payload,
                "status": status,
            }

        with state.transaction():
            pipeline_rows.save(
                state, [row(OPEN_ID, "open", {"name": "A"}), row(LOW_ID, "open", {"name": "B"})], 1
            )
        first = {r["record_id"]: r for r in pipeline_rows.pipeline_rows(state, None)}
        with (
            state.transaction()
        ):  # the deal did not map this time: its payload stays; first_seen too
            pipeline_rows.save(state, [row(OPEN_ID, "dropped", None)], 2)
        again = pipeline_rows.row(state, OPEN_ID)
        assert (again["status"], again["payload"], again["first_seen"], again["run_id"]) == (
            "dropped",
            {"name": "A"},
            first[OPEN_ID]["first_seen"],
            2,
        )
        assert pipeline_rows.known(state, [OPEN_ID, WON_ID]) == {OPEN_ID}
        assert pipeline_rows.watched(state) == [LOW_ID]  # open and without a project
        assert pipeline_rows.counts(state) == {"dropped": 1, "open": 1}
    finally:
        state.close()
