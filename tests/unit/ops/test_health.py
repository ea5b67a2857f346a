"""`psa-sync status --check`: each documented code, produced by the condition it names.

Each in a real state file; and `status --json` against its JSON Schema (docs/status.schema.json).
"""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from sync.cli import main
from sync.common.clock import iso, utcnow
from sync.state import State

SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "status.schema.json"
MAPPING = Path(__file__).resolve().parents[3] / "mappings" / "opportunity_to_project.yaml"
ENV = {
    "SF_CLIENT_ID": "cid",
    "SF_CLIENT_SECRET": "s3cret-value",
    "REDMINE_URL": "http://127.0.0.1:3000",
    "REDMINE_API_KEY": "k3y-value",
}


@pytest.fixture(autouse=True)
def logging_as_it_was():
    """The CLI sets up logging for the process (levels of urllib3 …).

    Give other tests theirs back.
    """
    import logging

    names = ("", "urllib3", "simple_salesforce", "sync")
    levels = {name: logging.getLogger(name).level for name in names}
    handlers = list(logging.getLogger().handlers)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().handlers[:] = handlers


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "psa-sync.yaml"
    path.write_text(
        textwrap.dedent("""
        salesforce:
          login_url: https://login.salesforce.com
          auth:
            flow: client_credentials
            client_id: "${SF_CLIENT_ID}"
            client_secret: "${SF_CLIENT_SECRET}"
        psa: {connector: redmine, url: "${REDMINE_URL}", api_key: "${REDMINE_API_KEY}"}
        state: state.sqlite
        limits: {max_org_api_percent: 80}
    """)
        + f"mapping: {MAPPING}\n"
    )
    return path


def ago(**delta) -> str:
    return iso(utcnow() - timedelta(**delta))


def add_run(
    state: State,
    *,
    status: str = "ok",
    exit_code: int = 0,
    finished: str | None = None,
    usage: dict | None = None,
) -> None:
    run_id = state.start_run("run")
    state.finish_run(
        run_id,
        status=status,
        exit_code=exit_code,
        counts={},
        api_calls={"queryAll": 1},
        org_usage=usage or {"used": 10, "max": 100},
        error=None,
    )
    if finished:
        state.db.execute(
            "UPDATE runs SET started_at = ?, finished_at = ? WHERE id = ?",
            [finished, finished, run_id],
        )
        state.db.conn.commit()


def check(config, *args):
    result = CliRunner().invoke(
        main, ["--config", str(config), "status", "--check", *args], env=ENV
    )
    return result.exit_code, result.output.strip()


def test_healthy_is_exit_0_with_one_line(config):
    state = State.open(config.parent / "state.sqlite")
    add_run(state)
    state.close()
    code, out = check(config)
    assert code == 0 and out.startswith("OK: last successful run") and len(out.splitlines()) == 1


@pytest.mark.parametrize(
    "condition,code,words",
    [
        ("nothing", 10, "no run has succeeded yet"),
        ("stale", 10, "more than --max-age 15m"),
        ("died", 11, "1 run(s) died within 15m"),
        ("quarantine", 12, "1 deal(s) quarantined for over a day"),
        ("outbox", 13, "wait in the outbox"),
        ("usage", 14, "the org has used 90% of its daily API requests"),
    ],
)
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
    assert code == 10 and [line[:13] for line in out.splitlines()] == [
        "CRITICAL (10)",
        "CRITICAL (12)",
        "CRITICAL (14)",
    ]
    assert check(config, "--max-age", "3h", "--max-quarantine", "1")[0] == 14


def test_a_wrong_max_age_is_a_usage_error(config):
    assert check(config, "--max-age", "soon")[0] == 2


def status_json(config):
    result = CliRunner().invoke(main, ["--config", str(config), "status", "--json"], env=ENV)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_status_json_follows_its_schema_before_and_after_runs(config):
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    validator.validate(status_json(config))  # no state yet
    state = State.open(config.parent / "state.sqlite")
    state.set_meta("org_id", "00D000000000001AAA")
    add_run(state)
    add_run(state, status="failures", exit_code=1)
    state.start_run("run")
    state.mark_abandoned()
    state.quarantine("006000000000001AAA", "transform", "no billing type", {"Id": "x"}, 1)
    state.queue("006000000000002AAA", {"PSA_Project_Id__c": "7"})
    state.set_meta(
        "backfill",
        json.dumps(
            {
                "since": "2025-01-01",
                "until": "2025-12-31",
                "total": 3,
                "done": 1,
                "after_id": "006000000000001AAA",
                "reader": "rest",
                "counts": {},
                "started_at": ago(hours=1),
                "advanced_at": ago(minutes=1),
                "finished_at": None,
                "longest_hold_s": 0.4,
            }
        ),
    )
    state.close()
    data = status_json(config)
    validator.validate(data)
    assert [r["status"] for r in data["runs"]] == ["died", "failures", "ok"]
    broken = dict(data, counts={**data["counts"], "links": "many"})
    assert not validator.is_valid(broken)  # the schema really checks


@pytest.mark.parametrize(("last_message", "code"), [(dict(minutes=2), 0), (dict(minutes=30), 15)])
def test_with_events_a_healthy_stream_lets_the_poll_slow_and_a_silent_one_is_15(
    config, last_message, code
):
    """The safety poll runs hourly while the stream speaks.

    A stream silent past stale_after with the poll stale too is exit 15 (the wedged-consumer case:
    nothing reads Salesforce).
    """
    from sync.state.events import save_stream_status

    config.write_text(
        config.read_text() + "events: {enabled: true, safety_poll: 1h, stale_after: 10m}\n"
    )
    state = State.open(config.parent / "state.sqlite")
    add_run(
        state, finished=ago(minutes=40)
    )  # older than --max-age 15m, younger than safety_poll + 15m
    save_stream_status(state, {"last_message": ago(**last_message), "fallbacks": {}})
    state.close()
    got, out = check(config)
    assert got == code, out
    if code:
        assert "the event stream has been silent" in out


def test_without_events_the_same_state_is_stale(config):
    state = State.open(config.parent / "state.sqlite")
    add_run(state, finished=ago(minutes=40))
    state.close()
    assert check(config)[0] == 10
