"""Settings: the config file (`psa-sync.yaml`) loaded once into frozen dataclasses.

Secrets never live in the YAML itself: a value is either `${VAR}` (read from the environment) or
given through a `*_file` key (`api_key_file`, `client_secret_file`, …) naming a file that holds it.
Every problem is collected and reported at once, each naming the file and the key, so a person fixes
the config in one pass. Relative paths resolve against the config file's folder, not the current
directory, so cron and systemd behave like an interactive shell.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from sync.errors import ConfigError

DEFAULT_CONFIG_NAME = "psa-sync.yaml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Secret:
    """A secret value whose repr and str never show it (logs, tracebacks, `status`)."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

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
        if "test.salesforce.com" in self.login_url or ".sandbox.my.salesforce.com" in self.login_url:
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


@dataclass(frozen=True)
class Limits:
    max_org_api_percent: float = 80.0
    max_calls_per_run: int = 5000


@dataclass(frozen=True)
class Schedule:
    interval: timedelta = timedelta(minutes=2)
    hours_interval: timedelta = timedelta(hours=1)


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

    @property
    def lock_path(self) -> Path:
        return self.state.with_name(self.state.name + ".lock")


def find_config(explicit: str | None, environ: MappingABC[str, str]) -> Path:
    """--config, else $PSA_SYNC_CONFIG, else ./psa-sync.yaml."""
    return Path(explicit or environ.get("PSA_SYNC_CONFIG") or DEFAULT_CONFIG_NAME)


def parse_duration(text: Any, where: str, problems: list[str]) -> timedelta:
    """`30s`, `10m`, `2h`, `1d` (or a bare number of seconds; `0` is allowed)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return timedelta(seconds=float(text))
    match = _DURATION.match(str(text))
    if not match:
        problems.append(f"{where}: '{text}' is not a duration; write <number><s|m|h|d>, e.g. 10m")
        return timedelta(0)
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


class _Reader:
    """Walks the raw YAML, interpolating `${VAR}`, and records every problem with its key path."""

    def __init__(self, path: Path, environ: MappingABC[str, str]):
        self.path = path
        self.environ = environ
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}: {key}: {message}")

    def section(self, raw: dict, key: str, allowed: set[str], required: bool = True) -> dict:
        value = raw.get(key)
        if value is None:
            if required:
                self.problem(key, "missing section")
            return {}
        if not isinstance(value, dict):
            self.problem(key, "must be a mapping")
            return {}
        for unknown in sorted(set(value) - allowed):
            self.problem(f"{key}.{unknown}", f"unknown key; valid keys: {', '.join(sorted(allowed))}")
        return value

    def text(self, raw: dict, key: str, where: str, default: Any = None, required: bool = False) -> Any:
        value = raw.get(key, default)
        if value is None:
            if required:
                self.problem(f"{where}.{key}", "missing")
            return None
        return self.interpolate(value, f"{where}.{key}")

    def interpolate(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            return value

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name not in self.environ:
                self.problem(where, f"environment variable {name} is not set")
                return ""
            return self.environ[name]

        return _ENV_REF.sub(replace, value)

    def secret(self, raw: dict, key: str, where: str, required: bool) -> Secret | None:
        """A secret from `${VAR}` or from `<key>_file`; a literal in the YAML is refused."""
        literal, file_key = raw.get(key), f"{key}_file"
        if literal is not None and not (isinstance(literal, str) and _ENV_REF.fullmatch(literal.strip())):
            self.problem(f"{where}.{key}", f"secrets may not be written in the file; use ${{VAR}} or {file_key}")
            return None
        if literal is not None:
            value = self.interpolate(literal.strip(), f"{where}.{key}")
            return Secret(value) if value else None
        if raw.get(file_key) is not None:
            secret_path = self.resolve(self.interpolate(raw[file_key], f"{where}.{file_key}"))
            try:
                return Secret(secret_path.read_text().strip())
            except OSError as exc:
                self.problem(f"{where}.{file_key}", f"cannot read {secret_path}: {exc.strerror}")
                return None
        if required:
            self.problem(f"{where}.{key}", f"missing; give ${{VAR}} or {file_key}")
        return None

    def resolve(self, value: str | Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.path.parent / path)


_AUTH_NEEDS = {
    "jwt": ("username", "client_id", "private_key_file"),
    "client_credentials": ("client_id", "client_secret"),
    "password": ("username", "password", "client_id", "client_secret"),
}
_SECRET_KEYS = ("client_secret", "password", "security_token")


def _salesforce(r: _Reader, raw: dict) -> SalesforceConfig | None:
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


def _psa(r: _Reader, raw: dict) -> PsaConfig | None:
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


def _number(r: _Reader, raw: dict, key: str, where: str, default: float, kind: type) -> Any:
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
    r = _Reader(path.resolve(), environ)
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
