"""The daemon's /metrics server under a hostile or broken neighbour (issue 20).

Idle connections hold at most ``slots`` descriptors, are closed after the idle timeout, and
/metrics answers again; a port in use is a config error naming the address. In-process, loopback
only, the timeout injected short.
"""

from __future__ import annotations

import socket

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter

from sync.common.errors import ConfigError
from sync.ops.metrics.server import MetricsServer

IDLE = 0.2  # the injected idle timeout (seconds): the test waits for the server, never measures it


@pytest.fixture
def server():
    registry = CollectorRegistry(auto_describe=False)
    Counter("psa_sync_test", "a sample", registry=registry).inc()
    served = MetricsServer("127.0.0.1", 0, registry, slots=2, idle_timeout=IDLE).start()
    yield served
    served.stop()


def idle_connection(server: MetricsServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.server_port), timeout=30)


def closed_by_server(conn: socket.socket) -> bool:
    """Blocks until the server closes ``conn`` (its idle timeout, or at once when turned away)."""
    return conn.recv(1) == b""


def test_many_idle_connections_hold_at_most_the_slots_and_metrics_answers_once_they_time_out(
    server,
):
    conns = [idle_connection(server) for _ in range(50)]
    try:
        # every connection is closed by the server: 48 at once (no slot), the 2 in slots after IDLE
        assert all(closed_by_server(conn) for conn in conns)
        assert server.turned_away >= 48
    finally:
        for conn in conns:
            conn.close()
    answer = requests.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=30)
    assert answer.status_code == 200 and "psa_sync_test_total 1.0" in answer.text


def test_a_connection_that_sends_half_a_request_is_closed_after_the_idle_timeout(server):
    with idle_connection(server) as conn:
        conn.sendall(b"GET /metr")  # and nothing more
        assert closed_by_server(conn)
    assert (
        requests.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=30).status_code
        == 200
    )


def test_another_path_is_404_and_metrics_is_one_request_per_connection(server):
    assert (
        requests.get(f"http://127.0.0.1:{server.server_port}/admin", timeout=30).status_code == 404
    )
    answer = requests.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=30)
    assert answer.raw.version == 10  # HTTP/1.0: no keep-alive holding a slot


def test_a_port_in_use_is_a_config_error_naming_the_address():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ConfigError) as caught:
            MetricsServer("127.0.0.1", port, CollectorRegistry())
    message = str(caught.value)
    assert f"metrics.port: cannot serve /metrics on 127.0.0.1:{port}" in message
    assert "another process listens there" in message and "choose another metrics.port" in message
