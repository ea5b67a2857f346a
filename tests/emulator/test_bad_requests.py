"""Issue 20: a request whose Content-Length is not a length is answered 400 at once.

``rfile.read(-5)`` reads until the client closes: the request thread hung as long as the client kept
the connection open. The socket's timeout here only keeps a failing test from hanging the suite.
"""

from __future__ import annotations

import socket
import ssl

import pytest

from sync.emulator.server import content_length


@pytest.mark.parametrize("length", ["-5", "abc", "1e3", "\u00b2", " -0"])
def test_a_content_length_that_is_not_a_length_is_answered_400_at_once(emulator, length):
    context = ssl.create_default_context(cafile=str(emulator.ca_file))
    port = int(emulator.url.rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(
            "POST /services/oauth2/token HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nContent-Length: {length}\r\n"
            "\r\ngrant_type=password".encode("latin-1")
        )
        answer = b""
        while chunk := tls.recv(65536):  # the server closes the connection after its answer
            answer += chunk
    answer = answer.decode("latin-1")
    assert answer.startswith("HTTP/1.1 400 "), answer
    assert "Content-Length must be a whole number" in answer


def test_lengths_that_are_lengths_are_read():
    assert [content_length(v) for v in (None, "", "0", "17", " 17 ")] == [0, 0, 0, 17, 17]
