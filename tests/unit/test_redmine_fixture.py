"""The Redmine fixture never lets a CI run pass having tested nothing: no Redmine fails it under CI,
and only skips elsewhere."""

from __future__ import annotations

import subprocess

import pytest

from tests.fixtures import redmine as fixture

NOT_RUNNING = "[redmine.sh] Redmine is not running (start it: scripts/redmine.sh start)"


@pytest.mark.parametrize("ci", ["1", "true", "TRUE", "yes", "github-actions"])
def test_under_ci_a_missing_redmine_fails_the_run_with_the_reason(ci):
    with pytest.raises(pytest.fail.Exception, match="no Redmine to test against: not running"):
        fixture.missing_redmine("not running", {"CI": ci})


@pytest.mark.parametrize("environ", [{}, {"CI": ""}, {"CI": "0"}, {"CI": "false"}, {"CI": "False"}])
def test_outside_ci_a_missing_redmine_skips_with_the_reason(environ):
    with pytest.raises(pytest.skip.Exception, match="not running"):
        fixture.missing_redmine("not running", environ)


def _script_returning(code: int, stdout: str = "", stderr: str = ""):
    calls = []

    def script(command: str) -> subprocess.CompletedProcess:
        calls.append(command)
        return subprocess.CompletedProcess(["redmine.sh", command], code, stdout, stderr)

    return script, calls


def test_not_root_and_nothing_running_fails_under_ci_where_it_used_to_skip(monkeypatch):
    script, calls = _script_returning(1, stderr=NOT_RUNNING)
    monkeypatch.setattr(fixture, "redmine_script", script)
    monkeypatch.setattr(fixture.os, "geteuid", lambda: 1000)

    with pytest.raises(pytest.fail.Exception, match="needs root") as failed:
        fixture.ensure_redmine({"CI": "true"})
    assert NOT_RUNNING in str(failed.value)  # the script's own words, to act on
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        fixture.ensure_redmine({})
    assert calls == ["env", "env"]  # never tried to start without root


@pytest.mark.parametrize("environ", [{"CI": "true"}, {}])
def test_a_start_that_fails_fails_with_the_tail_of_its_output(monkeypatch, environ):
    outputs = {
        "env": (1, NOT_RUNNING),
        "start": (2, "x" * 5000 + "\n[redmine.sh] apt-get: no network"),
    }
    monkeypatch.setattr(
        fixture,
        "redmine_script",
        lambda command: subprocess.CompletedProcess(
            ["redmine.sh", command], outputs[command][0], "", outputs[command][1]
        ),
    )
    monkeypatch.setattr(fixture.os, "geteuid", lambda: 0)

    with pytest.raises(pytest.fail.Exception, match=r"start failed \(exit 2\)") as failed:
        fixture.ensure_redmine(environ)
    assert str(failed.value).endswith("apt-get: no network") and len(str(failed.value)) < 3100


def test_a_running_redmine_is_used_as_it_is(monkeypatch):
    env = "REDMINE_URL=http://127.0.0.1:3999\nREDMINE_API_KEY=k\nREDMINE_CF_BUDGET=4\nREDMINE_ACTIVITY_IDS=9:Dev\n"
    script, calls = _script_returning(0, stdout=env)
    monkeypatch.setattr(fixture, "redmine_script", script)

    found = fixture.ensure_redmine({"CI": "true"})

    assert (found.url, found.custom_fields, found.activity_ids) == (
        "http://127.0.0.1:3999",
        {"budget": 4},
        (9,),
    )
    assert calls == ["env"]
