"""The psa-sync command as a user (or their CI) runs it: offline, exit codes, README promises."""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.fixtures.sync import ROOT, psa_sync

DEALS = Path(__file__).with_name("deals.json")
MAPPING = ROOT / "mappings" / "opportunity_to_project.yaml"
pytestmark = [pytest.mark.e2e, pytest.mark.subprocess]  # kills, signals or a real process


def test_version():
    result = psa_sync("--version")
    assert result.returncode == 0 and re.search(r"psa-sync, version \d+\.\d+\.\d+", result.stdout)


def test_plan_sample_is_a_mapping_smoke_test_with_no_connection():
    result = psa_sync("plan", "--json", "--sample", str(DEALS), "--mapping", str(MAPPING))
    assert result.returncode == 1  # one deal would be quarantined: the CI job fails
    plan = json.loads(result.stdout)
    assert plan["version"] == 1
    assert [c["id"] for c in plan["creates"]] == ["006A000000AbCdEIAZ"]
    assert plan["creates"][0]["fields"]["billing_type"] == "Fixed Fee"
    assert plan["creates"][0]["fields"]["name"] == "Acme Corp - Rollout"
    assert [q["id"] for q in plan["quarantined"]] == ["006A000000AbCdFIAZ"]
    assert "'Barter' (from Type) is not in the value map" in plan["quarantined"][0]["reason"]


def test_plan_keeps_counts_and_at_most_examples_of_each_action_and_jsonl_lists_them_all(tmp_path):
    records = json.loads(DEALS.read_text())["records"][:1]
    many = [{**records[0], "Id": f"006A000000AbC{n:03d}IAZ"} for n in range(30)]
    sample = tmp_path / "many.json"
    sample.write_text(json.dumps({"records": many}))
    summary = json.loads(
        psa_sync(
            "plan", "--json", "--examples", "5", "--sample", str(sample), "--mapping", str(MAPPING)
        ).stdout
    )
    assert (
        len(summary["creates"]) == 5
        and summary["counts"]["creates"] == 30
        and summary["examples"] == 5
    )
    text = psa_sync(
        "plan", "--examples", "5", "--sample", str(sample), "--mapping", str(MAPPING)
    ).stdout
    assert text.startswith("30 to create") and "25 more creates" in text
    lines = psa_sync(
        "plan", "--jsonl", "--sample", str(sample), "--mapping", str(MAPPING)
    ).stdout.splitlines()
    actions = [json.loads(line) for line in lines]
    assert [a["id"] for a in actions[:-1]] == [r["Id"] for r in many]
    assert {a["action"] for a in actions[:-1]} == {"create"}
    assert actions[-1]["action"] == "summary" and actions[-1]["counts"]["creates"] == 30


def test_plan_sample_accepts_sf_data_query_output(tmp_path):
    records = json.loads(DEALS.read_text())["records"][:1]
    sample = tmp_path / "sf.json"
    sample.write_text(
        json.dumps({"status": 0, "result": {"records": records, "totalSize": 1, "done": True}})
    )
    result = psa_sync("plan", "--sample", str(sample), "--mapping", str(MAPPING))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("1 to create")


def test_a_broken_mapping_exits_2_naming_file_line_and_key(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(MAPPING.read_text().replace("type: decimal", "type: money"))
    result = psa_sync("plan", "--sample", str(DEALS), "--mapping", str(broken))
    assert result.returncode == 2
    assert re.search(
        rf"{re.escape(str(broken))}:\d+: project\.fields\.budget\.type: 'money'", result.stderr
    )


def test_a_missing_config_exits_2_and_says_where_it_looked(tmp_path):
    result = psa_sync(
        "status", cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    )
    assert result.returncode == 2
    assert "config file not found" in result.stderr and "PSA_SYNC_CONFIG" in result.stderr


def test_every_command_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    help_text = psa_sync("--help").stdout
    commands = re.findall(r"^  (\w+)\s", help_text.split("Commands:")[1], re.M)
    assert commands, help_text
    for command in commands:
        assert re.search(rf"^\s+{command}\b", readme, re.M), f"`{command}` is not in README.md"


# Every exit code the program can exit with (each error class's, a bug's, Ctrl-C's) is checked
# against README's exit-code table by tests/unit/common/test_exit_codes.py
# (test_every_exit_code_..._is_documented).


def test_a_config_path_that_is_a_directory_exits_2_with_one_line_and_no_traceback(tmp_path):
    result = psa_sync("--config", str(tmp_path), "status")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"psa-sync: {tmp_path}:1: (file): cannot read the config: Is a directory"
    )


def test_a_config_value_of_the_wrong_type_exits_2_naming_line_and_key(tmp_path):
    config = tmp_path / "psa-sync.yaml"
    config.write_text("salesforce: [a]\npsa: 5\nmapping: [a]\n")
    result = psa_sync(
        "--config", str(config), "status", env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"psa-sync: {config}:1: salesforce: must be a mapping, not a list",
        f"{config}:2: psa: must be a mapping, not a number",
        f"{config}:3: mapping: must be a file path, not a list",
    ]


#: the CLI as a user other than root runs it: root reads any file, so as root the command drops to
#: nobody once Python and psa-sync are loaded (the interpreter lives where nobody may not read)
AS_NOBODY = """
import os, sys
import sync.cli, sync.config, sync.common.yamldoc, sync.ops.report, sync.common.logs
if os.geteuid() == 0:
    os.setgid(65534)
    os.setuid(65534)
sys.argv = ["psa-sync", *sys.argv[1:]]
sync.cli.main()
"""


def test_a_config_the_user_cannot_read_exits_2_naming_it_and_permission_denied():
    with (
        tempfile.TemporaryDirectory() as made
    ):  # in /tmp, which anyone may walk: pytest's own is root's only
        folder = Path(made)
        folder.chmod(0o711)  # nobody may walk to the file, only not read it
        config = folder / "psa-sync.yaml"
        config.write_text("salesforce: {}\n")
        config.chmod(0o000)
        result = run_as_nobody(config)
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.strip()
        == f"psa-sync: {config}:1: (file): cannot read the config: Permission denied"
    )


def run_as_nobody(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", AS_NOBODY, "--config", str(config), "status"],
        capture_output=True,
        text=True,
        cwd="/",
        stdin=subprocess.DEVNULL,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
