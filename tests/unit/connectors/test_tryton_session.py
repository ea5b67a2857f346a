"""Issue 20: Tryton's session under threads, a login asking for more, a login answer never quoted.

The double replays the shapes trytond 8.2 answers with (trytond/protocols/dispatcher.py and
jsonrpc.py): ``common.db.login`` → ``{"id", "result": [uid, token, bus_url]}``; a call whose
session is gone → HTTP 401 (``auth_required``); a ``LoginException`` (a second factor asked for) →
HTTP 200 ``{"id", "error": ["LoginException", [name, message, type]]}``.
"""

from __future__ import annotations

import base64
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from sync.common.errors import AuthError
from sync.connectors.psa.tryton.rpc import TrytonRpc

URL = "http://tryton.test/psa"
THREADS = 8


def answer(status: int, body: object) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return response


class TrytonDouble(requests.Session):
    """Sessions are tokens; ``expire()`` ends them all. The first ``hold`` calls made with a session
    wait for each other, so every worker thread meets the same expired session at once."""

    def __init__(self, hold: int = 0):
        super().__init__()
        self.logins = 0
        self.valid: set[str] = set()
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(hold) if hold else None
        self.login_answer: object | None = None

    def expire(self) -> None:
        with self.lock:
            self.valid.clear()

    def post(self, url, data=None, headers=None, **kwargs):  # noqa: ARG002 - requests' signature
        body = json.loads(data)
        if body["method"] == "common.db.login":
            if self.login_answer is not None:
                return answer(200, self.login_answer)
            with self.lock:
                self.logins += 1
                token = f"session-{self.logins:04d}-5e1c0"  # Tryton's are 64 hex digits
                self.valid.add(base64.b64encode(f"admin:1:{token}".encode()).decode())
            return answer(200, {"id": body["id"], "result": [1, token, None]})
        session = (headers or {}).get("Authorization", "").removeprefix("Session ")
        if self.barrier is not None and session not in self.valid:
            try:
                self.barrier.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass
        if session not in self.valid:
            return answer(401, b"Unauthorized")
        if body["method"].endswith("get_preferences"):
            return answer(200, {"id": body["id"], "result": {"company": 1, "language": "en"}})
        return answer(200, {"id": body["id"], "result": [body["id"]]})


def test_one_expired_session_is_one_new_login_for_all_worker_threads():
    double = TrytonDouble(hold=THREADS)
    rpc = TrytonRpc(URL, "admin", "pw", double)
    rpc.context()
    assert double.logins == 1
    double.expire()
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda _: rpc.model("project.work", "search", []), range(THREADS)))
    assert all(isinstance(r, list) for r in results)
    assert double.logins == 2  # was 1 + THREADS: each thread logged in again


def test_a_session_refused_right_after_a_login_is_still_an_auth_error():
    class Refusing(TrytonDouble):
        def post(self, url, data=None, headers=None, **kwargs):
            if json.loads(data)["method"] == "common.db.login":
                return super().post(url, data, headers, **kwargs)
            return answer(401, b"Unauthorized")

    double = Refusing()
    with pytest.raises(AuthError, match="refused the session just opened"):
        TrytonRpc(URL, "admin", "pw", double).call("model.project.work.search", [], {})
    assert double.logins == 2


def test_a_login_exception_asking_for_a_second_factor_is_an_authentication_error():
    double = TrytonDouble()
    double.login_answer = {"id": 1, "error": ["LoginException", ["sms_code", "SMS Code: ", "char"]]}
    with pytest.raises(AuthError, match="more than a password") as raised:
        TrytonRpc(URL, "admin", "pw", double).context()
    assert raised.value.exit_code == 5


@pytest.mark.parametrize(
    "body",
    [
        b"<html>login failed for admin with password Pw-Echo-7Qz9</html>",
        {"id": 1, "note": "password Pw-Echo-7Qz9"},
        {"id": 1, "error": ["login failed, password Pw-Echo-7Qz9", "Traceback ..."]},
    ],
)
def test_the_body_of_a_login_answer_is_never_quoted(body):
    double = TrytonDouble()
    double.login_answer = body
    with pytest.raises(Exception) as raised:  # noqa: PT011 - whichever error, its text is what matters
        TrytonRpc(URL, "admin", "Pw-Echo-7Qz9", double).context()
    assert "Qz9" not in str(raised.value) and "Echo" not in str(raised.value)


def test_the_session_a_login_opens_is_masked_like_a_password():
    from sync.common import redaction

    double = TrytonDouble()
    rpc = TrytonRpc(URL, "admin", "pw", double)
    rpc.context()
    token = (rpc._auth or "").removeprefix("Session ")
    assert (
        redaction.redact(f"echo: {token} and {base64.b64decode(token).decode()}")
        == "echo: *** and admin:1:***"
    )
