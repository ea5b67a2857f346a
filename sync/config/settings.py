"""The settings psa-sync runs with: frozen dataclasses, and Secret, which never shows its value.

They hold values already checked and resolved (paths absolute, durations as ``timedelta``), so the
rest of the code trusts them and never reads the YAML; :mod:`sync.config.loader` builds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sync.common.logs import register_secret
from sync.ops.forecast.config import ForecastConfig


class Secret:
    """A secret value whose repr and str never show it (logs, tracebacks, `status`)."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value
        register_secret(value)  # from the moment it is read, no log line or printed error shows it

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class SalesforceAuth:
    flow: str  # jwt | client_credentials | password
    username: str | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    private_key_file: Path | None = None
    password: Secret | None = None
    security_token: Secret | None = None


@dataclass(frozen=True)
class SalesforceConfig:
    login_url: str
    auth: SalesforceAuth
    api_version: str = "62.0"
    token_url: str | None = None
    audience: str | None = None
    ca_bundle: Path | None = None

    @property
    def resolved_token_url(self) -> str:
        return self.token_url or self.login_url.rstrip("/") + "/services/oauth2/token"

    @property
    def resolved_audience(self) -> str:
        """JWT `aud`: the login or test host, even when the token endpoint is a My Domain."""
        if self.audience:
            return self.audience
        if (
            "test.salesforce.com" in self.login_url
            or ".sandbox.my.salesforce.com" in self.login_url
        ):
            return "https://test.salesforce.com"
        if self.login_url.rstrip("/").endswith(".salesforce.com"):
            return "https://login.salesforce.com"
        return self.login_url.rstrip("/")


@dataclass(frozen=True)
class PsaConfig:
    connector: str
    url: str
    api_key: Secret
    options: dict[str, Any] = field(default_factory=dict)


#: The fewest Salesforce data calls a run can make progress with: one query page and one write-back.
#: A smaller cap stops every run before its first commit (exit 4), forever.
MIN_CALLS_PER_RUN = 2


@dataclass(frozen=True)
class Limits:
    max_org_api_percent: float = 80.0  # in (0, 100]: 0 stops every run, over 100 protects nothing
    max_calls_per_run: int = 5000  # at least MIN_CALLS_PER_RUN
    bulk_threshold: int = (
        10_000  # a backfill above this many rows reads through one Bulk API 2.0 job
    )


@dataclass(frozen=True)
class At:
    """A time of day (UTC) on some days of the week, as APScheduler's cron fields take them:
    ``day_of_week`` is ``*`` (every day), ``sun`` or ``mon-fri``."""

    day_of_week: str
    hour: int
    minute: int

    def __str__(self) -> str:
        days = "daily" if self.day_of_week == "*" else self.day_of_week
        return f"{days} {self.hour:02d}:{self.minute:02d} UTC"


#: How often the daemon cycles when ``schedule.interval`` is not given (cron and the timer keep
#: their own).
DAEMON_INTERVAL = timedelta(seconds=30)


@dataclass(frozen=True)
class Schedule:
    interval: timedelta | None = None  # the daemon's cycle; None: DAEMON_INTERVAL
    hours_interval: timedelta = timedelta(hours=1)
    # delivery values are read at most this often
    backsync_interval: timedelta = timedelta(minutes=5)
    # the longest pause of a daemon after failing cycles
    backoff_max: timedelta = timedelta(minutes=10)
    reconcile: At | None = None  # the daemon's reconcile job, if any
    reconcile_repair: bool = False

    @property
    def cycle(self) -> timedelta:
        return self.interval or DAEMON_INTERVAL


@dataclass(frozen=True)
class Retention:
    """What the state file keeps: runs and events younger than these; the events of a deal that
    still has a link or a quarantine entry always (its audit trail)."""

    runs: timedelta = timedelta(days=30)
    events: timedelta = timedelta(days=365)
    at: At = At("*", 3, 30)  # the daemon applies it nightly


@dataclass(frozen=True)
class Metrics:
    textfile: Path | None = None  # rewritten after every run (node_exporter's textfile collector)
    port: int | None = None  # the daemon serves /metrics here
    address: str = "127.0.0.1"


#: Salesforce's global Pub/Sub API endpoint (host:port; 443 serves it too, for firewalls that close
#: 7443).
PUBSUB_ENDPOINT = "api.pubsub.salesforce.com:7443"


@dataclass(frozen=True)
class Events:
    """The daemon's event path (``events:``, issue 24): Change Data Capture over the Pub/Sub API,
    with the poll kept as the safety net, every ``safety_poll`` while the stream is healthy."""

    enabled: bool = False
    topic: str = "/data/OpportunityChangeEvent"
    line_items_topic: str | None = (
        None  # e.g. /data/OpportunityLineItemChangeEvent (structure: line items)
    )
    # host:port, always TLS (salesforce.ca_bundle is trusted as for REST)
    pubsub_url: str = PUBSUB_ENDPOINT
    safety_poll: timedelta = timedelta(hours=1)  # the poll while the stream is healthy
    # no message this long: the stream counts as down
    stale_after: timedelta = timedelta(minutes=10)
    #: The org's daily delivery allocation when its token cannot read REST ``/limits`` (``status``).
    daily_allocation: int | None = None


@dataclass(frozen=True)
class HttpConfig:
    timeout: float = 30.0
    retries: int = 5


@dataclass(frozen=True)
class Settings:
    path: Path
    salesforce: SalesforceConfig
    psa: PsaConfig
    mapping: Path
    state: Path
    schedule: Schedule = Schedule()
    limits: Limits = Limits()
    http: HttpConfig = HttpConfig()
    retention: Retention = Retention()
    metrics: Metrics = Metrics()
    forecast: ForecastConfig | None = None  # psa-sync forecast (sync/ops/forecast/config.py)
    events: Events = Events()  # the daemon's Change Data Capture (sync/events/)

    @property
    def lock_path(self) -> Path:
        return self.state.with_name(self.state.name + ".lock")

    @property
    def daemon_lock_path(self) -> Path:
        """The daemon's single-instance lock, held for its life (the run lock is held per cycle)."""
        return self.state.with_name(self.state.name + ".daemon.lock")
