"""`psa-sync plan --sample` with a `structure:` section (issue 23): each create shows the phases and
tasks its project gets, offline, from REST-shaped records carrying `OpportunityLineItems`; a deal
whose plan cannot be made is quarantined (exit 1); the JSON follows
docs/status.schema.json#/$defs/plan."""

import json
from pathlib import Path

import jsonschema
import pytest

from tests.fixtures.sync import psa_sync

ROOT = Path(__file__).resolve().parents[2]
DEALS = Path(__file__).with_name("deals_with_line_items.json")
MAPPING = ROOT / "mappings" / "examples" / "structure.yaml"
pytestmark = [pytest.mark.e2e, pytest.mark.subprocess]  # the CLI as a user starts it


def test_plan_shows_each_creates_phases_and_tasks_and_quarantines_a_negative_quantity():
    result = psa_sync("plan", "--sample", str(DEALS), "--mapping", str(MAPPING))
    assert result.returncode == 1, result.stderr  # the credit note's negative quantity
    lines = result.stdout.splitlines()
    assert lines[0].startswith("2 to create") and "1 quarantined" in lines[0]
    tree = lines[lines.index(next(x for x in lines if "structure Implementation" in x)) :][:10]
    assert tree[0].strip() == (
        "structure Implementation: 3 phases, 6 tasks, 130 h "
        "(Consultant 104 h, Project Manager 26 h)"
    )
    assert [x.strip() for x in tree[1:6]] == [
        "phase Discovery  due 2026-03-15",
        "task Kick-off workshop  4 h  Project Manager  2026-03-01 → 2026-03-03",
        "task Requirements and success criteria  16 h  Consultant  2026-03-03 → 2026-03-15",
        "phase Build  due 2026-09-16",
        "task Consulting day  80 h  Consultant  2026-03-01 → 2026-09-30  "
        "line item 00kA000000AbC01AAA",
    ]
    assert (
        "structure Standard: 1 phase, 2 tasks, 15 h (Project Manager 1 h, Trainer 14 h)"
        in result.stdout
    )
    assert (
        "QUARANTINE 006A000000AbCdJIAZ  "
        "structure: line item 00kA000000AbC05AAA: Quantity -2 is negative" in result.stdout
    )
    assert "Enterprise licence" not in result.stdout  # a licence is no service: no task


def test_plan_json_carries_the_tree_and_follows_the_schema():
    result = psa_sync("plan", "--json", "--sample", str(DEALS), "--mapping", str(MAPPING))
    plan = json.loads(result.stdout)
    schema = json.loads((ROOT / "docs" / "status.schema.json").read_text())
    jsonschema.Draft202012Validator(
        {"$defs": schema["$defs"], "$ref": "#/$defs/plan"},
        format_checker=jsonschema.FormatChecker(),
    ).validate(plan)
    structure = plan["creates"][0]["structure"]
    assert structure["template"] == "Implementation" and structure["hours"] == "130"
    by_key = {t["key"]: t for t in structure["tasks"]}
    pm = by_key["006A000000AbCdEIAZ/li:00kA000000AbC03AAA"]
    assert (pm["hours"], pm["role"], pm["phase"]) == (
        "20",
        "Project Manager",
        "006A000000AbCdEIAZ/t:build",
    )
    upgrade = plan["creates"][1]["structure"]
    [training] = [t for t in upgrade["tasks"] if t["line_item"]]
    assert (training["due"], training["phase"]) == ("2026-05-15", "006A000000AbCdHIAZ/t:delivery")


def test_without_structure_the_plan_of_the_same_deals_has_no_tree():
    result = psa_sync(
        "plan",
        "--json",
        "--sample",
        str(DEALS),
        "--mapping",
        str(ROOT / "mappings" / "opportunity_to_project.yaml"),
    )
    plan = json.loads(result.stdout)
    assert plan["counts"]["creates"] == 3 and all("structure" not in c for c in plan["creates"])


def test_check_offline_validates_the_templates_init_writes_once_the_section_is_uncommented(
    tmp_path,
):
    assert psa_sync("init", str(tmp_path), cwd=tmp_path).returncode == 0
    mapping = tmp_path / "mappings" / "opportunity_to_project.yaml"
    text = mapping.read_text()
    block = text[text.index("# structure:") :].splitlines()
    mapping.write_text(text + "\n" + "\n".join(line[2:] for line in block) + "\n")
    key = tmp_path / "sf.key"
    key.write_text("not read offline")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "SF_USERNAME": "sync@example.com",
        "SF_CLIENT_ID": "3MVG9",
        "SF_PRIVATE_KEY_FILE": str(key),
        "REDMINE_URL": "https://redmine.example.com",
        "REDMINE_API_KEY": "0123456789abcdef",
    }
    config = str(tmp_path / "psa-sync.yaml")
    checked = psa_sync("check", "--offline", "--config", config, env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (
        "structure: 2 template(s), line items become tasks, "
        "roles Consultant, Project Manager, Trainer" in checked.stdout
    )
    template = tmp_path / "mappings" / "templates" / "implementation.yaml"
    template.write_text(template.read_text().replace("phase: discovery", "phase: discovry", 1))
    broken = psa_sync("check", "--offline", "--config", config, env=env, cwd=tmp_path)
    assert broken.returncode == 2
    assert (
        f"{template}:14  tasks[0].phase: 'discovry' is not a phase of this template"
        in broken.stdout
    )
