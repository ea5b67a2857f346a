"""psa-sync's own thin Pub/Sub API client: one TLS channel, ``GetSchema``, and ``Subscribe`` with
flow control.

- **Auth** is gRPC metadata on every call (``accesstoken``, ``instanceurl``, ``tenantid``) from the
  token psa-sync already holds for REST; ``credentials()`` is asked at every (re)subscribe, so a
  token the daemon renewed is the one sent.
- **Trust**: the CAs the machine trusts (as for REST) plus ``salesforce.ca_bundle``, passed to gRPC
  explicitly, so no environment variable (``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH``) can change it.
- **Flow control**: the first ``FetchRequest`` asks ``BATCH`` (100, Salesforce's most) events; each
  time a response says none are owed any more (``pending_num_requested == 0``) another 100 are
  asked, from the receiving thread itself, so the 60 s rule never bites however slow a cycle is.
- **Errors** end the stream with a gRPC status; Salesforce's own code rides in the ``error-code``
  trailer. :class:`StreamError` sorts them into what the listener does (``Fault``).
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import grpc

from sync.connectors.http import trusted_base_bundle
from sync.events import pubsub_api_pb2 as pb
from sync.events import pubsub_api_pb2_grpc as pb_grpc

BATCH = 100  # num_requested: Salesforce delivers at most 100 in flight per Subscribe
_PREFIX = "sfdc.platform.eventbus.grpc."


@dataclass(frozen=True)
class Credentials:
    access_token: str
    instance_url: str
    org_id: str

    def __repr__(self) -> str:
        return (
            f"Credentials(access_token='***', instance_url={self.instance_url!r}, "
            f"org_id={self.org_id!r})"
        )


class Fault(Enum):
    """What a failed stream calls for (docs/architecture.md §16, the fallback table)."""

    REPLAY_TOO_OLD = "replay_too_old"  # subscribe from LATEST and poll a window at once
    AUTH = "auth"  # a new token, then resubscribe
    LIMIT = "limit"  # the org's daily delivery allocation is spent: a long pause, polling meanwhile
    CONFIG = "config"  # topic missing, permissions, licence: events off until a person fixes it
    DROPPED = "dropped"  # unavailable, closed, internal: back off and resubscribe


_BY_CODE = {
    "subscription.fetch.replayid.corrupted": Fault.REPLAY_TOO_OLD,
    "subscription.fetch.replayid.validation.failed": Fault.REPLAY_TOO_OLD,
    "service.auth.error": Fault.AUTH,
    "subscription.limit.exceeded": Fault.LIMIT,
    "service.auth.headers.invalid": Fault.CONFIG,
    "service.tenant.license": Fault.CONFIG,
    "topic.not.found": Fault.CONFIG,
    "topic.meta.permission": Fault.CONFIG,
    "schema.meta.permission": Fault.CONFIG,
    "subscription.topic.cannot.subscribe": Fault.CONFIG,
}


class StreamError(Exception):
    """A Subscribe or GetSchema that failed: gRPC status, Salesforce's error code, what to do."""

    def __init__(self, status: str, error_code: str, details: str):
        self.status, self.error_code, self.details = status, error_code, details
        short = error_code.removeprefix(_PREFIX)
        self.fault = _BY_CODE.get(short) or (
            Fault.AUTH if status == "UNAUTHENTICATED" else Fault.DROPPED
        )
        super().__init__(f"{status} {short or '(no error-code)'}: {details}")

    @classmethod
    def of(cls, exc: grpc.RpcError) -> StreamError:
        trailers = dict(exc.trailing_metadata() or ()) if hasattr(exc, "trailing_metadata") else {}
        code = exc.code() if hasattr(exc, "code") else None
        details = exc.details() if hasattr(exc, "details") else str(exc)
        return cls(
            code.name if code is not None else "UNKNOWN",
            str(trailers.get("error-code", "")),
            details or "",
        )


class PubSub:
    """One channel to the Pub/Sub endpoint (``host:port``); thread-safe as gRPC channels are."""

    def __init__(
        self, endpoint: str, ca_bundle: Path | None, credentials: Callable[[], Credentials]
    ):
        roots = trusted_base_bundle().read_bytes()
        if ca_bundle is not None:
            roots = roots.rstrip(b"\n") + b"\n" + Path(ca_bundle).read_bytes()
        self.channel = grpc.secure_channel(
            endpoint, grpc.ssl_channel_credentials(root_certificates=roots)
        )
        self.stub = pb_grpc.PubSubStub(self.channel)
        self.credentials = credentials

    def close(self) -> None:
        self.channel.close()

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        c = self.credentials()
        return (
            ("accesstoken", c.access_token),
            ("instanceurl", c.instance_url),
            ("tenantid", c.org_id),
        )

    def schema_json(self, schema_id: str) -> str:
        try:
            return self.stub.GetSchema(
                pb.SchemaRequest(schema_id=schema_id), metadata=self._metadata(), timeout=30
            ).schema_json
        except grpc.RpcError as exc:
            raise StreamError.of(exc) from None

    def topic(self, topic: str) -> pb.TopicInfo:
        """``GetTopic``: the channel exists and this user may subscribe to it (``check``)."""
        try:
            return self.stub.GetTopic(
                pb.TopicRequest(topic_name=topic), metadata=self._metadata(), timeout=30
            )
        except grpc.RpcError as exc:
            raise StreamError.of(exc) from None

    def subscribe(self, topic: str, replay_id: bytes | None) -> Subscription:
        """A stream after ``replay_id`` (CUSTOM), or from now on (LATEST) when None."""
        return Subscription(self, topic, replay_id)


class Subscription:
    """One Subscribe stream: iterate for its ``FetchResponse``s; ``cancel()`` from any thread."""

    def __init__(self, pubsub: PubSub, topic: str, replay_id: bytes | None):
        self.topic = topic
        self._asks: queue.Queue = queue.Queue()
        first = pb.FetchRequest(
            topic_name=topic,
            num_requested=BATCH,
            replay_preset=pb.CUSTOM if replay_id else pb.LATEST,
            replay_id=replay_id or b"",
        )
        self._asks.put(first)
        self.call = pubsub.stub.Subscribe(self._requests(), metadata=pubsub._metadata())

    def _requests(self) -> Iterator[pb.FetchRequest]:
        while (ask := self._asks.get()) is not None:
            yield ask

    def __iter__(self) -> Iterator[pb.FetchResponse]:
        try:
            for response in self.call:
                if response.pending_num_requested == 0:
                    self._asks.put(pb.FetchRequest(topic_name=self.topic, num_requested=BATCH))
                yield response
        except grpc.RpcError as exc:
            if exc.code() is grpc.StatusCode.CANCELLED:
                return
            raise StreamError.of(exc) from None
        finally:
            self._asks.put(None)
        raise StreamError("CLOSED", "", "the server ended the stream")

    def cancel(self) -> None:
        self.call.cancel()
