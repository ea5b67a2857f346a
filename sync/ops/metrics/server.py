"""The daemon's ``/metrics`` endpoint: an HTTP server a hostile or broken neighbour cannot starve.

prometheus_client's own server starts a thread per connection and waits on each for ever: 200 idle
connections held 200 file descriptors, and the daemon's cycles then failed to open the state file.
This one serves at most ``SLOTS`` connections at a time, each for at most ``IDLE_TIMEOUT`` seconds
between bytes, one request per connection (HTTP/1.0: no keep-alive holding a slot). A connection
that finds every slot taken is closed at once, so the descriptors it costs are bounded by ``SLOTS``;
a Prometheus scrape (one connection every 15 s or so) always finds one free.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sync.common.errors import ConfigError

logger = logging.getLogger(__name__)

SLOTS = 4  # connections served at once
IDLE_TIMEOUT = 5.0  # seconds a connection may send nothing before it is closed
BACKLOG = 64  # connections the kernel queues before we accept them (they cost us no descriptor)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: MetricsServer

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout  # StreamRequestHandler sets it on the socket
        super().setup()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if urlsplit(self.path).path not in ("/metrics", "/"):
            self.send_error(404, "psa-sync serves /metrics only")
            return
        body = generate_latest(self.server.registry)
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        logger.debug("metrics: %s " + format, self.address_string(), *args)


class MetricsServer(HTTPServer):
    """``/metrics`` from ``registry`` on ``address``:``port``.

    Served from a background thread (:meth:`start`).
    """

    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(
        self,
        address: str,
        port: int,
        registry,
        slots: int = SLOTS,
        idle_timeout: float = IDLE_TIMEOUT,
    ):
        self.registry = registry
        self.idle_timeout = idle_timeout
        self.slots = threading.BoundedSemaphore(slots)
        self.turned_away = 0  # connections closed at once because every slot was taken
        self.address_family = _family(address, port)
        self.where = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        try:
            super().__init__((address, port), _Handler)
        except OSError as exc:
            raise ConfigError(_bind_problem(self.where, exc)) from None
        self._thread: threading.Thread | None = None

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS look-up of the host.

        It is slow, and nothing needs it.
        """
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()[:2]
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def start(self) -> MetricsServer:
        self._thread = threading.Thread(target=self.serve_forever, name="metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and close the listening socket.

        Connections under way end by themselves.
        """
        self.shutdown()
        self.server_close()

    def process_request(self, request, client_address) -> None:
        if not self.slots.acquire(blocking=False):
            self.turned_away += 1
            self.shutdown_request(request)
            return
        threading.Thread(
            target=self._serve_one, args=(request, client_address), daemon=True
        ).start()

    def _serve_one(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception as exc:  # noqa: BLE001 - a client that went away is no error of ours
            logger.debug("metrics: a connection from %s ended: %s", client_address, exc)
        finally:
            self.shutdown_request(request)
            self.slots.release()


def _family(address: str, port: int) -> socket.AddressFamily:
    try:
        return socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as exc:
        raise ConfigError(
            f"metrics.address: {address!r} is not an address of this host ({exc.strerror})"
        ) from None


def _bind_problem(where: str, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        why = "another process listens there (another psa-sync daemon, or another service)"
    elif exc.errno == errno.EADDRNOTAVAIL:
        why = "the address is not one of this host's"
    elif exc.errno == errno.EACCES:
        why = "a port below 1024 needs privileges"
    else:
        why = "the system refused it"
    return (
        f"metrics.port: cannot serve /metrics on {where}: {why} ({exc.strerror}); choose another "
        "metrics.port or metrics.address, or stop what holds it"
    )
