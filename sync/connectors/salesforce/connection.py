"""A connection to one Salesforce org: its token, its API budget, and the one guarded data call.

Every call of :class:`~sync.connectors.salesforce.client.SalesforceClient` (and of a Bulk query job)
goes through :meth:`SalesforceConnection._call`: the budget guard first, then the call, with one
re-authentication on ``INVALID_SESSION_ID``, ``UNABLE_TO_LOCK_ROW`` retried with backoff for an
idempotent call, a redirect or a transport failure reported, every other refusal translated into
``sync.common.errors``, and the body held against its shape (the client's module docstring).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from sync.common.clock import utcnow
from sync.common.errors import (
    AuthError,
    BudgetExceededError,
    ConfigError,
    SalesforceUnavailable,
    SyncError,
)
from sync.common.logs import register_secret
from sync.config import SalesforceConfig
from sync.connectors.answers import NOT_JSON, Shape, checked, endpoint, redirect_target, said_by
from sync.connectors.http import certificate_rejected
from sync.connectors.salesforce import bulk
from sync.connectors.salesforce.auth import TokenGrant, request_token, untrusted_certificate_message
from sync.connectors.salesforce.errors import RESUMES, first_error, translate
from sync.connectors.salesforce.usage import ApiUsage, budget_problem

log = logging.getLogger(__name__)

T = TypeVar("T")
LOCK_RETRIES = 3
LOCK_BACKOFF_SECONDS = 0.5


class SalesforceConnection:
    """The token, the budget and the guarded call path of one org, for one run or many."""

    def __init__(
        self,
        config: SalesforceConfig,
        session: requests.Session,
        *,
        max_org_api_percent: float = 80.0,
        max_calls_per_run: int = 5000,
        now: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        lock_retries: int = LOCK_RETRIES,
        bulk_max_wait: float = bulk.MAX_WAIT_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self.session = session
        self.max_org_api_percent = max_org_api_percent
        self.max_calls_per_run = max_calls_per_run
        self.usage = ApiUsage()
        self._now = now
        self._sleep = sleep
        self._lock_retries = lock_retries
        self.bulk_max_wait = bulk_max_wait  # seconds a Bulk query job may keep us waiting
        self._describes: dict[str, dict] = {}
        self._grant: TokenGrant | None = None
        self.sf: Salesforce | None = None
        self.org_id: str = ""
        self.instance_url: str = ""
        self.server_time: datetime | None = None
        self._last: requests.Response | None = (
            None  # the latest answer, quoted when it is unreadable
        )
        self._monotonic = monotonic
        self._last_date: tuple[datetime, float] | None = (
            None  # the latest Date header, and when it came
        )
        session.hooks["response"].append(self._on_response)

    # --- connection ------------------------------------------------------------------------------

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last = response
        endpoint = self.usage.record(response)
        try:
            self._last_date = (
                parsedate_to_datetime(response.headers["Date"]).astimezone(UTC),
                self._monotonic(),
            )
        except (KeyError, TypeError, ValueError):
            pass
        log.debug(
            "salesforce: %s -> %s (this run: %d data calls; org %s/%s)",
            endpoint,
            response.status_code,
            self.usage.total,
            self.usage.org_used,
            self.usage.org_max,
        )

    def connect(self) -> None:
        """Request a token and build the client; sets org_id, instance_url and server_time."""
        grant = self._authenticate()
        self.server_time = grant.server_time or self._now()
        if grant.server_time is None:
            log.warning("salesforce: the token response had no Date header; using the local clock")

    def new_run(self) -> None:
        """Another run on this connection, with no call: its own ``max_calls_per_run``, and
        ``server_time`` moved to Salesforce's clock now — the latest response's ``Date`` plus the
        time since it came (our monotonic clock measures only the interval, never the time of day).
        This is how the daemon keeps one token across its cycles."""
        self.usage.begin_run()
        if self._last_date is not None:
            date, at = self._last_date
            self.server_time = date + timedelta(seconds=max(0.0, self._monotonic() - at))
        window = getattr(self.session, "retry_window", None)
        if window is not None:
            window.restart()

    @property
    def grant(self) -> TokenGrant | None:
        """The current token (the event path sends it as gRPC metadata); None before ``connect``."""
        return self._grant

    def refresh_token(self) -> None:
        """A new token now: the Pub/Sub stream said the one it had expired (one token request)."""
        self._authenticate()

    def _authenticate(self) -> TokenGrant:
        grant = request_token(self.config, self.session, self._now, self._sleep)
        register_secret(grant.access_token, session_of="salesforce")  # a bearer token is a password
        self._grant = grant
        self.org_id = grant.org_id
        self.instance_url = grant.instance_url
        self.sf = Salesforce(
            instance_url=grant.instance_url,
            session_id=grant.access_token,
            session=self.session,
            version=self.config.api_version,
            object_pairs_hook=dict,
        )
        return grant

    # --- the budget guard ------------------------------------------------------------------------

    def _budget_problem(self) -> str | None:
        return budget_problem(self.usage, self.max_calls_per_run, self.max_org_api_percent)

    def budget_left(
        self,
    ) -> bool:  # False when the next data call would pass a limit (the run stops first)
        return self._budget_problem() is None

    def _guard(self) -> None:
        problem = self._budget_problem()
        if problem:
            raise BudgetExceededError(
                f"stopped to protect the Salesforce API budget: {problem}; {RESUMES}"
            )

    # --- one data call, with re-auth, lock retries and translation --------------------------------

    def _call(
        self,
        endpoint: str,
        send: Callable[[Salesforce], T],
        *,
        shape: Shape,
        idempotent: bool = True,
    ) -> T:
        """``send`` via the budget guard, re-authentication, lock retries; its body of ``shape``."""
        if self.sf is None:
            raise RuntimeError("SalesforceClient.connect() must be called first")
        reauthenticated = False
        lock_attempts = 0
        while True:
            self._guard()
            body: object  # what send answered, or NOT_JSON
            try:
                body = send(self.sf)
            except SalesforceError as exc:
                if 300 <= exc.status < 400:
                    raise self._redirected(endpoint) from None
                code, _ = first_error(exc)
                if exc.status == 401 and code == "INVALID_SESSION_ID" and not reauthenticated:
                    log.info(
                        "salesforce: session expired during %s; re-authenticating once", endpoint
                    )
                    self._authenticate()
                    reauthenticated = True
                    continue
                if (
                    code == "UNABLE_TO_LOCK_ROW"
                    and idempotent
                    and lock_attempts < self._lock_retries
                ):
                    lock_attempts += 1
                    delay = LOCK_BACKOFF_SECONDS * 2 ** (lock_attempts - 1)
                    self._sleep(delay + random.uniform(0, delay))
                    continue
                raise self._translate(exc, endpoint, reauthenticated) from None
            except (
                ValueError
            ):  # simple-salesforce parsed the body: a proxy's page, a body cut short
                body = NOT_JSON
            except requests.RequestException as exc:
                if certificate_rejected(exc):
                    raise ConfigError(untrusted_certificate_message(self.instance_url)) from None
                raise SalesforceUnavailable(
                    f"Salesforce {endpoint} call failed ({type(exc).__name__}) after "
                    f"retries; {RESUMES}"
                ) from None
            return checked(
                body,
                shape,
                said=self._said(endpoint),
                raw=self._last.content if self._last else None,
                error=lambda problem: SalesforceUnavailable(f"{problem}; {RESUMES}"),
            )

    def _redirected(self, name: str) -> SalesforceUnavailable:
        """A 3xx (never followed, ``sync.connectors.http``): say where it pointed."""
        last = self._last
        where = (
            f"{endpoint(last.request.method, last.request.url)} to {redirect_target(last)}"
            if last
            else name
        )
        return SalesforceUnavailable(
            f"Salesforce redirected {where}; the instance URL of the token response must "
            f"be the final URL (a redirect is never followed with the token); {RESUMES}"
        )

    def _said(self, endpoint: str) -> str:
        if self._last is None:
            return f"Salesforce answered the {endpoint} call"
        return said_by("Salesforce", self._last)

    def _translate(self, exc: SalesforceError, endpoint: str, reauthenticated: bool) -> SyncError:
        code, _ = first_error(exc)
        if exc.status == 401 and code == "INVALID_SESSION_ID" and endpoint == "queryMore":
            # A query cursor belongs to the session that opened it: a new token cannot continue it.
            return SalesforceUnavailable(
                f"the query cursor did not survive re-authentication; {RESUMES}"
            )
        if exc.status == 401 and code == "INVALID_SESSION_ID":
            return AuthError(
                "Salesforce refused a fresh session (401 INVALID_SESSION_ID after "
                "re-authenticating); check the connected app's session policies and IP ranges"
            )
        return translate(exc, endpoint)
