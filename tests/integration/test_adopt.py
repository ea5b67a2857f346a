"""`psa-sync adopt`, `link` and `unlink` against the emulator and a real Redmine (issue 12): the
projects people made by hand before psa-sync are adopted, never doubled; a pair is linked or
forgotten by hand."""

from __future__ import annotations

import json
import random
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.fixtures.exactly_once_support import KEY, Book, redmine_projects, state_rows, won_deals
from tests.fixtures.sync import CLI, mapping_variant, today_mapping

pytestmark = pytest.mark.integration

YEAR = ("--since", "2025-01-01", "--until", "2025-12-31")
HAND_DESCRIPTION = "Scope agreed on the phone (typed by hand)"


def cli_json(harness, *args: str, expect: int = 0) -> dict:
    done = harness.cli(*args, "--json")
    assert done.returncode == expect, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout)


def history(emulator, names: list[str]) -> Book:
    """Won deals of 2025 named ``names`` (an Account each, so the mapping names them "<Account> -
    <name>"), last touched in 2025: no run window ever sees them."""
    book = Book(emulator, random.Random(12))
    account = emulator.create("Account", Name="Hand Made Inc")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for n, name in enumerate(names):
        book.deal(
            Name=name,
            AccountId=account,
            CloseDate=(date(2025, 1, 1) + timedelta(days=n % 365)).isoformat(),
            _stamp=start + timedelta(hours=n),
        )
    return book


def make_by_hand(redmine, projects: list[tuple[str, str]]) -> list[dict]:
    """Projects a person made in Redmine (identifier, name), with a hand-typed description, fast."""

    def one(item: tuple[str, str]) -> dict:
        identifier, name = item
        for _ in range(
            5
        ):  # Redmine on SQLite answers 500 "database is locked" to parallel writes, some committed
            response = redmine.call(
                "POST",
                "/projects.json",
                {
                    "project": {
                        "name": name,
                        "identifier": identifier,
                        "description": HAND_DESCRIPTION,
                        "is_public": False,
                        "custom_fields": [
                            {"id": redmine.cf_id("billing_type"), "value": "Retainer"},
                            {"id": redmine.cf_id("percent_complete"), "value": "40"},
                        ],
                    }
                },
            )
            if response.status_code == 201:
                return response.json()["project"]
            if redmine.call("GET", f"/projects/{identifier}.json").status_code == 200:
                return redmine.project(identifier)
        raise AssertionError(
            f"Redmine refused {identifier}: {response.status_code} {response.text[:200]}"
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, projects))


def spaced(name: str, n: int) -> str:
    """The name as a person typed it: another case, spacing here and there."""
    return (name.upper() if n % 3 == 0 else name.lower() if n % 3 == 1 else name).replace(
        " - ", "  -   "
    )


def test_adopt_matches_300_deals_to_120_hand_made_projects_then_a_backfill_creates_only_the_rest(
    harness, emulator, redmine, tmp_path
):
    names = [f"Deal {n:03d}" for n in range(280)] + [
        f"Twin {n}" for n in range(10) for _ in range(2)
    ]
    book = history(emulator, names)
    hand = (
        [(f"hand-{n:03d}", spaced(f"Hand Made Inc - Deal {n:03d}", n)) for n in range(100)]
        + [(f"twin-{n}", f"hand made inc - twin {n}") for n in range(10)]
        + [(f"other-{n}", f"Internal project {n}") for n in range(10)]
    )
    made = {p["identifier"]: p for p in make_by_hand(redmine, hand)}
    harness.write_config(mapping=today_mapping(tmp_path))

    report = cli_json(harness, "adopt", *YEAR)
    assert report["applied"] is False
    assert {
        k: report["counts"][k]
        for k in ("matched", "ambiguous", "deals_without_project", "projects_without_deal")
    } == {
        "matched": 100,
        "ambiguous": 10,
        "deals_without_project": 180,
        "projects_without_deal": 10,
    }
    assert sorted(len(a["deals"]) for a in report["ambiguous"]) == [2] * 10
    assert {p["identifier"] for p in report["projects_without_deal"]} == {
        f"other-{n}" for n in range(10)
    }
    assert (
        all(not p["values"].get(KEY) for p in redmine_projects(redmine))
        and not harness.state.exists()
    )

    applied = cli_json(harness, "adopt", *YEAR, "--apply")
    assert (applied["counts"]["linked"], applied["counts"]["failed"]) == (100, 0)
    adopted = {p["identifier"]: p for p in redmine_projects(redmine) if p["values"].get(KEY)}
    assert set(adopted) == {
        f"hand-{n:03d}" for n in range(100)
    }  # identifiers stay as people made them
    deals = won_deals(emulator)
    for project in adopted.values():
        deal = deals[project["values"][KEY]]
        assert deal["PSA_Project_Id__c"] == str(project["id"])  # the link written back
        assert project["name"] == f"Hand Made Inc - {deal['Name']}"  # a CRM-owned field, pushed

    done = cli_json(harness, "backfill", *YEAR)
    # the 200 deals without a project are made; a create Redmine on SQLite committed behind a 500
    # ("database is locked") is found by its key and counted as adopted: still made once (below)
    new = done["counts"]["created"] + done["counts"].get("adopted", 0)
    assert done["exit_code"] == 0 and new == 200 and done["counts"]["unchanged"] == 100, done[
        "counts"
    ]
    projects = redmine_projects(redmine)
    assert len(projects) == 320
    per_deal = {}
    for project in projects:
        if project["values"].get(KEY):
            per_deal.setdefault(project["values"][KEY], []).append(project)
    assert set(per_deal) == set(book.deals) and all(len(p) == 1 for p in per_deal.values())
    for (
        identifier,
        project,
    ) in adopted.items():  # hand-entered on_create and PSA-owned values survive
        now = redmine.project(project["id"])
        assert now["description"] == HAND_DESCRIPTION and now["identifier"] == identifier
        assert redmine.custom_value(project["id"], "percent_complete") == "40"
        assert now["id"] == made[identifier]["id"]
    assert all(d["PSA_Project_Id__c"] for d in won_deals(emulator).values())
    assert state_rows(harness.state, "intents") == [] and state_rows(harness.state, "outbox") == []


@pytest.mark.subprocess
def test_unlink_ignores_the_deal_until_link_or_retry_and_status_and_explain_say_so(
    harness, emulator, redmine, tmp_path
):
    book = Book(emulator, random.Random(3))
    first, second = book.deal(), book.deal()
    # a 1 s lookback, so that reconcile looks at the unlinked deal instead of leaving it to the next
    harness.write_config(
        mapping=mapping_variant(
            tmp_path,
            ("start_date: 2026-01-01", f"start_date: {date.today()}"),
            ("lookback: 10m", "lookback: 1s"),
        )
    )
    done = subprocess.run(
        [*CLI, "run", "--config", str(harness.config)],
        env=harness.env(),
        cwd=harness.workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr  # options after the command (issue 12)
    project = next(p for p in redmine_projects(redmine) if p["values"][KEY] == first)

    unlinked = harness.cli("unlink", first)
    assert unlinked.returncode == 0, unlinked.stdout + unlinked.stderr
    assert not redmine.custom_value(
        project["id"], "salesforce_opportunity_id"
    )  # the key is cleared
    deal = won_deals(emulator)[first]
    assert (
        deal["PSA_Project_Id__c"] is None and deal["PSA_Project_URL__c"] is None
    )  # and the link fields
    assert harness.status()["counts"]["ignored"] == 1
    emulator.update("Opportunity", first, Amount=4321.0)  # the next run reads it again
    time.sleep(1.5)  # its stamp falls out of the next window's lookback once this run has read it
    harness.run()
    assert (
        len(redmine.projects()) == 2 and harness.status()["counts"]["links"] == 1
    )  # no new project
    said = harness.cli("explain", first).stdout
    assert (
        "IGNORED since" in said
        and f"psa-sync link {first}" in said
        and f"retry --id {first}" in said
    )
    checked = cli_json(harness, "reconcile")
    assert checked["consistent"] and checked["checked"]["next_run"] == 0, (
        checked
    )  # unlinked on purpose: not missed

    [hand] = make_by_hand(redmine, [("hand-made", "The right project")])  # the pair a person means
    relinked = harness.cli("link", first, "hand-made")
    assert relinked.returncode == 0 and "linked deal" in relinked.stdout, (
        relinked.stdout + relinked.stderr
    )
    assert redmine.custom_value(hand["id"], "salesforce_opportunity_id") == first
    assert won_deals(emulator)[first]["PSA_Project_Id__c"] == str(hand["id"])
    assert harness.status()["counts"]["ignored"] == 0

    assert harness.cli("unlink", first).returncode == 0
    retried = harness.cli("retry", "--id", first)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    # retried, the deal gets its project again: the one psa-sync made (its identifier is taken, so
    # it is found and adopted rather than doubled); the hand-made project is left without a key
    [again] = [p for p in redmine_projects(redmine) if p["values"].get(KEY) == first]
    assert again["id"] == project["id"] and len(redmine.projects()) == 3
    assert won_deals(emulator)[first]["PSA_Project_Id__c"] == str(project["id"])
    assert not redmine.custom_value(hand["id"], "salesforce_opportunity_id")
    assert second in {p["values"][KEY] for p in redmine_projects(redmine)}


def test_bad_pairs_and_a_link_of_a_linked_side_exit_2_naming_the_line_or_record_and_write_nothing(
    harness, emulator, redmine, tmp_path
):
    book = history(emulator, ["Alpha", "Beta", "Gamma"])
    alpha, beta, gamma = book.deals
    make_by_hand(
        redmine, [("hand-alpha", "Hand Made Inc - Alpha"), ("hand-beta", "Hand Made Inc - Beta")]
    )
    harness.write_config(mapping=today_mapping(tmp_path))
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        f"opportunity_id,project\n{alpha},hand-alpha\n006000000000000AAA,hand-beta\n"
        f"{alpha},hand-alpha\n{gamma},no-such-project\n"
    )
    refused = harness.cli("adopt", *YEAR, "--pairs", str(pairs), "--apply")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    for line, words in (
        (3, "deal 006000000000000AAA is not among the deals of the criteria"),
        (4, f"deal {alpha} is also on line 2"),
        (4, "project hand-alpha is also on line 2"),
        (5, "project no-such-project does not exist in the PSA"),
    ):
        assert f"{pairs}:{line}: {words}" in refused.stderr, refused.stderr
    assert (
        not any(p["values"].get(KEY) for p in redmine_projects(redmine))
        and not harness.state.exists()
    )

    pairs.write_text(f"{alpha},hand-alpha\n")
    assert (
        cli_json(harness, "adopt", *YEAR, "--pairs", str(pairs), "--apply")["counts"]["linked"] == 1
    )
    runs = len(state_rows(harness.state, "runs"))
    for args, words in (
        ((alpha, "hand-beta"), f"deal {alpha} is already linked to project"),
        ((beta, "hand-alpha"), f"project hand-alpha already carries key {alpha} (linked to deal"),
        ((beta, "nope"), "project nope does not exist"),
    ):
        done = harness.cli("link", *args)
        assert done.returncode == 2 and words in done.stderr, done.stderr
    done = harness.cli("unlink", beta)
    assert done.returncode == 2 and f"deal {beta} is not linked to any project" in done.stderr
    assert len(state_rows(harness.state, "runs")) == runs  # nothing written, not even a run row
    assert [p["identifier"] for p in redmine_projects(redmine) if p["values"].get(KEY)] == [
        "hand-alpha"
    ]

    harness.run()  # back-sync and the conflicts policy leave the hand-typed on_create value alone
    assert redmine.project("hand-alpha")["description"] == HAND_DESCRIPTION
    assert (
        emulator.get("Opportunity", alpha)["PSA_Percent_Complete__c"] == 40
    )  # PSA-owned: it flows back


def test_every_batch_of_an_adoption_links_with_the_mapping_loaded_at_the_start(
    harness, emulator, redmine, tmp_path, monkeypatch
):
    """The mapping is read once per command: a mapping file broken between two batches of
    `adopt --apply` does not stop the second batch (each batch read the file again, and failed with
    exit 2)."""
    from functools import partial

    from sync.config import load_settings
    from sync.ops.adopt import apply as write
    from sync.ops.adopt.commands import adopt
    from sync.orchestrator import stages

    history(emulator, [f"Deal {n:03d}" for n in range(4)])
    make_by_hand(redmine, [(f"hand-{n:03d}", f"Hand Made Inc - Deal {n:03d}") for n in range(4)])
    path = today_mapping(tmp_path)
    harness.write_config(mapping=path)
    monkeypatch.chdir(harness.workdir)
    monkeypatch.setattr(write, "apply", partial(write.apply, batch=2))
    cycle, batches = stages.cycle, []

    def cycle_then_break_the_file(*args, **kwargs):
        result = cycle(*args, **kwargs)
        batches.append(result.exit_code)
        path.write_text("source: [this is no longer a mapping\n")
        return result

    monkeypatch.setattr(stages, "cycle", cycle_then_break_the_file)
    report = adopt(
        load_settings(harness.config, harness.env()),
        since=date(2025, 1, 1),
        until=date(2025, 12, 31),
        apply=True,
    )

    assert batches == [0, 0]
    assert (len(report.applied.linked), report.applied.failed, report.applied.exit_code) == (
        4,
        {},
        0,
    )
    assert sorted(p["identifier"] for p in redmine_projects(redmine) if p["values"].get(KEY)) == [
        f"hand-{n:03d}" for n in range(4)
    ]
