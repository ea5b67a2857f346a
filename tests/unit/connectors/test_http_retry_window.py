"""Issue 6 item 3: HTTP retries have a per-run time bound (the session's RetryWindow)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from urllib3.util.retry import RequestHistory

from sync.common.errors import ConfigError
from sync.connectors.http import build_session
from sync.connectors.retries import RetryWindow, retry_policy


@contextmanager
def always_503(on_request: Callable[[int], None] = lambda n: None) -> Iterator[list[str]]:
    """A server that answers every request 503; yields the list of paths it saw."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            seen.append(self.path)
            on_request(len(seen))
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_within_the_window_a_failing_call_is_retried_as_configured():
    with always_503() as (seen, url):
        session = build_session(ca_bundle=None, timeout=5, retries=3, backoff_factor=0.001)
        assert session.get(url + "/a").status_code == 503
    assert len(seen) == 4


def test_after_the_window_a_failing_call_fails_at_once():
    with always_503() as (seen, url):
        session = build_session(
            ca_bundle=None, timeout=5, retries=3, backoff_factor=0.001, retry_window=0
        )
        assert session.get(url + "/a").status_code == 503
        assert session.get(url + "/b").status_code == 503
    assert seen == ["/a", "/b"]


def test_a_window_that_ends_during_a_call_stops_its_retries():
    state = {}

    def end_the_window_on_second_request(n: int) -> None:
        if n == 2:
            state["session"].retry_window.deadline = time.monotonic() - 1

    with always_503(end_the_window_on_second_request) as (seen, url):
        state["session"] = build_session(ca_bundle=None, timeout=5, retries=5, backoff_factor=0.001)
        assert state["session"].get(url + "/a").status_code == 503
    assert len(seen) == 2


def test_no_backoff_sleeps_past_the_window():
    clock = [1000.0]
    window = RetryWindow(2.5, clock=lambda: clock[0])
    errors = tuple(RequestHistory("GET", "/a", None, 503, None) for _ in range(6))
    retry = retry_policy(10, backoff_factor=30, window=window).new(history=errors)
    assert retry.get_backoff_time() == 2.5
    clock[0] += 2.0
    assert retry.get_backoff_time() == pytest.approx(0.5)
    clock[0] += 5.0
    assert retry.get_backoff_time() == 0


def test_retry_after_is_cut_to_the_window():
    class Answer:
        headers = {"Retry-After": "50"}

        def getheader(self, name):
            return self.headers.get(name)

    window = RetryWindow(3, clock=lambda: 0.0)
    assert retry_policy(3, window=window).get_retry_after(Answer()) == 3


def test_a_negative_window_is_a_config_error():
    with pytest.raises(ConfigError, match="retry window"):
        build_session(ca_bundle=None, timeout=5, retries=1, retry_window=-1)
