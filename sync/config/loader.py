"""Settings: the config file (`psa-sync.yaml`) loaded once into frozen dataclasses.

Secrets never live in the YAML itself: a value is either `${VAR}` (read from the environment) or
given through a `*_file` key (`api_key_file`, `client_secret_file`, …) naming a file that holds it.
Every problem is collected and reported at once, each naming the file and the key, so a person fixes
the config in one pass. Relative paths resolve against the config file's folder, not the current
directory, so cron and systemd behave like an interactive shell.
"""

from __future__ import annotations

import os
from collections.abc import Mapping as MappingABC
from pathlib import Path
from typing import Any

import yaml

from sync.config.reader import Reader, parse_duration
from sync.config.settings import (
    HttpConfig,
    Limits,
    PsaConfig,
    SalesforceAuth,
    SalesforceConfig,
    Schedule,
    Settings,
)
from sync.errors import ConfigError

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
    sf = r.section(raw, "salesforce", {"login_url", "token_url", "audience", "api_version", "auth", "ca_bundle"})
    auth_raw = r.section(sf, "auth", {"flow", "username", "client_id", "private_key_file",
                                      *_SECRET_KEYS, *(f"{k}_file" for k in _SECRET_KEYS)}) if sf else {}
    flow = r.text(auth_raw, "flow", "salesforce.auth", default="jwt")
    if flow not in _AUTH_NEEDS:
        r.problem("salesforce.auth.flow", f"'{flow}' is not one of {', '.join(_AUTH_NEEDS)}")
        return None
    needs = _AUTH_NEEDS[flow]
    secrets = {k: r.secret(auth_raw, k, "salesforce.auth", required=k in needs) for k in _SECRET_KEYS}
    plain = {k: r.text(auth_raw, k, "salesforce.auth", required=k in needs)
             for k in ("username", "client_id", "private_key_file")}
    key_file = r.resolve(plain["private_key_file"]) if plain["private_key_file"] else None
    if key_file is not None and flow == "jwt" and not key_file.is_file():
        r.problem("salesforce.auth.private_key_file", f"no such file: {key_file}")
    auth = SalesforceAuth(flow=flow, username=plain["username"], client_id=plain["client_id"],
                          private_key_file=key_file, **secrets)
    login_url = r.text(sf, "login_url", "salesforce", required=True) or ""
    if login_url and not login_url.startswith("https://"):
        r.problem("salesforce.login_url", f"'{login_url}' must start with https:// (Salesforce speaks only TLS)")
    ca = r.text(sf, "ca_bundle", "salesforce")
    ca_path = r.resolve(ca) if ca else None
    if ca_path is not None and not ca_path.is_file():
        r.problem("salesforce.ca_bundle", f"no such file: {ca_path}")
    return SalesforceConfig(
        login_url=login_url.rstrip("/"), auth=auth,
        api_version=str(r.text(sf, "api_version", "salesforce", default="62.0")).lstrip("v"),
        token_url=r.text(sf, "token_url", "salesforce"), audience=r.text(sf, "audience", "salesforce"),
        ca_bundle=ca_path,
    )


def _psa(r: Reader, raw: dict) -> PsaConfig | None:
    psa = r.section(raw, "psa", {"connector", "url", "api_key", "api_key_file", "options"})
    connector = r.text(psa, "connector", "psa", default="redmine")
    url = r.text(psa, "url", "psa", required=True) or ""
    api_key = r.secret(psa, "api_key", "psa", required=True)
    options = psa.get("options") or {}
    if not isinstance(options, dict):
        r.problem("psa.options", "must be a mapping")
        options = {}
    if api_key is None:
        return None
    return PsaConfig(connector=connector, url=url.rstrip("/"), api_key=api_key,
                     options={k: r.interpolate(v, f"psa.options.{k}") for k, v in options.items()})


def _number(r: Reader, raw: dict, key: str, where: str, default: float, kind: type) -> Any:
    value = raw.get(key, default)
    try:
        return kind(value)
    except (TypeError, ValueError):
        r.problem(f"{where}.{key}", f"'{value}' is not a number")
        return default


def load_settings(path: Path, environ: MappingABC[str, str] | None = None) -> Settings:
    """Read and validate the config file; raise ConfigError listing every problem."""
    environ = os.environ if environ is None else environ
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (give --config, set PSA_SYNC_CONFIG, "
                          f"or create ./{DEFAULT_CONFIG_NAME})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping of sections")
    r = Reader(path.resolve(), environ)
    allowed = {"salesforce", "psa", "mapping", "state", "schedule", "limits", "http"}
    for unknown in sorted(set(raw) - allowed):
        r.problem(unknown, f"unknown key; valid keys: {', '.join(sorted(allowed))}")
    salesforce, psa = _salesforce(r, raw), _psa(r, raw)
    sched = r.section(raw, "schedule", {"interval", "hours_interval"}, required=False)
    limits = r.section(raw, "limits", {"max_org_api_percent", "max_calls_per_run"}, required=False)
    http = r.section(raw, "http", {"timeout", "retries"}, required=False)
    settings_kw = dict(
        schedule=Schedule(
            interval=parse_duration(sched.get("interval", "2m"), f"{path}: schedule.interval", r.problems),
            hours_interval=parse_duration(sched.get("hours_interval", "1h"),
                                          f"{path}: schedule.hours_interval", r.problems)),
        limits=Limits(
            max_org_api_percent=_number(r, limits, "max_org_api_percent", "limits", 80.0, float),
            max_calls_per_run=_number(r, limits, "max_calls_per_run", "limits", 5000, int)),
        http=HttpConfig(
            timeout=parse_duration(http.get("timeout", "30s"), f"{path}: http.timeout", r.problems)
            .total_seconds(),
            retries=_number(r, http, "retries", "http", 5, int)),
    )
    mapping = r.resolve(r.text(raw, "mapping", "(top)", default="mappings/opportunity_to_project.yaml"))
    state = r.resolve(r.text(raw, "state", "(top)", default="state/psa-sync.sqlite"))
    if r.problems or salesforce is None or psa is None:
        raise ConfigError(r.problems or [f"{path}: incomplete configuration"])
    return Settings(path=r.path, salesforce=salesforce, psa=psa, mapping=mapping, state=state, **settings_kw)
