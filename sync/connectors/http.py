"""The one `requests.Session` factory both connectors use (Salesforce and the PSA).

Why a factory and not `requests.Session()` at each call site:

- **Timeouts.** requests has no default timeout, so one silent peer hangs a cron run forever. The
  session injects ``timeout`` into every request that does not give its own.
- **Retries only where safe.** urllib3's ``Retry`` retries connection and read errors and
  500/502/503/504 with exponential backoff and jitter, honouring ``Retry-After`` (capped), but
  only for idempotent methods (GET, HEAD, PUT, DELETE, PATCH, OPTIONS). PATCH by Id and the sObject
  Collections update are idempotent; a POST (a create, a token request) is never re-sent, because
  a lost answer could mean it was applied. Statuses are returned, never raised, so each connector
  translates them into our own errors with the body it can read.
- **Retries have a per-run time bound.** ``retries`` bounds one request; with a 30 s timeout and
  growing backoff that is minutes per call, and a sick peer would stretch a cron run for hours.
  A session lives for one run, so it carries a ``RetryWindow``: once ``retry_window`` seconds
  have passed since it was built, a failed call fails at once (the run stops, exit 3, and resumes
  from its last committed page next time), and no backoff sleeps past the window's end.
- **Redirects are never followed.** requests keeps every header but ``Authorization`` when it
  follows a redirect to another host (``Session.rebuild_auth``), so ``X-Redmine-API-Key`` would go
  to whatever host a ``Location`` names, and a 307 re-sends a token request's form with its secret.
  Every request goes out with ``allow_redirects=False``; a connector reports a 3xx as its
  "unavailable" error naming the target (``answers.redirect_target``): the configured URL must be
  the final one.
- **The CA bundle really applies.** requests lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``
  override ``Session.verify`` (``merge_environment_settings``), and both are set on our machines
  and on many corporate ones. When ``ca_bundle`` is given we write a combined bundle (the CAs the
  machine already trusts + the extra ones) to a private temp file and pin ``verify`` to it after
  the environment is merged. TLS verification can never be switched off: ``verify=False`` anywhere
  raises.
- **No proxy for loopback.** requests sends a request through ``http_proxy`` / ``https_proxy`` /
  ``ALL_PROXY`` unless ``NO_PROXY`` names the host, so on a machine with a proxy set a plain
  ``http://127.0.0.1`` PSA URL (the one place plain http is allowed, ``sync.config.urls``) would
  hand the Redmine key or the Tryton password in clear to the proxy. A request to a loopback host
  never takes a proxy, whatever the environment or the caller says; other hosts keep theirs
  (a corporate proxy tunnels https, which stays end to end).
"""

from __future__ import annotations

import logging
import os
import shutil
import ssl
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import certifi
import requests
from requests.adapters import HTTPAdapter

from sync import __version__
from sync.common.errors import ConfigError, TlsVerificationRequired
from sync.config.urls import is_loopback
from sync.connectors.retries import DEFAULT_RETRY_WINDOW_SECONDS, RetryWindow, retry_policy

if TYPE_CHECKING:  # the stubs' own names for what merge_environment_settings takes and returns
    from requests.sessions import _Cert, _Settings, _TextMapping, _Verify

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = f"psa-sync/{__version__}"


class _HideQueryStrings(logging.Filter):
    """urllib3 logs request URLs (retries, debug); ours carry SOQL in ``?q=``: keep the path."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(_cut_query(a) if isinstance(a, str) else a for a in args)
        return True


def _cut_query(text: str) -> str:
    return text.split("?", 1)[0] + "?…" if "?" in text else text


_URLLIB3_LOG_FILTER = _HideQueryStrings()


def hide_query_strings_in_urllib3_logs() -> None:
    """Idempotent: install the filter on the urllib3 loggers that print request URLs."""
    for name in ("urllib3.connectionpool", "urllib3.util.retry"):
        logger = logging.getLogger(name)
        if _URLLIB3_LOG_FILTER not in logger.filters:
            logger.addFilter(_URLLIB3_LOG_FILTER)


def certificate_rejected(exc: BaseException) -> bool:
    """True when a request failed because the server's TLS certificate is not trusted.

    That needs a person (``ca_bundle``, a proxy's CA), not a retry, so connectors report it as a
    configuration problem. requests buries the ssl error under urllib3 wrappers: walk them.
    """
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLCertVerificationError):
            return True
        stack.extend([*item.args, getattr(item, "reason", None), item.__cause__, item.__context__])
    return False


class SyncSession(requests.Session):
    """A Session with a default timeout, no redirects, a CA bundle the environment cannot change."""

    def __init__(self, *, timeout: float, pinned_ca: str | None):
        super().__init__()
        self.default_timeout = timeout
        self.pinned_ca = pinned_ca
        self.retry_window: RetryWindow | None = None  # set by build_session
        if pinned_ca is not None:
            self.verify = pinned_ca

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        if kwargs.get("verify") is False:
            raise TlsVerificationRequired(
                "TLS verification cannot be turned off; give ca_bundle instead"
            )
        kwargs["allow_redirects"] = (
            False  # credentials must never follow a Location (module docstring)
        )
        return super().request(method, url, *args, **kwargs)

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: _TextMapping | None,
        stream: bool | None,
        verify: _Verify | None,
        cert: _Cert | None,
    ) -> _Settings:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        text = url.decode() if isinstance(url, bytes) else url or ""
        if is_loopback(urlsplit(text).hostname or ""):
            settings["proxies"] = {}  # the module docstring: a proxy would see the key in clear
        if self.pinned_ca is not None:
            settings["verify"] = self.pinned_ca
        if self.verify is False or settings.get("verify") is False:
            raise TlsVerificationRequired(
                "TLS verification cannot be turned off; give ca_bundle instead"
            )
        return settings


def trusted_base_bundle() -> Path:
    """The CAs this machine already trusts: the environment's bundle if set, else certifi's."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return Path(certifi.where())


def write_combined_bundle(extra: Path) -> str:
    """Write base CAs + ``extra`` to a private temp file (0600 in a 0700 dir); return its path."""
    try:
        extra_pem = extra.read_bytes()
    except OSError as exc:
        raise ConfigError(f"ca_bundle: cannot read {extra}: {exc.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in extra_pem:
        raise ConfigError(
            f"ca_bundle: {extra} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        )
    folder = tempfile.mkdtemp(prefix="psa-sync-ca-")
    path = os.path.join(folder, "ca-bundle.pem")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(trusted_base_bundle().read_bytes().rstrip(b"\n") + b"\n")
        out.write(extra_pem.rstrip(b"\n") + b"\n")
    return path


def build_session(
    *,
    ca_bundle: Path | None,
    timeout: float,
    retries: int,
    user_agent: str = DEFAULT_USER_AGENT,
    backoff_factor: float = 0.5,
    retry_window: float = DEFAULT_RETRY_WINDOW_SECONDS,
) -> requests.Session:
    """A session for one connector: default timeout, safe retries, and ``ca_bundle`` honoured.

    ``retry_window``: seconds after which this session stops retrying (build one session per run).

    The combined CA file lives as long as the session and is removed when it is collected (or at
    interpreter exit).
    """
    if timeout <= 0:
        raise ConfigError(f"http.timeout must be positive, got {timeout}")
    if retries < 0:
        raise ConfigError(f"http.retries must be 0 or more, got {retries}")
    if retry_window < 0:
        raise ConfigError(f"the retry window must be 0 or more seconds, got {retry_window}")
    hide_query_strings_in_urllib3_logs()
    pinned = write_combined_bundle(Path(ca_bundle)) if ca_bundle is not None else None
    session = SyncSession(timeout=timeout, pinned_ca=pinned)
    if pinned is not None:
        weakref.finalize(session, shutil.rmtree, os.path.dirname(pinned), True)
    session.retry_window = RetryWindow(retry_window)
    adapter = HTTPAdapter(
        max_retries=retry_policy(
            retries, backoff_factor=backoff_factor, window=session.retry_window
        )
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent
    log.debug(
        "http session: timeout=%ss retries=%d extra_ca=%s", timeout, retries, ca_bundle is not None
    )
    return session
