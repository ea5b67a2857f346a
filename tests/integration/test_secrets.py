"""Issue 6 item 8: secrets appear in no output, log line, exception text, `status --json` nor state file byte.

Every command runs at DEBUG level in text and JSON log formats, through faults that make errors
(and their messages) happen, with the real secrets of the emulator's connected app, Redmine's API
key and every access token the org issued; then again with recognisable wrong secrets, so the
refusal paths (which are the likeliest to quote what they were given) are covered too.
"""

from __future__ import annotations

import json
import random

import pytest

from tests.fixtures.exactly_once_support import Book

pytestmark = pytest.mark.integration

# A quote, a backslash and a non-ASCII letter: JSON (logs, `status --json`) escapes each of them, so a
# redaction that only knows the raw value would let the escaped form through.
CANARY_SF = 'CANARY-sf-"client\\secret-é-7f3a9c2e'
CANARY_REDMINE = 'CANARY-redmine-"api\\key-é-41d0be77'


def state_bytes(harness) -> bytes:
    folder = harness.state.parent
    return b"".join(path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file())


def leaks(text: str | bytes, secrets: list[str]) -> list[str]:
    """Secrets found as written or as JSON escapes them (with and without ensure_ascii)."""
    data = text.encode() if isinstance(text, str) else text
    forms = {s: {s, json.dumps(s)[1:-1], json.dumps(s, ensure_ascii=False)[1:-1]} for s in secrets}
    return [s[:6] + "…" for s, found in forms.items() if any(form.encode() in data for form in found)]


def test_no_secret_in_any_output_log_error_status_or_state_byte(harness, emulator, redmine):
    book = Book(emulator, random.Random(8))
    book.seed(won=6, other=2)
    harness.write_config()
    deal = book.deals[0]
    outputs: list[str] = []

    def cli(*args: str, formats: tuple[str, ...] = ("json",)) -> None:
        for fmt in formats:
            done = harness.cli("--log-level", "DEBUG", "--log-format", fmt, *args)
            outputs.append(f"$ {args} exit {done.returncode}\n{done.stdout}\n{done.stderr}")

    cli("check", formats=("text", "json"))
    cli("plan", "--json")
    cli("run", formats=("text", "json"))
    emulator.faults.fail_next(8, 503, endpoint="queryAll")  # errors whose messages reach logs and the state
    cli("run", formats=("text", "json"))
    emulator.faults.clear()
    emulator.expire_sessions()  # a re-authentication mid-run
    emulator.update("Opportunity", deal, Amount=31337)
    cli("run")
    emulator.faults.validation_failure([deal])
    emulator.update("Opportunity", deal, PSA_Project_Id__c=None)
    cli("run")
    cli("status", "--json")
    cli("status", formats=("text",))
    cli("explain", deal, "--json")
    cli("retry")
    cli("reconcile", "--json")

    secrets = [emulator.client_secret, redmine.env.api_key, *emulator.sessions._tokens]
    assert len(secrets) >= 3
    everything = "\n".join(outputs)
    assert "exit 0" in everything and "exit 3" in everything  # the commands really ran, errors included
    assert leaks(everything, secrets) == []
    assert leaks(state_bytes(harness), secrets) == []
    assert harness.state.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("variable,canary", [("SF_CLIENT_SECRET", CANARY_SF), ("REDMINE_API_KEY", CANARY_REDMINE)])
def test_a_refused_secret_is_never_quoted(harness, emulator, redmine, variable, canary):
    Book(emulator, random.Random(9)).seed(won=2)
    harness.write_config()
    harness.extra_env[variable] = canary
    outputs = []
    for fmt in ("text", "json"):
        done = harness.cli("--log-level", "DEBUG", "--log-format", fmt, "run")
        assert done.returncode == 5, done.stdout + done.stderr
        outputs.append(done.stdout + done.stderr)
        status = harness.cli("status", "--json")
        outputs.append(status.stdout + status.stderr)
    check = harness.cli("check", "--json")
    outputs.append(check.stdout + check.stderr)

    assert leaks("\n".join(outputs), [canary, canary[7:]]) == []
    assert leaks(state_bytes(harness), [canary, canary[7:]]) == []
