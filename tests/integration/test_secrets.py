"""Issue 6 item 8: secrets are in no output, log line, exception, `status --json`, state file byte.

Every command runs at DEBUG level in text and JSON log formats, through faults that make errors
(and their messages) happen, with the real secrets of the emulator's connected app, Redmine's API
key and every access token the org issued; then again with recognisable wrong secrets, so the
refusal paths (which are the likeliest to quote what they were given) are covered too.
"""

from __future__ import annotations

import json
import random
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, quote_plus

import pytest

from tests.fixtures.exactly_once_support import Book
from tests.fixtures.sync import CLI, DEFAULT_MAPPING, ROOT

pytestmark = pytest.mark.integration

# A quote, a backslash and a non-ASCII letter: JSON (logs, `status --json`) escapes each of them, so
# a redaction that only knows the raw value would let the escaped form through.
CANARY_SF = 'CANARY-sf-"client\\secret-é-7f3a9c2e'
CANARY_REDMINE = 'CANARY-redmine-"api\\key-é-41d0be77'
# Issue 20: ", \, ', control characters and text outside Latin-1; its ASCII runs (Kx7Qm2, cretRk8v,
# megaJd5n, Wp4Hx9) survive every encoder, so finding none of them means no piece of it got out.
CANARY_WIDE = "Kx7Qm2-\"q'\\ \t\x01-s\u00e9cretRk8v-\u03a9megaJd5n-Wp4Hx9"


def state_bytes(harness) -> bytes:
    folder = harness.state.parent
    return b"".join(path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file())


def forms(secret: str) -> set[str]:
    """What the encoders a log line, a JSON document or an echoing server runs make of ``secret``,
    made here by running them (never by asking register_secret)."""
    one = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
        " ".join(secret.split()),
    }
    return one | {json.dumps(f)[1:-1] for f in one} | {repr(f)[1:-1] for f in one}


def leaks(text: str | bytes, secrets: list[str]) -> list[str]:
    """Secrets found in any of their forms, or (for the wide canary) by any of their ASCII runs."""
    data = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    found = [s[:6] + "…" for s in secrets if any(form in data for form in forms(s))]
    runs = [run for s in secrets if s == CANARY_WIDE for run in re.findall(r"[A-Za-z0-9]{6,}", s)]
    return found + [run for run in runs if run in data]


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
    emulator.faults.fail_next(
        8, 503, endpoint="queryAll"
    )  # errors whose messages reach logs and the state
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
    assert (
        "exit 0" in everything and "exit 3" in everything
    )  # the commands really ran, errors included
    assert leaks(everything, secrets) == []
    assert leaks(state_bytes(harness), secrets) == []
    assert harness.state.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "variable,canary,code",
    [
        ("SF_CLIENT_SECRET", CANARY_SF, 5),
        ("REDMINE_API_KEY", CANARY_REDMINE, 2),  # é: not ASCII
        ("SF_CLIENT_SECRET", CANARY_WIDE, 5),
        ("REDMINE_API_KEY", CANARY_WIDE, 2),
    ],
)
def test_a_refused_secret_is_never_quoted(harness, emulator, redmine, variable, canary, code):
    Book(emulator, random.Random(9)).seed(won=2)
    harness.write_config()
    harness.extra_env[variable] = canary
    outputs = []
    for fmt in ("text", "json"):
        done = harness.cli("--log-level", "DEBUG", "--log-format", fmt, "run")
        assert done.returncode == code, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        outputs.append(done.stdout + done.stderr)
        status = harness.cli("status", "--json")
        outputs.append(status.stdout + status.stderr)
    check = harness.cli("check", "--json")
    outputs.append(check.stdout + check.stderr)

    assert leaks("\n".join(outputs), [canary, canary[7:]]) == []
    assert leaks(state_bytes(harness), [canary, canary[7:]]) == []


class _EchoingTryton(BaseHTTPRequestHandler):
    """A JSON-RPC server that echoes what it was sent, as a broken proxy or debug page does: the
    login request answered by an HTML page quoting it raw, as JSON, JSON twice, ``repr`` and
    URL-quoted (``echo_login``), or the login granted and every later call answered with such a page
    quoting the password it was given."""

    def do_POST(self) -> None:  # noqa: N802 - the standard library's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        request = json.loads(body)
        server = self.server
        if request["method"] == "common.db.login":
            server.password = request["params"][1]["password"]  # type: ignore[attr-defined]
            if not server.echo_login:  # type: ignore[attr-defined]
                return self._send(
                    json.dumps({"id": request["id"], "result": [1, "tok", None]}).encode()
                )
        password = server.password  # type: ignore[attr-defined]
        echoed = body if request["method"] == "common.db.login" else password
        page = (
            f"<html>debug: {echoed} | {json.dumps(echoed)} | {json.dumps(json.dumps(echoed))} | "
            f"{echoed!r} | {quote(echoed)}</html>"
        )
        self._send(page.encode())

    def _send(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize(
    "echo_login", [True, False], ids=["the-login-answer-echoes", "later-answers-echo"]
)
def test_a_secret_echoed_by_tryton_reaches_no_output(emulator, tmp_path, echo_login):
    import subprocess

    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingTryton)
    server.echo_login, server.password = echo_login, ""  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Book(emulator, random.Random(10)).seed(won=2)
    config = tmp_path / "psa-sync.yaml"
    config.write_text(f"""
salesforce:
  login_url: {emulator.url}
  auth:
    flow: client_credentials
    client_id: "${{SF_CLIENT_ID}}"
    client_secret: "${{SF_CLIENT_SECRET}}"
  ca_bundle: {emulator.ca_file}
psa:
  connector: tryton
  url: http://127.0.0.1:{server.server_address[1]}/psa
  api_key: ${{TRYTON_PASSWORD}}
mapping: {DEFAULT_MAPPING}
state: state/psa-sync.sqlite
metrics: {{textfile: {tmp_path / "psa-sync.prom"}}}
http: {{timeout: 10s, retries: 0}}
""")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "SF_CLIENT_ID": emulator.client_id,
        "SF_CLIENT_SECRET": emulator.client_secret,
        "TRYTON_PASSWORD": CANARY_WIDE,
    }

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*CLI, "--config", str(config), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )

    outputs = []
    try:
        for fmt in ("text", "json"):
            done = cli("--log-level", "DEBUG", "--log-format", fmt, "run")
            assert done.returncode == 3, (
                done.stdout + done.stderr
            )  # Tryton answered what is not JSON-RPC
            assert "not JSON-RPC" in done.stderr and "Traceback" not in done.stderr
            outputs.append(done.stdout + done.stderr)
        status = cli("status", "--json")
        assert json.loads(status.stdout)["runs"][0]["error"]
        outputs += [status.stdout + status.stderr, cli("status").stdout]
    finally:
        server.shutdown()
        server.server_close()
    assert server.password == CANARY_WIDE  # the server really had it to echo
    assert leaks("\n".join(outputs), [CANARY_WIDE]) == []
    state = b"".join(p.read_bytes() for p in sorted((tmp_path / "state").iterdir()) if p.is_file())
    assert leaks(state, [CANARY_WIDE]) == []
    assert leaks((tmp_path / "psa-sync.prom").read_text(), [CANARY_WIDE]) == []
