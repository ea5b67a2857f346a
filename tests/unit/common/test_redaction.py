"""Issue 20: a secret is masked in every form it takes on the way, whatever the echo wrapped it in.

The forms are made here by running the encoders a server or our own code runs (json.dumps, twice;
repr; urllib quoting; whitespace collapsed; UTF-8 read as Latin-1), never by asking
``register_secret`` which forms it knows. And a canary's ASCII runs (``Zq7Kt3``, ``cretRk8v``,
``megaJd5n``, ``Wp4Hx9``) survive every one of those encoders, so their absence shows that no piece
of it got through, in a form listed here or not.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import quote, quote_plus, urlencode

import pytest

from sync.common import redaction
from sync.common.logs import RedactingFormatter
from sync.connectors.answers import excerpt
from sync.state import State

# " ' \ tab, a control character, é, Ω
CANARY = "Zq7Kt3-\"q'\\ \t\x01-s\u00e9cretRk8v-\u03a9megaJd5n-Wp4Hx9"


def markers(secret: str) -> list[str]:
    """The runs of ASCII letters and digits, four or more long: no encoder rewrites them."""
    return re.findall(r"[A-Za-z0-9]{4,}", secret)


def leaked(text: str, secret: str = CANARY) -> list[str]:
    return [m for m in markers(secret) if m in text]


@pytest.fixture(autouse=True)
def known():
    redaction.forget_secrets()
    redaction.register_secret(CANARY)
    yield
    redaction.forget_secrets()


def login_body(secret: str) -> str:
    """What Tryton's client sends to log in, as psa-sync sends it."""
    return json.dumps(
        {"id": 1, "method": "common.db.login", "params": ["admin", {"password": secret}, "en"]}
    )


ECHOES = {
    "raw": lambda s: s,
    "json": lambda s: json.dumps(s),
    "json, non-ASCII kept": lambda s: json.dumps(s, ensure_ascii=False),
    "the login request echoed": login_body,
    "the login request inside a JSON error (doubled backslashes)": lambda s: json.dumps(
        {"error": login_body(s)}
    ),
    "json.dumps(json.dumps(...))": lambda s: json.dumps(json.dumps(s)),
    "repr": repr,
    "repr of the login request": lambda s: repr(login_body(s)),
    "repr of a text with both quotes": lambda s: repr("it's \"" + s),
    "ascii()": ascii,
    "repr of the UTF-8 bytes": lambda s: repr(s.encode()),
    "a form body echoed": lambda s: urlencode({"client_secret": s}),
    "quote": lambda s: quote(s, safe=""),
    "quote_plus inside JSON": lambda s: json.dumps({"echo": quote_plus(s)}),
    "whitespace collapsed": lambda s: " ".join(s.split()),
    "UTF-8 read as Latin-1": lambda s: s.encode().decode("latin-1"),
    "json of the Latin-1 reading": lambda s: json.dumps(s.encode().decode("latin-1")),
}


def test_the_canary_would_show_in_every_echo_were_it_not_masked():
    for name, echo in ECHOES.items():
        assert leaked(echo(CANARY)) == markers(CANARY), name


@pytest.mark.parametrize("name", list(ECHOES))
def test_every_echo_of_the_secret_is_masked(name):
    text = f"the server said <{ECHOES[name](CANARY)}> and stopped"
    masked = redaction.redact(text)
    assert "***" in masked
    assert leaked(masked) == []


@pytest.mark.parametrize("name", list(ECHOES))
def test_an_excerpt_masks_the_raw_body_before_it_collapses_cuts_and_quotes_it(name):
    body = ("x" * 150 + " " + ECHOES[name](CANARY) + " " + "y" * 300).encode()
    assert leaked(excerpt(body)) == []


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_a_log_line_quoting_an_echo_is_masked_in_both_formats(as_json):
    for name, echo in ECHOES.items():
        record = logging.LogRecord(
            "sync.test", logging.ERROR, __file__, 1, "answer: %s", (echo(CANARY),), None
        )
        assert leaked(RedactingFormatter(as_json).format(record)) == [], name


def test_state_rows_are_masked_before_they_are_written(tmp_path):
    state = State.open(tmp_path / "s.sqlite")
    run_id = state.start_run("run")
    state.quarantine("006A", "load", "refused: " + repr(CANARY), {"Id": "006A"}, run_id)
    state.event(
        run_id, "006A", "create", "failed", {"error": json.dumps(json.dumps(CANARY)), "n": 1}
    )
    state.finish_run(
        run_id,
        status="failed",
        exit_code=3,
        counts={},
        api_calls={},
        org_usage=None,
        error=quote(CANARY),
    )
    state.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file()).decode("latin-1")
    assert leaked(data) == []
    assert (tmp_path / "s.sqlite").exists()


def test_a_value_is_masked_inside_and_stays_the_same_shape():
    value = {"error": "x " + CANARY, "list": [CANARY, 3, None], "n": 1.5}
    assert redaction.redact_value(value) == {"error": "x ***", "list": ["***", 3, None], "n": 1.5}


def test_the_connectors_mask_what_a_server_says_where_they_read_it():
    """Beside the sinks (logs, printed lines, state rows), each place that lifts a server's words
    into an error masks them: Salesforce's error message, Redmine's 422 errors, Tryton's refusal."""
    import requests
    from simple_salesforce.exceptions import SalesforceError

    from sync.connectors.psa.redmine.http import error_text
    from sync.connectors.psa.tryton.rpc import _error
    from sync.connectors.salesforce.errors import first_error

    said = f"bad value {json.dumps(CANARY)} for {repr(CANARY)}"
    refusal = SalesforceError(
        "https://x/services/data", 400, "Opportunity", [{"errorCode": "X", "message": said}]
    )
    response = requests.Response()
    response.status_code, response._content = 422, json.dumps({"errors": [said]}).encode()
    texts = [
        first_error(refusal)[1],
        error_text(response),
        _error(["UserError", [said]]).message,
        _error([said, "traceback"]).kind,
    ]
    assert all("***" in text for text in texts)
    assert leaked("\n".join(texts)) == []


@pytest.mark.slow  # 1,000 registrations, each recompiling the pattern: minutes on 2 busy cores
def test_a_daemon_s_many_sessions_keep_the_pattern_bounded_and_the_current_tokens_masked():
    redaction.register_secret("sf-token-current-0001", session_of="salesforce")
    for n in range(1000):
        redaction.register_secret(f"tryton-session-{n:06d}", session_of="tryton")
    # the canary, one Salesforce token, Tryton's last
    assert len(redaction._forms) == 1 + 1 + redaction.SESSIONS_KEPT
    assert (
        redaction.redact("sf-token-current-0001 tryton-session-000999 " + CANARY) == "*** *** ***"
    )
    assert redaction.redact("tryton-session-000001") == "tryton-session-000001"  # long expired
