"""How many Tryton logins one expired session costs under the connector's worker threads.

Against the local Tryton (scripts/tryton.sh start): log in, end that session as an expiry does
(``common.db.logout`` with it), then send ``--calls`` reads from ``--threads`` threads and count the
``common.db.login`` requests that follow. Prints figures, asserts nothing (the test that pins the
behaviour is tests/unit/connectors/test_tryton_session.py).

    .venv/bin/python scripts/bench/bench_tryton_relogin.py [--threads 8] [--calls 808]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sync.connectors.psa.tryton.rpc import TrytonRpc  # noqa: E402
from tests.fixtures.tryton import parse_env  # noqa: E402


class CountingSession(requests.Session):
    """A session that counts the login requests and the other calls it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self.logins = 0
        self.calls = 0
        self._lock = threading.Lock()

    def post(self, url, data=None, **kwargs):
        with self._lock:
            if '"common.db.login"' in (data or ""):
                self.logins += 1
            else:
                self.calls += 1
        return super().post(url, data=data, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls", type=int, default=808)
    args = parser.parse_args()
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/tryton.sh"), "env"], capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit("Tryton is not running: start it with scripts/tryton.sh start")
    env = parse_env(done.stdout)
    session = CountingSession()
    rpc = TrytonRpc(env.url, env.user, env.password, session)
    rpc.context()
    before = session.logins
    requests.post(
        rpc.url + "/rpc/",
        data=json.dumps({"id": 0, "method": "common.db.logout", "params": []}),
        headers={"Authorization": rpc._auth or "", "Content-Type": "application/json"},
        timeout=30,
    )
    started = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        list(
            pool.map(
                lambda _: rpc.model("project.work", "search", [], 0, 1, None), range(args.calls)
            )
        )
    seconds = time.perf_counter() - started
    print(
        f"Tryton, one expired session, {args.threads} threads: "
        f"{session.logins - before} login(s) for {session.calls} calls in {seconds:.1f}s"
    )


if __name__ == "__main__":
    main()
