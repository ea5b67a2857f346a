"""`psa-sync init` as a first-day user runs it (issue 12): a config and mapping that
`check --offline` accepts once the variables are set, the next steps printed, and never a file
overwritten."""

import re
from datetime import date

import pytest

from tests.fixtures.sync import ROOT, psa_sync

pytestmark = [pytest.mark.e2e, pytest.mark.subprocess]  # kills, signals or a real process


def test_init_writes_a_config_and_mapping_that_check_accepts_and_refuses_to_overwrite_them(
    tmp_path,
):
    target = tmp_path / "psa"
    done = psa_sync("init", str(target), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config, mapping = target / "psa-sync.yaml", target / "mappings" / "opportunity_to_project.yaml"
    for step in (
        "reads: SF_USERNAME, SF_CLIENT_ID, SF_PRIVATE_KEY_FILE, REDMINE_URL, REDMINE_API_KEY\n",
        f"psa-sync check --config {config}",
        "psa-sync adopt",
        "backfill --since",
        "--dry-run",
        "schedule",
    ):
        assert step in done.stdout, done.stdout
    text = config.read_text()
    assert (
        "flow: jwt" in text
        and "${REDMINE_API_KEY}" in text
        and "identifier_prefix" in text
        and "#" in text
    )
    assert re.search(rf"^\s*start_date: {date.today().isoformat()}", mapping.read_text(), re.M)
    assert (
        mapping.read_text().split("start_date")[1].split("\n", 1)[1]
        == (ROOT / "mappings" / "opportunity_to_project.yaml")
        .read_text()
        .split("start_date")[1]
        .split("\n", 1)[1]
    )

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
    checked = psa_sync("check", "--offline", "--config", str(config), env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "check ok (offline" in checked.stdout

    templates = sorted(p.name for p in (target / "mappings" / "templates").iterdir())
    assert templates == ["implementation.yaml", "standard.yaml"]
    assert "# structure:" in mapping.read_text()

    before = config.read_text(), mapping.read_text()
    again = psa_sync("init", str(target), cwd=tmp_path)
    assert (
        again.returncode == 2 and "already exists" in again.stderr and str(config) in again.stderr
    )
    assert (config.read_text(), mapping.read_text()) == before
