"""HTTPS plumbing: a threaded standard-library server on 127.0.0.1 with TLS, keep-alive, and the
ability to drop a connection without answering (the "connection reset" fault).

The TLS handshake runs in the request's thread (``do_handshake_on_connect=False``), so one
client that connects and stalls cannot block the accept loop.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sync.emulator.certs import TlsFiles
from sync.emulator.rest import Request

RESET = object()  # a handler's answer meaning: close the socket, send nothing


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    body = b"" if data is None else json.dumps(data, separators=(",", ":")).encode()
    out = {"Content-Type": "application/json;charset=UTF-8"} if data is not None else {}
    return Response(status, body, {**out, **(headers or {})})


BAD_LENGTH = json_response(
    400,
    [
        {
            "message": "Content-Length must be a whole number of bytes, 0 or more",
            "errorCode": "BAD_REQUEST",
        }
    ],
    {"Connection": "close"},
)


def content_length(header: str | None) -> int | None:
    """The body's length from its header (none: 0), or None when the header is not a length at all
    (negative, not a number): answered 400 at once, as a front end does, the connection closed."""
    text = (header or "0").strip()
    return int(text) if text.isascii() and text.isdigit() else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sfdc-emulator"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - the standard library's naming
        self._dispatch()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_GET  # noqa: N815

    def _dispatch(self) -> None:
        length = content_length(self.headers.get("Content-Length"))
        if (
            length is None
        ):  # rfile.read(-5) reads to the end: the thread would hang until the client leaves
            self.close_connection = True
            self._send(BAD_LENGTH)
            return
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parse_qs(parts.query), self.headers, body)
        answer = self.server.app(request)  # type: ignore[attr-defined]
        if answer is RESET:
            self._reset()
            return
        self._send(answer)

    def _send(self, answer: Response) -> None:
        self.send_response(answer.status)  # adds Date (RFC 7231) and Server
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def _reset(self) -> None:
        """Abort the connection with a TCP RST, as a dropped load-balancer connection looks."""
        self.close_connection = True
        try:
            raw = self.connection
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raw.close()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature from the stdlib
        """Quiet: the emulator keeps its own call log."""


class TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, app: Callable[[Request], Response | object], tls: TlsFiles):
        self.app = app
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(tls.cert_file, tls.key_file)
        super().__init__(("127.0.0.1", port), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        return self.context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        ), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up or distrust the certificate are not the server's problem."""


class ServerThread:
    """Runs a TlsServer in a background thread; ``stop`` returns once it no longer accepts."""

    def __init__(self, server: TlsServer):
        self.server = server
        self.thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sf-emulator",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
