"""Matching hand-made projects to deals (pure): names compared ignoring case, accents and spacing,
one to one only; pairs files checked line by line before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sync.common.errors import AdoptionRefused
from sync.common.ids import to18
from sync.common.model import DesiredRow
from sync.connectors.psa.base import ProjectRef
from sync.ops.adopt.match import HandProject, Universe, by_name, comparable, resolve
from sync.ops.adopt.pairs import PairLine, read_pairs

IDS = [to18(f"006A0000000{n:04d}") for n in range(10)]


def deal(n: int, name: str) -> DesiredRow:
    return DesiredRow(
        record_id=IDS[n],
        key=IDS[n],
        modstamp=datetime(2025, 1, 1, tzinfo=UTC),
        deleted=False,
        matches=True,
        fields={"name": name},
        record_links={},
    )


def hand(pid: int, name: str, key: str = "") -> HandProject:
    return HandProject(
        ProjectRef(pid, f"hand-{pid}", key, f"http://r/projects/hand-{pid}", "active"),
        {"name": name},
    )


def universe(deals, projects, **more) -> Universe:
    index = {}
    for project in projects:
        index.update({str(project.ref.id): project, project.ref.identifier: project})
    return Universe(
        rows={d.record_id: d for d in deals}, refused={}, projects=index, taken={}, **more
    )


@pytest.mark.parametrize(
    "a,b",
    [
        ("Acme Corp - Rollout", "acme corp  -  ROLLOUT "),
        ("Société Générale - Audit", "Societe Generale - audit"),
        ("Ærø\tDeal", "ærø deal"),
    ],
)
def test_names_compare_ignoring_case_accents_and_whitespace(a, b):
    assert comparable(a) == comparable(b)


def test_one_to_one_is_matched_twins_are_ambiguous_and_the_rest_is_alone():
    deals = [
        deal(0, "Acme - Rollout"),
        deal(1, "Beta - Audit"),
        deal(2, "Beta - Audit"),
        deal(3, "Gamma - Pilot"),
        deal(4, "Delta - Cloud"),
    ]
    projects = [
        hand(1, "ACME -  rollout"),
        hand(2, "beta - audit"),
        hand(3, "Gamma - Pilot"),
        hand(4, "gamma - pilot"),
        hand(5, "Internal training"),
    ]
    result = by_name(universe(deals, projects))
    assert [(p.row.record_id, p.project.id, p.by) for p in result.matched] == [(IDS[0], 1, "name")]
    assert sorted((a.name, len(a.deals), len(a.projects)) for a in result.ambiguous) == [
        ("Gamma - Pilot", 1, 2),
        ("beta - audit", 2, 1),
    ]
    assert [r.record_id for r in result.deals_alone] == [IDS[4]]
    assert [p.ref.id for p in result.projects_alone] == [5]


def test_a_key_already_written_matches_first_and_an_ignored_deal_is_left_out():
    keyed = ProjectRef(9, "whatever", IDS[1], "http://r/projects/whatever", "closed")
    result = by_name(
        universe(
            [deal(0, "Acme"), deal(1, "Renamed"), deal(2, "Beta")],
            [hand(1, "Beta")],
            by_key={IDS[1]: keyed},
            ignored={IDS[2]},
        )
    )
    assert [(p.row.record_id, p.project.id, p.by) for p in result.matched] == [(IDS[1], 9, "key")]
    assert [r.record_id for r in result.deals_alone] == [IDS[0]] and result.projects_alone[
        0
    ].ref.id == 1


def test_a_pairs_file_with_a_header_and_15_character_ids(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text(f"opportunity_id,project\n{IDS[0][:15]},hand-1\n\n{IDS[1]}, 2 \n")
    assert read_pairs(path) == ([PairLine(2, IDS[0], "hand-1"), PairLine(4, IDS[1], "2")], [])


def test_a_bad_pairs_file_names_every_line_at_once(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text(
        f"{IDS[0]},hand-1\nnot-an-id,hand-2\n{IDS[0]},hand-3\n{IDS[1]},HAND-1\n{IDS[2]}\n{IDS[3]},99\n"
    )
    lines, problems = read_pairs(path)
    assert [line.line for line in lines] == [1, 6]  # a repeated line is not checked twice
    known = universe([deal(0, "Acme")], [hand(1, "Acme")])
    with pytest.raises(AdoptionRefused) as refused:
        resolve(lines, known, path, problems)
    assert refused.value.exit_code == 2
    assert refused.value.problems == [
        f"{path}:2: 'not-an-id' is not a Salesforce Id (15 or 18 letters and digits)",
        f"{path}:3: deal {IDS[0]} is also on line 1",
        f"{path}:4: project HAND-1 is also on line 1",
        f"{path}:5: expected opportunity_id,project (a project id or identifier), not '{IDS[2]}'",
        f"{path}:6: deal {IDS[3]} is not among the deals of the criteria (and range)",
        f"{path}:6: project 99 does not exist in the PSA (active or closed)",
    ]


def test_pairs_naming_unknown_linked_or_taken_records_are_refused_naming_the_line(tmp_path):
    known = universe([deal(0, "Acme"), deal(3, "Ok")], [hand(1, "Acme"), hand(3, "Ok")])
    known.refused[IDS[1]] = (
        "is already linked to project 7 (http://r/projects/sf-x); `psa-sync unlink` first"
    )
    known.taken["hand-8"] = "already carries key 006B"
    lines = [
        PairLine(1, IDS[1], "hand-1"),
        PairLine(2, IDS[2], "hand-8"),
        PairLine(3, IDS[0], "99"),
        PairLine(4, IDS[3], "HAND-3"),
    ]
    with pytest.raises(AdoptionRefused) as refused:
        resolve(lines, known, tmp_path / "p.csv")
    at = f"{tmp_path / 'p.csv'}"
    assert refused.value.problems == [
        f"{at}:1: deal {IDS[1]} is already linked to project 7 (http://r/projects/sf-x); "
        "`psa-sync unlink` first",
        f"{at}:2: deal {IDS[2]} is not among the deals of the criteria (and range)",
        f"{at}:2: project hand-8 already carries key 006B",
        f"{at}:3: project 99 does not exist in the PSA (active or closed)",
    ]
    [pair] = resolve(lines[3:], known, tmp_path / "p.csv")
    assert (pair.row.record_id, pair.project.id, pair.by, pair.line) == (IDS[3], 3, "pairs", 4)
