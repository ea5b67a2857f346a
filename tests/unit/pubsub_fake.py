"""An in-process Pub/Sub server for the client's tests (until the emulator serves the real one): TLS with
the emulator's certificates, a scripted outcome per Subscribe, and what the client asked recorded."""

from __future__ import annotations

import io
import json
import queue
import threading
from concurrent import futures
from pathlib import Path

import fastavro
import grpc

from sync.emulator.certs import make_tls
from sync.events import pubsub_api_pb2 as pb
from sync.events import pubsub_api_pb2_grpc as pb_grpc

HEADER = {"type": "record", "name": "ChangeEventHeader", "fields": [
    {"name": "entityName", "type": "string"}, {"name": "recordIds", "type": {"type": "array", "items": "string"}},
    {"name": "changeType", "type": "string"}, {"name": "changeOrigin", "type": "string"},
    {"name": "transactionKey", "type": "string"}, {"name": "sequenceNumber", "type": "int"},
    {"name": "commitTimestamp", "type": "long"}, {"name": "commitUser", "type": "string"},
    {"name": "nulledFields", "type": {"type": "array", "items": "string"}},
    {"name": "diffFields", "type": {"type": "array", "items": "string"}},
    {"name": "changedFields", "type": {"type": "array", "items": "string"}}]}
SCHEMA = {"type": "record", "name": "OpportunityChangeEvent", "namespace": "com.sforce.eventbus", "fields": [
    {"name": "ChangeEventHeader", "type": HEADER}, {"name": "Name", "type": ["null", "string"], "default": None},
    {"name": "StageName", "type": ["null", "string"], "default": None},
    {"name": "PSA_Project_Id__c", "type": ["null", "string"], "default": None},
    {"name": "LastModifiedDate", "type": ["null", "long"], "default": None}]}
SCHEMA_ID = "schema-1"


def payload(ids, change="UPDATE", origin="", changed=("StageName",), commit_ms=1_700_000_000_000) -> bytes:
    names = [f["name"] for f in SCHEMA["fields"]]
    bits = sum(1 << names.index(n) for n in changed)
    record = {"ChangeEventHeader": {"entityName": "Opportunity", "recordIds": list(ids), "changeType": change,
                                    "changeOrigin": origin, "commitTimestamp": commit_ms, "transactionKey": "t",
                                    "sequenceNumber": 1, "commitUser": "005000000000001AAA", "nulledFields": [],
                                    "diffFields": [],
                                    "changedFields": [hex(bits)] if changed else []}}
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(SCHEMA), record)
    return out.getvalue()


class Abort:
    def __init__(self, status: grpc.StatusCode, error_code: str, message: str = "scripted"):
        self.status, self.error_code, self.message = status, error_code, message


class FakePubSub(pb_grpc.PubSubServicer):
    """``script``: one list per Subscribe call, items are ``(replay_id, payload)`` events, ``b"K"+id``
    keepalives, or an ``Abort``; after its list a stream stays open until the client leaves."""

    def __init__(self):
        self.script: queue.Queue = queue.Queue()
        self.subscribes: list[pb.FetchRequest] = []  # each stream's first request
        self.requests: list[pb.FetchRequest] = []
        self.schema_calls = 0
        self.metadata: list[dict] = []

    def GetSchema(self, request, context):
        self.schema_calls += 1
        return pb.SchemaInfo(schema_json=json.dumps(SCHEMA), schema_id=request.schema_id)

    def Subscribe(self, request_iterator, context):
        self.metadata.append(dict(context.invocation_metadata()))
        first = next(request_iterator)
        self.subscribes.append(first)
        self.requests.append(first)
        credits = first.num_requested
        more: queue.Queue = queue.Queue()
        threading.Thread(target=self._read_more, args=(request_iterator, more), daemon=True).start()
        steps = self.script.get(timeout=5) if not self.script.empty() else []
        for step in steps:
            if isinstance(step, Abort):
                context.set_trailing_metadata((("error-code", step.error_code),))
                context.abort(step.status, step.message)
            if step[0] == "K":
                yield pb.FetchResponse(latest_replay_id=step[1], pending_num_requested=credits)
                continue
            credits -= 1
            event = pb.ConsumerEvent(replay_id=step[0], event=pb.ProducerEvent(id="e", schema_id=SCHEMA_ID,
                                                                                 payload=step[1]))
            yield pb.FetchResponse(events=[event], pending_num_requested=max(credits, 0))
            if credits <= 0:  # flow control: nothing more until the client asks again (within 60 s)
                credits = more.get(timeout=5).num_requested
        while context.is_active():
            threading.Event().wait(0.05)

    def _read_more(self, request_iterator, more):
        try:
            for request in request_iterator:
                self.requests.append(request)
                more.put(request)
        except Exception:  # noqa: BLE001 - the stream ended
            pass


def serve(tmp: Path, ca_from: Path | None = None) -> tuple[grpc.Server, FakePubSub, str, Path]:
    """``ca_from``: a folder whose CA signs the server's certificate (the emulator's: one ca_bundle for both)."""
    if ca_from is not None:
        for name in ("ca.pem", "ca-key.pem"):
            (tmp / name).write_bytes((ca_from / name).read_bytes())
    tls = make_tls(tmp)
    fake = FakePubSub()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    pb_grpc.add_PubSubServicer_to_server(fake, server)
    creds = grpc.ssl_server_credentials([(tls.key_file.read_bytes(), tls.cert_file.read_bytes())])
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    return server, fake, f"127.0.0.1:{port}", tls.ca_file
