"""`psa-sync status --check`: each documented code, produced by the condition it names, in a real state file."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest
from click.testing import CliRunner

from sync.cli import main
from sync.clock import iso, utcnow
from sync.state import State

ENV = {"SF_CLIENT_ID": "cid", "SF_CLIENT_SECRET": "s3cret-value", "REDMINE_URL": "http://127.0.0.1:3000",
       "REDMINE_API_KEY": "k3y-value"}


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "psa-sync.yaml"
    path.write_text(textwrap.dedent("""
        salesforce:
          login_url: https://login.salesforce.com
          auth: {flow: client_credentials, client_id: "${SF_CLIENT_ID}", client_secret: "${SF_CLIENT_SECRET}"}
        psa: {connector: redmine, url: "${REDMINE_URL}", api_key: "${REDMINE_API_KEY}"}
        state: state.sqlite
        limits: {max_org_api_percent: 80}
    """))
    return path


def ago(**delta) -> str:
    return iso(utcnow() - timedelta(**delta))


def add_run(state: State, *, status: str = "ok", exit_code: int = 0, finished: str | None = None,
            usage: dict | None = None) -> None:
    run_id = state.start_run("run")
    state.finish_run(run_id, status=status, exit_code=exit_code, counts={}, api_calls={"queryAll": 1},
                     org_usage=usage or {"used": 10, "max": 100}, error=None)
    if finished:
        state.db.execute("UPDATE runs SET started_at = ?, finished_at = ? WHERE id = ?", [finished, finished, run_id])
        state.db.conn.commit()


def check(config, *args):
    result = CliRunner().invoke(main, ["--config", str(config), "status", "--check", *args], env=ENV)
    return result.exit_code, result.output.strip()


def test_healthy_is_exit_0_with_one_line(config):
    state = State.open(config.parent / "state.sqlite")
    add_run(state)
    state.close()
    code, out = check(config)
    assert code == 0 and out.startswith("OK: last successful run") and len(out.splitlines()) == 1


@pytest.mark.parametrize("condition,code,words", [
    ("nothing", 10, "no run has succeeded yet"),
    ("stale", 10, "more than --max-age 15m"),
    ("died", 11, "1 run(s) died within 15m"),
    ("quarantine", 12, "1 deal(s) quarantined for over a day"),
    ("outbox", 13, "wait in the outbox"),
    ("usage", 14, "the org has used 90% of its daily API requests"),
])
def test_each_condition_has_its_own_code_and_line(config, condition, code, words):
    state = State.open(config.parent / "state.sqlite") if condition != "nothing" else None
    if condition == "stale":
        add_run(state, finished=ago(hours=1))
    elif condition != "nothing":
        add_run(state, usage={"used": 90, "max": 100} if condition == "usage" else None)
    if condition == "died":
        state.start_run("run")
        state.mark_abandoned()
    elif condition == "quarantine":
        state.quarantine("006000000000001AAA", "transform", "no billing type", {}, 1)
        state.db.execute("UPDATE quarantine SET first_seen = ?", [ago(days=2)])
    elif condition == "outbox":
        state.queue("006000000000001AAA", {"PSA_Project_Id__c": "7"})
        state.db.execute("UPDATE outbox SET updated_at = ?", [ago(hours=1)])
    if state is not None:
        state.db.conn.commit()
        state.close()
    got, out = check(config)
    assert got == code and out.startswith(f"CRITICAL ({code}): ") and words in out, out


def test_several_problems_exit_with_the_first_and_list_each(config):
    state = State.open(config.parent / "state.sqlite")
    add_run(state, finished=ago(hours=2), usage={"used": 95, "max": 100})
    state.quarantine("006000000000001AAA", "transform", "bad", {}, 1)
    state.db.execute("UPDATE quarantine SET first_seen = ?", [ago(days=3)])
    state.db.conn.commit()
    state.close()
    code, out = check(config, "--max-age", "1h")
    assert code == 10 and [line[:13] for line in out.splitlines()] == ["CRITICAL (10)", "CRITICAL (12)",
                                                                       "CRITICAL (14)"]
    assert check(config, "--max-age", "3h", "--max-quarantine", "1")[0] == 14


def test_a_wrong_max_age_is_a_usage_error(config):
    assert check(config, "--max-age", "soon")[0] == 2
