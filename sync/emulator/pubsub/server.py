"""The Pub/Sub subset as one piece the Emulator owns: bus, schemas, capture, and a TLS gRPC server.

The server listens on its own 127.0.0.1 port beside the HTTPS one, with the certificate the
emulator's CA signed, so a client's secure channel trusts it through the same CA file.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc

from sync.emulator.certs import TlsFiles
from sync.emulator.pubsub.avro import Schemas
from sync.emulator.pubsub.bus import EventBus
from sync.emulator.pubsub.capture import SELECTED, ChangeCapture
from sync.emulator.pubsub.publisher import Publisher
from sync.emulator.pubsub.service import Org, PubSubService, Settings
from sync.emulator.schema import Schema
from sync.emulator.store import Store
from sync.events import pubsub_api_pb2_grpc as pb_grpc

MAX_STREAMS = 32  # worker threads: each open stream holds one


class PubSub:
    def __init__(
        self,
        store: Store,
        schema: Schema,
        org_id: str,
        user_id: str,
        instance_url: Callable[[], str],
        session_valid: Callable[[str | None], bool],
        port: int = 0,
    ):
        self.port_requested = port
        self.bus = EventBus(store.peek_clock_ms)
        self.schemas = Schemas()
        self.publisher = Publisher(self.bus, self.schemas, user_id, store.clock_ms)
        self.capture = ChangeCapture(store, self.publisher.changes, SELECTED)
        self.settings = Settings()
        self.service = PubSubService(
            Org(org_id, instance_url, session_valid, schema, SELECTED),
            self.bus,
            self.schemas,
            self.settings,
        )
        self._server: grpc.Server | None = None
        self.port: int | None = None

    def start(self, tls: TlsFiles) -> None:
        if self._server is not None:
            return
        self.bus.closed = False
        server = grpc.server(
            ThreadPoolExecutor(max_workers=MAX_STREAMS, thread_name_prefix="pubsub")
        )
        pb_grpc.add_PubSubServicer_to_server(self.service, server)
        credentials = grpc.ssl_server_credentials(
            [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())]
        )
        self.port = server.add_secure_port(f"127.0.0.1:{self.port_requested}", credentials)
        server.start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self.bus.close()
            self._server.stop(grace=1).wait(5)
            self._server = None
