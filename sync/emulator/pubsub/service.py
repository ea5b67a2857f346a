"""The gRPC PubSub service: auth metadata, GetTopic, GetSchema and the Subscribe stream.

Errors end the RPC with a gRPC status and the Pub/Sub code in the ``error-code`` trailer
(``sfdc.platform.eventbus.grpc.<code>``), the message ending in ``rpcId: <uuid>`` as Salesforce's
do.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc

from sync.emulator import ids
from sync.emulator.pubsub.avro import Schemas
from sync.emulator.pubsub.bus import ALL_CHANGES, EventBus, entity_topic
from sync.emulator.pubsub.stream import Stream, StreamEnd
from sync.emulator.schema import Schema
from sync.events import pubsub_api_pb2 as pb
from sync.events import pubsub_api_pb2_grpc as pb_grpc

PREFIX = "sfdc.platform.eventbus.grpc."
AUTH_MESSAGE = (
    "An authentication exception occurred. Provide valid authentication via metadata headers."
)


@dataclass
class Settings:
    """Stream timing: Salesforce's values by default, short ones in tests."""

    keepalive_s: float = 270.0
    idle_close_s: float = 60.0


@dataclass
class Org:
    """What the service checks and reads: the org's identity, sessions, schema and entities."""

    org_id: str
    instance_url: Callable[[], str]
    session_valid: Callable[[str | None], bool]
    schema: Schema
    selected: tuple[str, ...]


def fail(context: grpc.ServicerContext, status: grpc.StatusCode, code: str, message: str) -> None:
    """End the RPC as Salesforce does (raises)."""
    context.set_trailing_metadata((("error-code", PREFIX + code),))
    context.abort(status, f"{message} rpcId: {uuid.uuid4()}")


class PubSubService(pb_grpc.PubSubServicer):
    def __init__(self, org: Org, bus: EventBus, schemas: Schemas, settings: Settings):
        self.org = org
        self.bus = bus
        self.schemas = schemas
        self.settings = settings

    # ------------------------------------------------------------------------------ auth

    def authenticate(self, context: grpc.ServicerContext) -> str:
        """The caller's access token, or the RPC ends UNAUTHENTICATED."""
        meta = {key: value for key, value in context.invocation_metadata()}
        token, url, tenant = meta.get("accesstoken"), meta.get("instanceurl"), meta.get("tenantid")
        if not token or not url or not tenant:
            missing = [
                name
                for name, value in (
                    ("accesstoken", token),
                    ("instanceurl", url),
                    ("tenantid", tenant),
                )
                if not value
            ]
            fail(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                "service.auth.headers.invalid",
                f"Missing or blank authentication headers: {', '.join(missing)}.",
            )
        if (
            not self.org.session_valid(token)
            or url.rstrip("/") != self.org.instance_url()
            or ids.normalize(tenant) != self.org.org_id
        ):
            fail(context, grpc.StatusCode.UNAUTHENTICATED, "service.auth.error", AUTH_MESSAGE)
        return token

    # ----------------------------------------------------------------------------- topics

    def topics(self) -> dict[str, str | None]:
        """Topic name → the entity whose schema it names (None: the multi-entity channel)."""
        out: dict[str, str | None] = {entity_topic(name): name for name in self.org.selected}
        out[ALL_CHANGES] = None
        return out

    def topic_schema(self, topic: str) -> str:
        entity = self.topics()[topic] or self.org.selected[0]
        return self.schemas.current(self.org.schema.object(entity))

    def _count(self, rpc: str) -> None:
        with self.bus.cond:
            self.bus.counters[f"rpc.{rpc}"] += 1

    def GetTopic(self, request: pb.TopicRequest, context: grpc.ServicerContext) -> pb.TopicInfo:  # noqa: N802
        self._count("GetTopic")
        self.authenticate(context)
        if request.topic_name not in self.topics():
            fail(
                context,
                grpc.StatusCode.NOT_FOUND,
                "topic.not.found",
                f"The topic {request.topic_name!r} does not exist "
                "or is not selected for Change Data Capture.",
            )
        return pb.TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=self.org.org_id,
            can_publish=False,
            can_subscribe=True,
            schema_id=self.topic_schema(request.topic_name),
            rpc_id=str(uuid.uuid4()),
        )

    def GetSchema(self, request: pb.SchemaRequest, context: grpc.ServicerContext) -> pb.SchemaInfo:  # noqa: N802
        self._count("GetSchema")
        self.authenticate(context)
        text = self.schemas.text(request.schema_id)
        if text is None:
            fail(
                context,
                grpc.StatusCode.NOT_FOUND,
                "schema.not.found",
                f"No schema with the ID {request.schema_id!r}.",
            )
        return pb.SchemaInfo(
            schema_json=text, schema_id=request.schema_id, rpc_id=str(uuid.uuid4())
        )

    def Subscribe(
        self,
        requests: Iterator[pb.FetchRequest],  # noqa: N802
        context: grpc.ServicerContext,
    ) -> Iterator[pb.FetchResponse]:
        self._count("Subscribe")
        token = self.authenticate(context)
        first = next(requests, None)
        if first is None:
            return
        if first.topic_name not in self.topics():
            fail(
                context,
                grpc.StatusCode.NOT_FOUND,
                "topic.not.found",
                f"The topic {first.topic_name!r} does not exist "
                "or is not selected for Change Data Capture.",
            )
        subscriber = "session:" + hashlib.sha256(token.encode()).hexdigest()[:10]
        try:
            stream = Stream(
                self.bus,
                self.settings,
                first,
                requests,
                subscriber,
                lambda: self.org.session_valid(token),
            )
            yield from stream.run()
        except StreamEnd as end:
            if end.code:
                fail(context, end.status, end.code, end.message)
            context.abort(end.status, end.message)
