"""The Emulator: one org (schema, records, sessions, budget, faults) behind one HTTPS server.

Every request goes through the same gate, in the order an org applies it: count and log the
call, injected faults, the session, the daily API budget, then the endpoint. Token calls and the
control API (``/__emulator/…``) never touch the API budget nor carry ``Sforce-Limit-Info``.
"""

from __future__ import annotations

import logging
import random
import secrets
import shutil
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from sync.emulator import ids
from sync.emulator.apierror import ApiError
from sync.emulator.auth import ConnectedApp, OAuthError, Sessions
from sync.emulator.bulk import BulkJobs
from sync.emulator.certs import load_or_make_app_key, make_tls
from sync.emulator.control import ControlMixin
from sync.emulator.cursors import Cursors
from sync.emulator.faults import FaultPlan
from sync.emulator.pubsub import PubSub
from sync.emulator.pubsub.control import PubSubControlMixin
from sync.emulator.query import QueryEngine
from sync.emulator.records import Records
from sync.emulator.rest import Raw, Request, Rest, Route
from sync.emulator.schema import Schema
from sync.emulator.server import RESET, Response, ServerThread, TlsServer, json_response
from sync.emulator.store import Store

log = logging.getLogger(__name__)
INVALID_SESSION = {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
APP_NAME = "psa-sync"
MAX_LOG = 100_000
_WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
_FAULT_BODIES = {
    500: (
        "An unexpected error occurred. "
        "Please include this ErrorId if you contact support: 1234567-89 (-42)"
    ),
    503: "Server temporarily unavailable: the service is down for maintenance or overloaded",
}


class Emulator(ControlMixin, PubSubControlMixin):
    """A local Salesforce org over HTTPS, and its Pub/Sub API (Change Data Capture) over gRPC with
    TLS on a port of its own. Use as a context manager, or ``start()``/``stop()``.

    Example::

        with Emulator() as emu:
            emu.seed_demo()
            sf = Salesforce(instance_url=emu.url, session_id=emu.issue_token(), session=...)
    """

    def __init__(
        self,
        org_id: str | None = None,
        page_size: int = 2000,
        api_version: str = "62.0",
        daily_limit: int = 15000,
        state_file: str | Path | None = None,
        port: int = 0,
        pubsub_port: int = 0,
    ):
        self.api_version = api_version
        self.page_size = page_size
        self.daily_limit = daily_limit
        self.port_requested = port
        self.state_file = Path(state_file) if state_file else None
        self._own_dir = self.state_file is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix="sf-emulator-"))
            if self._own_dir
            else self.state_file.with_name(self.state_file.name + ".d")
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.calls: Counter[str] = Counter()
        self.call_log: list[
            dict
        ] = []  # newest last; trimmed past MAX_LOG so a long-running server stays small
        self.api_used = 0
        self._app_used = 0
        self.faults = FaultPlan()
        self.schema = Schema()
        self.store = Store(self.schema, str(self.state_file) if self.state_file else None)
        rng = random.SystemRandom()
        self.id_factory = ids.IdFactory(ids.random_chars(rng, 6))
        self._load_identity(org_id, rng)
        self.pubsub = PubSub(
            self.store,
            self.schema,
            self.org_id,
            self.user_id,
            lambda: self.url,
            lambda token: self.sessions.valid(token),
            pubsub_port,
        )
        self.records = Records(
            self.schema, self.store, self.id_factory, self.user_id, self.pubsub.capture
        )
        self._ensure_user()
        self.engine = QueryEngine(self.schema, self.store)
        self.cursors = Cursors(rng, max_open=20)
        self.bulk = BulkJobs(self.records, self.engine, self.faults)
        self.rest = Rest(
            records=self.records,
            engine=self.engine,
            cursors=self.cursors,
            faults=self.faults,
            page_size=page_size,
            api_version=api_version,
            budget=self._budget,
            bulk=self.bulk,
            deliveries=lambda: (self.pubsub.bus.delivered_today(), self.pubsub.bus.delivery_limit),
        )
        self._app_key: tuple[Path, bytes] | None = None
        self.sessions = Sessions(self._connected_app(), self._public_key)
        self.tls = make_tls(self.workdir)
        self._server: ServerThread | None = None

    # ------------------------------------------------------------------ identity/state

    def _load_identity(self, org_id: str | None, rng: random.Random) -> None:
        """A fresh org, or the one a state file remembers (so its clients' config keeps working)."""
        meta = self.store.meta()
        wanted = ids.normalize(org_id) if org_id else None
        if org_id and (wanted is None or not wanted.startswith("00D")):
            raise ValueError(
                f"org_id must be a 15- or 18-character Id starting with 00D, not {org_id!r}"
            )
        if not meta:
            meta = {
                "org_id": wanted or self.id_factory.new("00D"),
                "user_id": self.id_factory.new("005"),
                "client_id": "3MVG9"
                + secrets.token_urlsafe(60).replace("-", "A").replace("_", "z"),
                "client_secret": secrets.token_hex(32).upper(),
                "username": "integration@psa-sync.example",
                "password": secrets.token_urlsafe(18),
                "admin_token": secrets.token_urlsafe(32),
            }
        elif wanted:
            meta["org_id"] = wanted
        self.store.set_meta(meta)
        self.org_id = meta["org_id"]
        self.user_id = meta["user_id"]
        self.client_id = meta["client_id"]
        self.client_secret = meta["client_secret"]
        self.username = meta["username"]
        self.password = meta["password"]
        self.admin_token = meta["admin_token"]

    def _ensure_user(self) -> None:
        user = self.schema.object("User")
        if self.store.row(user, self.user_id) is None:
            when = self.store.next_stamp()
            self.store.insert(
                user,
                {
                    "Id": self.user_id,
                    "IsDeleted": 0,
                    "Username": self.username,
                    "FirstName": "Integration",
                    "LastName": "User",
                    "Name": "Integration User",
                    "Email": "integration@psa-sync.example",
                    "IsActive": 1,
                    "CreatedDate": when,
                    "CreatedById": self.user_id,
                    "LastModifiedDate": when,
                    "LastModifiedById": self.user_id,
                    "SystemModstamp": when,
                },
            )

    def _connected_app(self) -> ConnectedApp:
        return ConnectedApp(
            APP_NAME,
            self.client_id,
            self.client_secret,
            self.username,
            self.password,
            self.user_id,
            self.org_id,
        )

    def _public_key(self) -> bytes:
        if self._app_key is None:
            self._app_key = load_or_make_app_key(self.workdir)
        return self._app_key[1]

    @property
    def private_key_file(self) -> Path:
        """PEM of the RSA key whose certificate the connected app has registered (JWT grant)."""
        self._public_key()
        return self._app_key[0]

    @property
    def ca_file(self) -> Path:
        return self.tls.ca_file

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(
                "the emulator is not running: use `with Emulator() as emu` or call start()"
            )
        return f"https://127.0.0.1:{self._server.port}"

    @property
    def pubsub_endpoint(self) -> str:
        """``host:port`` of the Pub/Sub API (gRPC over TLS; trust ``ca_file``)."""
        if self.pubsub.port is None:
            raise RuntimeError(
                "the emulator is not running: use `with Emulator() as emu` or call start()"
            )
        return f"127.0.0.1:{self.pubsub.port}"

    @property
    def token_url(self) -> str:
        return self.url + "/services/oauth2/token"

    # ------------------------------------------------------------------------ lifecycle

    def start(self) -> Emulator:
        if self._server is None:
            self._stopping.clear()
            self._server = ServerThread(TlsServer(self.port_requested, self._handle, self.tls))
            self._server.start()
            self.pubsub.start(self.tls)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._stopping.set()
            self.pubsub.stop()
            self._server.stop()
            self._server = None
        if self._own_dir:
            self.store.close()
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------------------- the gate

    def _handle(self, req: Request) -> Response | object:
        if req.path.startswith("/__emulator/"):
            return self.control_http(req)
        route = self.rest.resolve(req.method, req.path)
        entry = self._log_call(req, route)
        decision = self.faults.decide(route.endpoint)
        if decision.delay:
            self._stopping.wait(decision.delay)
        if decision.action == "reset":
            entry["status"] = "reset"
            return RESET
        if decision.action == "status":
            code = "SERVER_UNAVAILABLE" if decision.status == 503 else "UNKNOWN_EXCEPTION"
            message = _FAULT_BODIES.get(decision.status, "injected failure")
            response = json_response(decision.status, [{"message": message, "errorCode": code}])
        elif route.endpoint == "token":
            response = self._token(req)
        else:
            response = self._data(req, route)
        entry["status"] = response.status
        return response

    def _log_call(self, req: Request, route: Route) -> dict:
        entry: dict[str, Any] = {
            "method": req.method,
            "path": req.path,
            "endpoint": route.endpoint,
            "status": None,
        }
        if route.endpoint in ("query", "queryAll"):
            entry["soql"] = req.param("q")
        if req.method in _WRITE_METHODS and route.endpoint != "token":
            try:
                entry["body"] = req.json()
            except Exception:  # noqa: BLE001 - a malformed body is logged raw; the handler answers 400
                entry["body"] = req.body.decode(errors="replace")
        with self._lock:
            self.calls[route.endpoint] += 1
            self.call_log.append(entry)
            if len(self.call_log) > MAX_LOG:
                del self.call_log[: MAX_LOG // 2]
        return entry

    def _token(self, req: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode(errors="replace")).items()}
        try:
            body = self.sessions.grant(form, req.headers.get("Authorization"), self.url)
        except OAuthError as error:
            return json_response(error.status, error.body())
        return json_response(200, body)

    def _data(self, req: Request, route: Route) -> Response:
        headers: dict[str, str] = {}
        if route.needs_session:
            auth = req.headers.get("Authorization") or ""
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
            if not self.sessions.valid(token):
                return json_response(401, [INVALID_SESSION])
            with self._lock:
                spent = self.api_used >= self.daily_limit
                if not spent:
                    self.api_used += 1
                    self._app_used += 1
                headers["Sforce-Limit-Info"] = (
                    f"api-usage={self.api_used}/{self.daily_limit}; "
                    f"per-app-api-usage={self._app_used}/{self.daily_limit}"
                    f"(appName={APP_NAME})"
                )
            if spent:
                body = [
                    {
                        "message": "TotalRequests Limit exceeded.",
                        "errorCode": "REQUEST_LIMIT_EXCEEDED",
                    }
                ]
                return json_response(403, body, headers)
        try:
            if (
                req.method in _WRITE_METHODS
            ):  # one call, one transaction: its changes publish when it ends
                with self.pubsub.capture.transaction(self._origin(req, route)):
                    status, body = route.handler(req, route.params)
            else:
                status, body = route.handler(req, route.params)
        except ApiError as error:
            status, body = error.status, error.body()
        except Exception:
            log.exception("emulator: %s %s failed", req.method, req.path)
            status, body = 500, [{"message": _FAULT_BODIES[500], "errorCode": "UNKNOWN_EXCEPTION"}]
        if isinstance(body, Raw):
            return Response(
                status, body.body, {"Content-Type": body.content_type, **body.headers, **headers}
            )
        return json_response(status, body, headers)

    def _origin(self, req: Request, route: Route) -> str:
        """``changeOrigin`` of the changes this call makes: the API, and ``client=`` from
        ``Sforce-Call-Options`` (how a subscriber recognises its own writes)."""
        origin = f"com/salesforce/api/rest/{route.params.get('version') or self.api_version}"
        for part in (req.headers.get("Sforce-Call-Options") or "").split(","):
            name, _, value = part.strip().partition("=")
            if name.strip().lower() == "client" and value.strip():
                return f"{origin};client={value.strip()}"
        return origin

    def _budget(self) -> tuple[int, int]:
        with self._lock:
            return self.api_used, self.daily_limit
