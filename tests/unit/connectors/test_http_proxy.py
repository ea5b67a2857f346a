"""Issue 20: an environment proxy never sees a request to a loopback PSA (plain http, a key).

A proxy-like listener on loopback records every connection it gets (and the bytes that came); the
PSA is another loopback server. With ``http_proxy``, ``https_proxy`` and ``ALL_PROXY`` pointing at
the listener and no ``NO_PROXY``, requests would send the call (the Redmine key in its header, the
Tryton password in its body) to the listener.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sync.connectors.http import build_session
from sync.connectors.psa.tryton.rpc import TrytonRpc

KEY = "proxy-canary-key-5b1e"


@contextmanager
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A proxy stand-in: records what each connection sent, answers 502, closes."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    seen.append(conn.recv(65536))
                    conn.sendall(
                        b"HTTP/1.1 502 Bad Gateway\r\n"
                        b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                except OSError:
                    seen.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()


class _Psa(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append((self.headers.get("X-Redmine-API-Key"), self.rfile.read(length)))  # type: ignore[attr-defined]
        body = b'{"id": 1, "result": [1, "tok", null]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815

    def log_message(self, *args) -> None:
        pass


@contextmanager
def psa() -> Iterator[tuple[str, list]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Psa)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxied(monkeypatch):
    with listener() as (port, seen):
        for name in (
            "http_proxy",
            "https_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "all_proxy",
        ):
            monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        yield seen


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_loopback_psa_is_reached_directly_whatever_the_proxy_variables_say(proxied, host):
    with psa() as (url, reached):
        session = build_session(ca_bundle=None, timeout=5, retries=0)
        response = session.get(
            url.replace("127.0.0.1", host) + "/projects.json", headers={"X-Redmine-API-Key": KEY}
        )
    assert response.status_code == 200
    assert reached and reached[0][0] == KEY
    assert proxied == []  # the listener never saw a connection, let alone the key


def test_the_tryton_password_never_goes_to_a_proxy(proxied):
    with psa() as (url, reached):
        rpc = TrytonRpc(
            url + "/psa",
            "admin",
            "tryton-pw-" + KEY,
            build_session(ca_bundle=None, timeout=5, retries=0),
        )
        rpc.login()
    assert KEY.encode() in reached[0][1]
    assert proxied == []


def test_the_check_sees_the_proxy_when_requests_is_left_to_itself(proxied):
    """The listener is a real proxy stand-in: a plain requests session goes through it."""
    import requests

    with psa() as (url, reached):
        response = requests.Session().get(
            url + "/projects.json", headers={"X-Redmine-API-Key": KEY}
        )
    assert response.status_code == 502 and reached == []
    assert any(KEY.encode() in sent for sent in proxied)
