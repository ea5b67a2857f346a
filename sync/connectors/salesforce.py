"""The Salesforce connector: token, simple-salesforce client, API budget, error translation, collections.

The pipeline talks to Salesforce only through ``SalesforceClient``. It owns four concerns:

- **Authentication** (``salesforce_auth``): we request the token ourselves and build
  ``Salesforce(instance_url=…, session_id=…, session=<ours>)``, so simple-salesforce never logs in
  and never refreshes on its own. On ``401 INVALID_SESSION_ID`` we re-authenticate once and retry
  that call; a second refusal is an ``AuthError``.
- **The API budget**: every response's ``Sforce-Limit-Info`` is parsed by a response hook on the
  session (simple-salesforce's own ``api_usage`` misses SFType calls and errors), and every call is
  counted per endpoint. Before each data call a guard stops the run (``BudgetExceededError``, exit 4)
  if the run's own cap or the org's share would be passed; the run resumes from its last page.
- **Error translation** from structured data (HTTP status + ``errorCode``), never message text,
  into the tree of ``sync.errors``. Messages never carry SOQL values, bodies, tokens or secrets.
- **sObject Collections**: ``update`` sends 200 records a call and reads the per-record results of
  the 200 response, which are failures as often as not.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlparse
from uuid import uuid4

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from sync.clock import utcnow
from sync.config import SalesforceConfig
from sync.connectors.http import certificate_rejected
from sync.connectors.salesforce_auth import TokenGrant, request_token, untrusted_certificate_message
from sync.errors import AuthError, BudgetExceededError, ConfigError, SalesforceUnavailable, SyncError
from sync.logs import register_secret

log = logging.getLogger(__name__)

T = TypeVar("T")
COLLECTION_SIZE = 200
LOCK_RETRIES = 3
LOCK_BACKOFF_SECONDS = 0.5
TRANSIENT_CODES: frozenset[str] = frozenset({
    "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT",
    "REQUEST_LIMIT_EXCEEDED", "UNKNOWN_EXCEPTION", "ALL_OR_NONE_OPERATION_ROLLED_BACK",
})
_LIMIT_INFO = re.compile(r"(?<![\w-])api-usage=(\d+)/(\d+)")
_NO_SUCH_COLUMN = re.compile(r"No such column '([^']+)' on entity '([^']+)'")
_SOBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESUMES = "the run stopped and resumes from its last committed page"


@dataclass(frozen=True)
class SaveError:
    status_code: str
    message: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class SaveResult:
    """One record's outcome inside a collections response (request order, input Id)."""

    id: str
    success: bool
    errors: tuple[SaveError, ...]

    @property
    def transient(self) -> bool:
        """A failure worth retrying next run: every error code is a transient one."""
        return not self.success and bool(self.errors) and all(
            e.status_code in TRANSIENT_CODES for e in self.errors)


@dataclass
class ApiUsage:
    """This run's own calls per endpoint, and the org's usage from the latest Sforce-Limit-Info."""

    calls: Counter = field(default_factory=Counter)  # endpoint → calls, see endpoint_of
    org_used: int | None = None
    org_max: int | None = None

    @property
    def total(self) -> int:
        """Data calls of this run; the token calls (``calls["token"]``) are not API requests."""
        return sum(n for endpoint, n in self.calls.items() if endpoint != "token")

    def record(self, response: requests.Response) -> str:
        endpoint = endpoint_of(response.request.method or "GET", response.request.path_url)
        self.calls[endpoint] += 1
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.org_used, self.org_max = int(match.group(1)), int(match.group(2))
        return endpoint


def endpoint_of(method: str, path: str) -> str:
    """The name a call is counted under: token, query, queryAll, queryMore, composite, describe, limits, …

    The names are the emulator's, so a test can compare both counts directly.
    """
    path = path.split("?", 1)[0].rstrip("/")
    if path.endswith("/oauth2/token"):
        return "token"
    parts = path.split("/")
    if "data" not in parts or len(parts) <= parts.index("data") + 2:
        return "other"
    rest = parts[parts.index("data") + 2:]  # after /services/data/vXX.X/
    head = rest[0]
    if head in ("query", "queryAll"):
        return "queryMore" if len(rest) > 1 else head
    if head == "sobjects" and rest[-1] == "describe":
        return "describe"
    return {"composite": "composite", "sobjects": "sobject", "limits": "limits"}.get(head, head)


def _first_error(exc: SalesforceError) -> tuple[str | None, str]:
    """(errorCode, message) from a simple-salesforce exception's parsed body (a JSON array)."""
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode"), str(content[0].get("message") or "")
    return None, ""


def _without_query_echo(message: str) -> str:
    """Salesforce echoes the SOQL before ``ERROR at Row``; keep only the explanation."""
    marker = message.find("ERROR at Row")
    return message[marker:].replace("\n", " ").strip() if marker >= 0 else message.strip()


def translate(exc: SalesforceError, endpoint: str) -> SyncError:
    """Our exception for one Salesforce error response, from its status and errorCode."""
    status = exc.status
    code, message = _first_error(exc)
    what = f"Salesforce {endpoint} call"
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        return BudgetExceededError(f"the org's daily API limit is spent (403 REQUEST_LIMIT_EXCEEDED); {_RESUMES}")
    if status in (401, 403):
        return AuthError(f"{what} refused ({status} {code or 'no errorCode'}): {message or 'no message'}; "
                         "check the integration user's permissions and the connected app's policies")
    if status >= 500:
        return SalesforceUnavailable(f"{what} failed with {status} {code or ''} after retries; {_RESUMES}")
    if code in TRANSIENT_CODES or code == "INVALID_QUERY_LOCATOR":
        return SalesforceUnavailable(f"{what} failed ({status} {code}); {_RESUMES}")
    if code == "INVALID_FIELD" and (column := _NO_SUCH_COLUMN.search(message)):
        return ConfigError(f"Salesforce has no field '{column.group(1)}' on {column.group(2)}; "
                           "fix the mapping (or grant the integration user access to that field)")
    if endpoint in ("query", "queryMore") and code in ("INVALID_FIELD", "MALFORMED_QUERY", "INVALID_TYPE"):
        return ConfigError(f"Salesforce rejected our query ({code}): {_without_query_echo(message)}; "
                           "fix the mapping's criteria or fields")
    if status == 404:
        return ConfigError(f"{what}: not found (404 {code or ''}); check the object name in the mapping")
    return ConfigError(f"Salesforce rejected the {endpoint} call ({status} {code or 'no errorCode'}): "
                       f"{_without_query_echo(message) or 'no message'}")


def _json_value(value: Any, field_name: str, numbers: dict[str, str]) -> Any:
    """A JSON-ready value: Decimal as an exact number (via a marker), dates as ISO strings."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{field_name}: {value} is not a number Salesforce accepts")
        marker = f"@@dec-{uuid4().hex}@@"
        numbers[marker] = format(value, "f")
        return marker
    if isinstance(value, float):
        return None if value != value else value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{field_name}: a naive datetime is ambiguous; give an aware one")
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _json_value(value.item(), field_name, numbers)
    raise TypeError(f"{field_name}: cannot send a {type(value).__name__} to Salesforce")


def collection_body(sobject: str, records: Sequence[dict]) -> str:
    """The JSON body of one PATCH composite/sobjects call (allOrNone=false)."""
    numbers: dict[str, str] = {}
    out = []
    for record in records:
        if not record.get("Id"):
            raise ValueError("every record sent to Salesforce needs an Id")
        row: dict[str, Any] = {"attributes": {"type": sobject}, "id": record["Id"]}
        row.update({k: _json_value(v, k, numbers) for k, v in record.items() if k not in ("Id", "attributes")})
        out.append(row)
    text = json.dumps({"allOrNone": False, "records": out})
    for marker, number in numbers.items():
        text = text.replace(f'"{marker}"', number)
    return text


def parse_save_results(records: Sequence[dict], body: Any) -> list[SaveResult]:
    """One SaveResult per input record, in order; per-record errors use ``statusCode``."""
    if not isinstance(body, list) or len(body) != len(records):
        raise SalesforceUnavailable(f"Salesforce answered a collections update of {len(records)} records with "
                                    f"{len(body) if isinstance(body, list) else 'no'} results; {_RESUMES}")
    results = []
    for record, item in zip(records, body, strict=True):
        errors = tuple(SaveError(status_code=str(e.get("statusCode") or e.get("errorCode") or "UNKNOWN"),
                                 message=str(e.get("message") or ""), fields=tuple(e.get("fields") or ()))
                       for e in item.get("errors") or ())
        results.append(SaveResult(id=record["Id"], success=bool(item.get("success")), errors=errors))
    return results


class SalesforceClient:
    """One run's connection to one org (see the module docstring for what it guarantees)."""

    def __init__(self, config: SalesforceConfig, session: requests.Session, *,
                 max_org_api_percent: float = 80.0, max_calls_per_run: int = 5000,
                 now: Callable[[], datetime] = utcnow, sleep: Callable[[float], None] = time.sleep,
                 lock_retries: int = LOCK_RETRIES):
        self.config = config
        self.session = session
        self.max_org_api_percent = max_org_api_percent
        self.max_calls_per_run = max_calls_per_run
        self.usage = ApiUsage()
        self._now = now
        self._sleep = sleep
        self._lock_retries = lock_retries
        self._grant: TokenGrant | None = None
        self.sf: Salesforce | None = None
        self.org_id: str = ""
        self.instance_url: str = ""
        self.server_time: datetime | None = None
        session.hooks["response"].append(self._on_response)

    # --- connection ------------------------------------------------------------------------------

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        endpoint = self.usage.record(response)
        log.debug("salesforce: %s -> %s (this run: %d data calls; org %s/%s)", endpoint,
                  response.status_code, self.usage.total, self.usage.org_used, self.usage.org_max)

    def connect(self) -> None:
        """Request a token and build the client; sets org_id, instance_url and server_time."""
        grant = self._authenticate()
        self.server_time = grant.server_time or self._now()
        if grant.server_time is None:
            log.warning("salesforce: the token response had no Date header; using the local clock")

    def _authenticate(self) -> TokenGrant:
        grant = request_token(self.config, self.session, self._now, self._sleep)
        register_secret(grant.access_token)  # a bearer token is a password: redact it from every log line
        self._grant = grant
        self.org_id = grant.org_id
        self.instance_url = grant.instance_url
        self.sf = Salesforce(instance_url=grant.instance_url, session_id=grant.access_token,
                             session=self.session, version=self.config.api_version,
                             object_pairs_hook=dict)
        return grant

    # --- the budget guard ------------------------------------------------------------------------

    def _budget_problem(self) -> str | None:
        usage = self.usage
        if usage.total >= self.max_calls_per_run:
            return (f"this run made {usage.total} Salesforce API calls, the most limits.max_calls_per_run "
                    f"({self.max_calls_per_run}) allows")
        if usage.org_used is not None and usage.org_max:
            allowed = usage.org_max * self.max_org_api_percent / 100.0
            if usage.org_used + 1 > allowed:
                return (f"the org has used {usage.org_used} of its {usage.org_max} daily API requests; one more "
                        f"would pass limits.max_org_api_percent ({self.max_org_api_percent:g}% = "
                        f"{int(allowed)})")
        return None

    def budget_left(self) -> bool:
        """False when the next data call would pass a limit (the pipeline stops before it)."""
        return self._budget_problem() is None

    def _guard(self) -> None:
        problem = self._budget_problem()
        if problem:
            raise BudgetExceededError(f"stopped to protect the Salesforce API budget: {problem}; {_RESUMES}")

    # --- one data call, with re-auth, lock retries and translation --------------------------------

    def _call(self, endpoint: str, send: Callable[[Salesforce], T], *, idempotent: bool = True) -> T:
        if self.sf is None:
            raise RuntimeError("SalesforceClient.connect() must be called first")
        reauthenticated = False
        lock_attempts = 0
        while True:
            self._guard()
            try:
                return send(self.sf)
            except SalesforceError as exc:
                code, _ = _first_error(exc)
                if exc.status == 401 and code == "INVALID_SESSION_ID" and not reauthenticated:
                    log.info("salesforce: session expired during %s; re-authenticating once", endpoint)
                    self._authenticate()
                    reauthenticated = True
                    continue
                if code == "UNABLE_TO_LOCK_ROW" and idempotent and lock_attempts < self._lock_retries:
                    lock_attempts += 1
                    delay = LOCK_BACKOFF_SECONDS * 2 ** (lock_attempts - 1)
                    self._sleep(delay + random.uniform(0, delay))
                    continue
                raise self._translate(exc, endpoint, reauthenticated) from None
            except ValueError:
                raise SalesforceUnavailable(f"Salesforce answered the {endpoint} call with something that is not "
                                            f"JSON (a proxy or maintenance page?); {_RESUMES}") from None
            except requests.RequestException as exc:
                if certificate_rejected(exc):
                    raise ConfigError(untrusted_certificate_message(self.instance_url)) from None
                raise SalesforceUnavailable(f"Salesforce {endpoint} call failed ({type(exc).__name__}) after "
                                            f"retries; {_RESUMES}") from None

    def _translate(self, exc: SalesforceError, endpoint: str, reauthenticated: bool) -> SyncError:
        code, _ = _first_error(exc)
        if exc.status == 401 and code == "INVALID_SESSION_ID" and endpoint == "queryMore":
            # A query cursor belongs to the session that opened it: a fresh token cannot continue it.
            return SalesforceUnavailable(f"the query cursor did not survive re-authentication; {_RESUMES}")
        if exc.status == 401 and code == "INVALID_SESSION_ID":
            return AuthError("Salesforce refused a fresh session (401 INVALID_SESSION_ID after "
                             "re-authenticating); check the connected app's session policies and IP ranges")
        return translate(exc, endpoint)

    # --- the public calls --------------------------------------------------------------------------

    def query_pages(self, soql: str, *, include_deleted: bool = True,
                    batch_size: int | None = None) -> Iterator[list[dict]]:
        """Stream one list of raw records per page: query/queryAll, then each nextRecordsUrl."""
        kwargs: dict[str, Any] = {}
        if batch_size is not None:
            if not 200 <= batch_size <= 2000:
                raise ValueError(f"batch_size must be between 200 and 2000, got {batch_size}")
            kwargs["headers"] = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        page = self._call("query", lambda sf: sf.query(soql, include_deleted=include_deleted, **kwargs))
        yield list(page.get("records") or [])
        while not page.get("done", True):
            next_url = page.get("nextRecordsUrl")
            if not next_url:
                raise SalesforceUnavailable(f"Salesforce said the query is not done but gave no nextRecordsUrl; "
                                            f"{_RESUMES}")
            path = urlparse(next_url).path if next_url.startswith("http") else next_url
            page = self._call("queryMore",
                              lambda sf, p=path: sf.query_more(p, identifier_is_url=True, **kwargs))
            yield list(page.get("records") or [])

    def update(self, sobject: str, records: Sequence[dict]) -> list[SaveResult]:
        """PATCH composite/sobjects, 200 records a call, allOrNone=false; one result per record, in order."""
        _check_sobject(sobject)
        results: list[SaveResult] = []
        for start in range(0, len(records), COLLECTION_SIZE):
            chunk = records[start:start + COLLECTION_SIZE]
            body = collection_body(sobject, chunk)
            answer = self._call("composite", lambda sf, b=body: sf.restful(
                "composite/sobjects", method="PATCH", data=b))
            results.extend(parse_save_results(chunk, answer))
        failed = sum(not r.success for r in results)
        log.debug("salesforce: updated %d %s records, %d failed", len(results), sobject, failed)
        return results

    def describe(self, sobject: str) -> dict:
        """The sObject's describe (fields, types, picklist values), for `check` and the mapping."""
        _check_sobject(sobject)
        return self._call("describe", lambda sf: sf.restful(f"sobjects/{sobject}/describe")) or {}


def _check_sobject(sobject: str) -> None:
    if not _SOBJECT_NAME.match(sobject):
        raise ConfigError(f"'{sobject}' is not a Salesforce object API name")
