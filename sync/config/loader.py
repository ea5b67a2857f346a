"""Settings: the config file (`psa-sync.yaml`) loaded once into frozen dataclasses.

Secrets never live in the YAML itself: a value is either `${VAR}` (read from the environment) or
given through a `*_file` key (`api_key_file`, `client_secret_file`, …) naming a file that holds it.
Every problem is collected and reported at once, each reading ``file:line: key.path: message`` as a
mapping's do (both are read through :mod:`sync.common.yamldoc`), so a person fixes the config in
one pass. Relative paths resolve against the config file's folder, not the current directory, so
cron and systemd behave like an interactive shell.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping as MappingABC
from pathlib import Path

from sync.common.errors import ConfigError
from sync.common.problems import Problems, kind_of
from sync.common.yamldoc import KeyPath, load_yaml
from sync.config.events import parse_events
from sync.config.reader import Reader
from sync.config.settings import (
    PsaConfig,
    SalesforceAuth,
    SalesforceConfig,
    Settings,
)
from sync.config.tuning import parse_tuning
from sync.config.urls import url_problem
from sync.connectors.psa.base import known_connectors
from sync.ops.forecast.config import parse_forecast

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
DEFAULT_API_VERSION = "62.0"
_API_VERSION = re.compile(r"\d+\.\d+")


def _salesforce(r: Reader, raw: dict) -> SalesforceConfig | None:
    at = ("salesforce",)
    sf = r.section(
        raw, at, {"login_url", "token_url", "audience", "api_version", "auth", "ca_bundle"}
    )
    auth_at = (*at, "auth")
    auth_raw = r.section(
        sf,
        auth_at,
        {
            "flow",
            "username",
            "client_id",
            "private_key_file",
            *_SECRET_KEYS,
            *(f"{k}_file" for k in _SECRET_KEYS),
        },
    )
    flow = r.text(auth_raw, (*auth_at, "flow"), default="jwt")
    if flow not in _AUTH_NEEDS:
        if flow is not None:
            r.problem((*auth_at, "flow"), f"'{flow}' is not one of {', '.join(_AUTH_NEEDS)}")
        return None
    needs = _AUTH_NEEDS[flow]
    secrets = {k: r.secret(auth_raw, (*auth_at, k), required=k in needs) for k in _SECRET_KEYS}
    plain = {
        k: r.text(auth_raw, (*auth_at, k), required=k in needs) for k in ("username", "client_id")
    }
    key_file = r.file_path(
        auth_raw, (*auth_at, "private_key_file"), required="private_key_file" in needs
    )
    if key_file is not None and flow == "jwt" and not key_file.is_file():
        r.problem((*auth_at, "private_key_file"), f"no such file: {key_file}")
    auth = SalesforceAuth(flow=flow, private_key_file=key_file, **plain, **secrets)
    login_url = _url(r, sf, (*at, "login_url"), required=True) or ""
    ca_path = r.file_path(sf, (*at, "ca_bundle"))
    if ca_path is not None and not ca_path.is_file():
        r.problem((*at, "ca_bundle"), f"no such file: {ca_path}")
    return SalesforceConfig(
        login_url=login_url.rstrip("/"),
        auth=auth,
        api_version=_api_version(r, sf, (*at, "api_version")),
        token_url=_url(r, sf, (*at, "token_url")),
        audience=r.text(sf, (*at, "audience")),
        ca_bundle=ca_path,
    )


def _url(r: Reader, raw: dict, where: KeyPath, required: bool = False) -> str | None:
    """A URL credentials are sent to (see :mod:`sync.config.urls`); None when absent or refused."""
    url = r.text(raw, where, required=required)
    if url is None:
        return None
    psa = where[0] == "psa"
    problem = url_problem(
        url,
        http_on_loopback=psa,
        why_tls="the API key travels in a header of every request"
        if psa
        else "Salesforce speaks only TLS",
        secrets_hint="api_key / ${VAR}" if psa else "the auth section / ${VAR}",
    )
    if problem:
        r.problem(where, problem)
        return None
    return url


def _api_version(r: Reader, sf: dict, where: KeyPath) -> str:
    """``62.0`` (quoted or not; ``v62.0`` and a bare ``62`` too): it becomes part of every API
    URL."""
    value = r.interpolate(sf.get("api_version", "62.0"), where)
    if value is None:
        return DEFAULT_API_VERSION
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        r.problem(where, f'must be an API version such as "62.0", not {kind_of(value)}')
        return DEFAULT_API_VERSION
    text = f"{value}.0" if isinstance(value, int) else str(value).strip().lstrip("v")
    if not _API_VERSION.fullmatch(text):
        r.problem(where, f'{value!r} is not an API version such as "62.0"')
        return DEFAULT_API_VERSION
    return text


def _psa(r: Reader, raw: dict) -> PsaConfig | None:
    at = ("psa",)
    psa = r.section(raw, at, {"connector", "url", "api_key", "api_key_file", "options"})
    connector = r.text(psa, (*at, "connector"), default="redmine", required=True)
    if connector is not None and connector not in known_connectors():
        r.problem(
            (*at, "connector"),
            f"unknown connector {connector!r}; choose one of: {', '.join(known_connectors())}",
        )
        connector = None
    url = _url(r, psa, (*at, "url"), required=True) or ""
    api_key = r.secret(psa, (*at, "api_key"), required=True)
    options = psa.get("options")
    if options is not None and not isinstance(options, dict):
        r.problem((*at, "options"), f"must be a mapping, not {kind_of(options)}")
    options = options if isinstance(options, dict) else {}
    for name in options:  # the connector checks names and values; they must at least be names
        if not isinstance(name, str):
            r.problem((*at, "options", str(name)), "an option name must be text")
    if api_key is None or connector is None:
        return None
    return PsaConfig(
        connector=connector,
        url=url.rstrip("/"),
        api_key=api_key,
        options={k: r.interpolate(v, (*at, "options", str(k))) for k, v in options.items()},
    )


def load_settings(path: Path, environ: MappingABC[str, str] | None = None) -> Settings:
    """Read and validate the config file.

    Raises:
        ConfigError: with every problem found, each ``path:line: key.path: message`` (the path
            as given), or a single problem when the file is missing, unreadable, not UTF-8 or not
            YAML.
    """
    environ = os.environ if environ is None else environ
    try:
        doc = load_yaml(Path(path), "config")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}:1: (file): config file not found (give --config, set PSA_SYNC_CONFIG, "
            f"or create ./{DEFAULT_CONFIG_NAME})"
        ) from None
    r = Reader(Path(path).resolve(), Problems(str(path), doc), environ)
    if () in doc.unreadable:  # the whole document is one bad value: that problem is all to say
        raise ConfigError(r.problems.items)
    raw = {} if doc.data is None else doc.data
    if not isinstance(raw, dict):
        r.problem((), "the config must be a mapping of sections")
        raise ConfigError(r.problems.items)
    r.unknown(
        raw,
        (),
        {
            "salesforce",
            "psa",
            "mapping",
            "state",
            "schedule",
            "limits",
            "http",
            "retention",
            "metrics",
            "forecast",
            "events",
        },
    )
    salesforce, psa = _salesforce(r, raw), _psa(r, raw)
    tuning = parse_tuning(r, raw)
    tuning["forecast"] = parse_forecast(r, raw)
    tuning["events"] = parse_events(r, raw)
    mapping = r.file_path(
        raw, ("mapping",), default="mappings/opportunity_to_project.yaml", required=True
    )
    state = r.file_path(raw, ("state",), default="state/psa-sync.sqlite", required=True)
    if not r.problems.items and None in (salesforce, psa, mapping, state):
        r.problem((), "incomplete configuration")
    if r.problems.items:
        raise ConfigError(r.problems.items)
    return Settings(
        path=r.path, salesforce=salesforce, psa=psa, mapping=mapping, state=state, **tuning
    )
