"""One Subscribe stream: credits, delivery, keepalives, idle close, drops and expired sessions.

A reader thread takes the client's FetchRequests (credits add up, capped at 100 outstanding, as
Salesforce caps them); the RPC's own thread waits on the bus and sends. It sends events while it
holds credits, a keepalive (no events, an advanced ``latest_replay_id``) after ``keepalive_s``
with credits left and nothing to send, and closes the stream when the credits are spent and no
FetchRequest came within ``idle_close_s`` of the last response.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import grpc

from sync.emulator.pubsub.bus import EventBus, Published, ReplayError
from sync.events import pubsub_api_pb2 as pb

if TYPE_CHECKING:
    from sync.emulator.pubsub.service import Settings

MAX_REQUESTED = 100
_STEP_S = 0.5  # the longest a stream sleeps before looking at its session and clock again


class StreamEnd(Exception):
    """The stream ends with this status (and Pub/Sub error code, if any)."""

    def __init__(self, status: grpc.StatusCode, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid_request(count: int) -> StreamEnd:
    return StreamEnd(
        grpc.StatusCode.INVALID_ARGUMENT,
        "subscription.fetch.requested.events.invalid",
        f"The number of requested events must be greater than 0, not {count}.",
    )


class Stream:
    def __init__(
        self,
        bus: EventBus,
        settings: Settings,
        first: pb.FetchRequest,
        requests: Iterator[pb.FetchRequest],
        subscriber: str,
        session_ok: Callable[[], bool],
    ):
        self.bus, self.settings, self.subscriber, self.session_ok = (
            bus,
            settings,
            subscriber,
            session_ok,
        )
        self.topic = first.topic_name
        self.requests = requests
        self.credits = 0
        self.error: StreamEnd | None = None
        self.client_done = False
        self.generation = bus.generation
        self.last_sent = self.last_request = time.monotonic()
        try:
            self.position = bus.start(first.replay_preset, first.replay_id)
        except ReplayError as error:
            raise StreamEnd(grpc.StatusCode.INVALID_ARGUMENT, error.code, str(error)) from None
        if first.num_requested <= 0:
            raise _invalid_request(first.num_requested)
        self.credits = min(MAX_REQUESTED, first.num_requested)

    def _read(self) -> None:
        try:
            for request in self.requests:
                with self.bus.cond:
                    if request.topic_name and request.topic_name != self.topic:
                        self.error = StreamEnd(
                            grpc.StatusCode.INVALID_ARGUMENT,
                            "subscription.fetch.topic.mismatch",
                            f"The topic {request.topic_name!r} differs from the stream's "
                            f"{self.topic!r}; open a new Subscribe call for it.",
                        )
                    elif request.num_requested <= 0:
                        self.error = _invalid_request(request.num_requested)
                    else:
                        self.credits = min(MAX_REQUESTED, self.credits + request.num_requested)
                        self.last_request = time.monotonic()
                    self.bus.cond.notify_all()
        except Exception:  # noqa: BLE001 - a cancelled RPC ends the iterator with an error: the client left
            pass
        with self.bus.cond:
            self.client_done = True
            self.bus.cond.notify_all()

    def run(self) -> Iterator[pb.FetchResponse]:
        threading.Thread(target=self._read, name="pubsub-reader", daemon=True).start()
        with self.bus.cond:
            self.bus.counters["streams_opened"] += 1
            self.bus.counters["streams_open"] += 1
        try:
            while True:
                response = self._next()
                if response is None:
                    return
                self.last_sent = time.monotonic()
                yield response
        finally:
            with self.bus.cond:
                self.bus.counters["streams_open"] -= 1

    def _next(self) -> pb.FetchResponse | None:
        """The next response to send, None when the client has gone; raises StreamEnd to fail."""
        with self.bus.cond:
            while True:
                self._check()
                if self.client_done or self.bus.closed:
                    return None
                if self.credits > 0:
                    events = self.bus.after(self.position, self.topic, self.credits)
                    if events:
                        return self._deliver(events)
                    if time.monotonic() - self.last_sent >= self.settings.keepalive_s:
                        latest = self.bus.keepalive_position()
                        return pb.FetchResponse(
                            latest_replay_id=self.bus.encode(latest),
                            pending_num_requested=self.credits,
                            rpc_id=_rpc_id(),
                        )
                elif (
                    time.monotonic() - max(self.last_sent, self.last_request)
                    >= self.settings.idle_close_s
                ):
                    raise StreamEnd(
                        grpc.StatusCode.UNAVAILABLE,
                        "",
                        "RST_STREAM closed stream: no FetchRequest within the idle period.",
                    )
                self.bus.cond.wait(
                    min(_STEP_S, self.settings.keepalive_s, self.settings.idle_close_s)
                )

    def _check(self) -> None:
        if self.error is not None:
            raise self.error
        if self.bus.generation != self.generation:
            raise StreamEnd(
                grpc.StatusCode.UNAVAILABLE,
                self.bus.drop_code,
                "The stream was closed by the server.",
            )
        if not self.session_ok():
            raise StreamEnd(
                grpc.StatusCode.UNAUTHENTICATED,
                "service.auth.error",
                "An authentication exception occurred. "
                "Provide valid authentication via metadata headers.",
            )

    def _deliver(self, events: list[Published]) -> pb.FetchResponse:
        granted = self.bus.allow(self.subscriber, len(events))
        if not granted:
            raise StreamEnd(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "subscription.limit.exceeded",
                "The org's 24-hour event delivery allocation is used up.",
            )
        events = events[:granted]
        self.credits -= len(events)
        self.position = events[-1].replay
        return pb.FetchResponse(
            events=[
                pb.ConsumerEvent(
                    event=pb.ProducerEvent(id=e.event_id, schema_id=e.schema_id, payload=e.payload),
                    replay_id=self.bus.encode(e.replay),
                )
                for e in events
            ],
            latest_replay_id=self.bus.encode(self.position),
            pending_num_requested=self.credits,
            rpc_id=_rpc_id(),
        )


def _rpc_id() -> str:
    return str(uuid.uuid4())
