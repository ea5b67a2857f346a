"""Settings: the config file (`psa-sync.yaml`) loaded once into frozen dataclasses.

Secrets never live in the YAML itself: a value is either `${VAR}` (read from the environment) or
given through a `*_file` key (`api_key_file`, `client_secret_file`, …) naming a file that holds it.
Every problem is collected and reported at once, each reading ``file:line: key.path: message`` as a
mapping's do (both are read through :mod:`sync.yamldoc`), so a person fixes the config in one pass.
Relative paths resolve against the config file's folder, not the current directory, so cron and
systemd behave like an interactive shell.
"""

from __future__ import annotations

import os
from collections.abc import Mapping as MappingABC
from pathlib import Path
from typing import Any

from sync.config.reader import Reader
from sync.config.settings import (
    HttpConfig,
    Limits,
    Metrics,
    PsaConfig,
    Retention,
    SalesforceAuth,
    SalesforceConfig,
    Schedule,
    Settings,
)
from sync.errors import ConfigError
from sync.yamldoc import Problems, load_yaml

DEFAULT_CONFIG_NAME = "psa-sync.yaml"


def find_config(explicit: str | None, environ: MappingABC[str, str]) -> Path:
    """--config, else $PSA_SYNC_CONFIG, else ./psa-sync.yaml."""
    return Path(explicit or environ.get("PSA_SYNC_CONFIG") or DEFAULT_CONFIG_NAME)


_AUTH_NEEDS = {
    "jwt": ("username", "client_id", "private_key_file"),
    "client_credentials": ("client_id", "client_secret"),
    "password": ("username", "password", "client_id", "client_secret"),
}
_SECRET_KEYS = ("client_secret", "password", "security_token")


def _salesforce(r: Reader, raw: dict) -> SalesforceConfig | None:
    at = ("salesforce",)
    sf = r.section(raw, at, {"login_url", "token_url", "audience", "api_version", "auth", "ca_bundle"})
    auth_at = (*at, "auth")
    auth_raw = r.section(sf, auth_at, {"flow", "username", "client_id", "private_key_file",
                                       *_SECRET_KEYS, *(f"{k}_file" for k in _SECRET_KEYS)}) if sf else {}
    flow = r.text(auth_raw, (*auth_at, "flow"), default="jwt")
    if flow not in _AUTH_NEEDS:
        r.problem((*auth_at, "flow"), f"'{flow}' is not one of {', '.join(_AUTH_NEEDS)}")
        return None
    needs = _AUTH_NEEDS[flow]
    secrets = {k: r.secret(auth_raw, (*auth_at, k), required=k in needs) for k in _SECRET_KEYS}
    plain = {k: r.text(auth_raw, (*auth_at, k), required=k in needs)
             for k in ("username", "client_id", "private_key_file")}
    key_file = r.resolve(plain["private_key_file"]) if plain["private_key_file"] else None
    if key_file is not None and flow == "jwt" and not key_file.is_file():
        r.problem((*auth_at, "private_key_file"), f"no such file: {key_file}")
    auth = SalesforceAuth(flow=flow, username=plain["username"], client_id=plain["client_id"],
                          private_key_file=key_file, **secrets)
    login_url = r.text(sf, (*at, "login_url"), required=True) or ""
    if login_url and not login_url.startswith("https://"):
        r.problem((*at, "login_url"), f"'{login_url}' must start with https:// (Salesforce speaks only TLS)")
    ca = r.text(sf, (*at, "ca_bundle"))
    ca_path = r.resolve(ca) if ca else None
    if ca_path is not None and not ca_path.is_file():
        r.problem((*at, "ca_bundle"), f"no such file: {ca_path}")
    return SalesforceConfig(
        login_url=login_url.rstrip("/"), auth=auth,
        api_version=str(r.text(sf, (*at, "api_version"), default="62.0")).lstrip("v"),
        token_url=r.text(sf, (*at, "token_url")), audience=r.text(sf, (*at, "audience")),
        ca_bundle=ca_path,
    )


def _psa(r: Reader, raw: dict) -> PsaConfig | None:
    at = ("psa",)
    psa = r.section(raw, at, {"connector", "url", "api_key", "api_key_file", "options"})
    connector = r.text(psa, (*at, "connector"), default="redmine")
    url = r.text(psa, (*at, "url"), required=True) or ""
    api_key = r.secret(psa, (*at, "api_key"), required=True)
    options = psa.get("options") or {}
    if not isinstance(options, dict):
        r.problem((*at, "options"), "must be a mapping")
        options = {}
    if api_key is None:
        return None
    return PsaConfig(connector=connector, url=url.rstrip("/"), api_key=api_key,
                     options={k: r.interpolate(v, (*at, "options", str(k))) for k, v in options.items()})


def _tuning(r: Reader, raw: dict) -> dict[str, Any]:
    """The optional sections, each key with its default: schedule, limits and http."""
    limits = r.section(raw, ("limits",), {"max_org_api_percent", "max_calls_per_run", "bulk_threshold"},
                       required=False)
    http = r.section(raw, ("http",), {"timeout", "retries"}, required=False)
    return dict(
        schedule=_schedule(r, raw),
        limits=Limits(
            max_org_api_percent=r.number(limits, ("limits", "max_org_api_percent"), 80.0, float),
            max_calls_per_run=r.number(limits, ("limits", "max_calls_per_run"), 5000, int),
            bulk_threshold=r.number(limits, ("limits", "bulk_threshold"), 10_000, int)),
        http=HttpConfig(timeout=r.duration(http, ("http", "timeout"), "30s").total_seconds(),
                        retries=r.number(http, ("http", "retries"), 5, int)),
        **_service(r, raw),
    )


def _schedule(r: Reader, raw: dict) -> Schedule:
    at = ("schedule",)
    sched = r.section(raw, at, {"interval", "hours_interval", "backsync_interval", "backoff_max", "reconcile",
                                "reconcile_repair"}, required=False)
    interval = r.duration(sched, (*at, "interval"), "30s") if "interval" in sched else None
    if interval is not None and 0 < interval.total_seconds() < 1:
        r.problem((*at, "interval"), f"{interval.total_seconds():g}s is too short; the daemon cycles every 1s at most")
    interval = interval or None  # unreadable (reported) or 0: the daemon's default
    return Schedule(interval=interval, hours_interval=r.duration(sched, (*at, "hours_interval"), "1h"),
                    backsync_interval=r.duration(sched, (*at, "backsync_interval"), "5m"),
                    backoff_max=r.duration(sched, (*at, "backoff_max"), "10m"),
                    reconcile=r.at(sched, (*at, "reconcile"), None),
                    reconcile_repair=r.flag(sched, (*at, "reconcile_repair"), False))


def _service(r: Reader, raw: dict) -> dict[str, Any]:
    """What running as a service adds: retention of old runs and events, and Prometheus metrics."""
    keep = r.section(raw, ("retention",), {"runs", "events", "at"}, required=False)
    metrics = r.section(raw, ("metrics",), {"textfile", "port", "address"}, required=False)
    textfile = r.text(metrics, ("metrics", "textfile"))
    port = r.number(metrics, ("metrics", "port"), None, int) if metrics.get("port") is not None else None
    if port is not None and not 0 < port < 65536:
        r.problem(("metrics", "port"), f"{port} is not a TCP port (1-65535)")
    return dict(
        retention=Retention(runs=r.duration(keep, ("retention", "runs"), "30d"),
                            events=r.duration(keep, ("retention", "events"), "365d"),
                            at=r.at(keep, ("retention", "at"), "03:30") or Retention.at),
        metrics=Metrics(textfile=r.resolve(textfile) if textfile else None, port=port,
                        address=str(r.text(metrics, ("metrics", "address"), default="127.0.0.1"))),
    )


def load_settings(path: Path, environ: MappingABC[str, str] | None = None) -> Settings:
    """Read and validate the config file.

    Raises:
        ConfigError: with every problem found, each ``path:line: key.path: message`` (the path
            as given), or a single problem when the file is missing or not YAML.
    """
    environ = os.environ if environ is None else environ
    try:
        doc = load_yaml(Path(path))
    except FileNotFoundError:
        raise ConfigError(f"{path}:1: (file): config file not found (give --config, set PSA_SYNC_CONFIG, "
                          f"or create ./{DEFAULT_CONFIG_NAME})") from None
    r = Reader(Path(path).resolve(), Problems(str(path), doc), environ)
    raw = doc.data or {}
    if not isinstance(raw, dict):
        r.problem((), "the config must be a mapping of sections")
        raise ConfigError(r.problems.items)
    r.unknown(raw, (), {"salesforce", "psa", "mapping", "state", "schedule", "limits", "http", "retention",
                        "metrics"})
    salesforce, psa = _salesforce(r, raw), _psa(r, raw)
    tuning = _tuning(r, raw)
    mapping = r.resolve(r.text(raw, ("mapping",), default="mappings/opportunity_to_project.yaml"))
    state = r.resolve(r.text(raw, ("state",), default="state/psa-sync.sqlite"))
    if not r.problems.items and (salesforce is None or psa is None):
        r.problem((), "incomplete configuration")
    if r.problems.items:
        raise ConfigError(r.problems.items)
    return Settings(path=r.path, salesforce=salesforce, psa=psa, mapping=mapping, state=state, **tuning)
