"""Tryton's JSON-RPC over HTTP: its value encoding, the session login, and errors at the boundary.

Facts this module is built on (trytond 8.2, README.md "Tryton"):

* ``POST <url>/rpc/`` (``<url>`` = server + "/" + database) with ``{"id", "method", "params"}``;
  ``params`` ends with the user's context (company, language) from ``res.user.get_preferences``.
* Decimal, date, datetime and timedelta travel as objects: ``{"__class__": "Decimal", "decimal":
  "125000.50"}``, ``{"__class__": "date", "year": 2026, "month": 2, "day": 1}``, ``{"__class__":
  "timedelta", "seconds": 27000.0}``. :mod:`~sync.connectors.psa.tryton.codec` does both ways.
* A refused call is an HTTP **200** whose body has ``"error": [type, [message, ...]]``; that is a
  per-record answer (:class:`TrytonError`). 401 = bad login or expired session; 403 = an unknown
  method; 5xx or no answer = the server cannot tell us now (``PsaUnavailable``).
* Login: ``common.db.login(user, {"password": …}, lang)`` → ``[uid, token]``; then every call sends
  ``Authorization: Session base64(user:uid:token)``. An expired session (401) logs in again once.

Only idempotent calls (reads, ``write`` of values) are sent again after a 5xx or no answer; a
``create`` is never re-sent here: the caller looks its key up first (``writes``). The
password travels only in the login body and never appears in a message.
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
import time
from typing import Any

import requests

from sync.common.errors import AuthError, PsaUnavailable
from sync.common.redaction import redact, register_secret
from sync.connectors.answers import excerpt
from sync.connectors.psa.redmine.http import normalise_url
from sync.connectors.psa.tryton.codec import decode, encode

RESUMES = "the run stops and resumes next time"
_ERROR_KIND = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,60}")
IDEMPOTENT_ATTEMPTS = 3
BACKOFF_SECONDS = 0.2


class TrytonError(Exception):
    """Tryton refused one call (a 200 with ``error``): ``kind`` is its exception class, ``message``
    its own words ("The value \"barter\" for field \"Invoice Method\" … is not one of the
    allowed options.")."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


class TrytonRpc:
    """One logged-in JSON-RPC client for one Tryton database, on a session the caller built."""

    def __init__(
        self, url: str, user: str, password: str, session: requests.Session, timeout: float = 30.0
    ):
        self.url = normalise_url(url)  # http://host:port/<database>
        self.user = user
        self._password = password
        self._session = session
        self._timeout = timeout
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._auth: str | None = None
        self._context: dict | None = None

    # --- the calls ----------------------------------------------------------------------------

    def model(self, model: str, method: str, *params: Any, idempotent: bool = True) -> Any:
        """``model.<model>.<method>(*params, context)``; see :meth:`call`."""
        return self.call(f"model.{model}.{method}", *params, self.context(), idempotent=idempotent)

    def call(self, method: str, *params: Any, idempotent: bool = True) -> Any:
        """The result of one call; ``TrytonError`` when Tryton refused it.

        A 5xx or no answer is sent again (at most ``IDEMPOTENT_ATTEMPTS`` in all) only when
        ``idempotent``; otherwise, and after the last attempt, ``PsaUnavailable``.
        """
        attempts = IDEMPOTENT_ATTEMPTS if idempotent else 1
        relogged = False
        attempt = 0
        while True:
            try:
                return self._once(method, params)
            except _Expired as expired:
                if relogged:
                    raise AuthError(
                        f"Tryton at {self.url} refused the session just opened for {self.user!r} "
                        f"(401 on {method}): check the user's access rights"
                    ) from None
                relogged = True
                self._login_again(expired.auth)
            except PsaUnavailable:
                attempt += 1
                if attempt >= attempts:
                    raise
                time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))

    def _login_again(self, failed: str | None) -> None:
        """Log in again after a 401, unless another thread already did: every worker of a batch
        meets the same expired session, and one new session serves them all (lock, then compare)."""
        with self._lock:
            if self._auth == failed:
                self._login_locked()

    def context(self) -> dict:
        """The user's context (company, language), read once after login."""
        if self._context is None:
            if self._auth is None:
                self.login()
            prefs = self.call("model.res.user.get_preferences", True, {})
            if not isinstance(prefs, dict):
                raise PsaUnavailable(
                    f"Tryton at {self.url} answered get_preferences with {excerpt(str(prefs))}; "
                    f"{RESUMES}"
                )
            self._context = {
                k: prefs[k] for k in ("company", "companies", "language", "employee") if k in prefs
            }
        return self._context

    def login(self) -> None:
        """``common.db.login`` with the password; keeps the session for every later call."""
        with self._lock:
            self._login_locked()

    def _login_locked(self) -> None:
        self._auth = None
        try:
            result = self._once(
                "common.db.login", (self.user, {"password": self._password}, "en"), login=True
            )
        except TrytonError as exc:
            raise _login_refused(self.url, self.user, exc) from None
        if not (isinstance(result, list) and len(result) >= 2 and isinstance(result[0], int)):
            raise AuthError(
                f"Tryton at {self.url} refused the login of {self.user!r}: check psa.api_key "
                "(the user's password) and psa.options.user"
            )
        token = base64.b64encode(f"{self.user}:{result[0]}:{result[1]}".encode()).decode()
        register_secret(
            str(result[1]), session_of="tryton"
        )  # a password while it lives: masked like one
        register_secret(token, session_of="tryton")
        self._auth = f"Session {token}"

    # --- one request ----------------------------------------------------------------------------

    def _once(self, method: str, params: tuple, login: bool = False) -> Any:
        if self._auth is None and not login:
            self._login_again(None)
        auth = None if login else self._auth  # the session this request carries, for _login_again
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth is not None:
            headers["Authorization"] = auth
        body = encode({"id": next(self._ids), "method": method, "params": list(params)})
        try:
            response = self._session.post(
                self.url + "/rpc/",
                data=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise PsaUnavailable(
                f"Tryton at {self.url} did not answer {method}: {type(exc).__name__}; {RESUMES}"
            ) from None
        status = response.status_code
        if status == 401:
            if login:
                raise AuthError(
                    f"Tryton at {self.url} refused the login of {self.user!r} (401): check "
                    "psa.api_key (the user's password) and psa.options.user"
                )
            raise _Expired(auth)
        if status == 403:
            raise PsaUnavailable(
                f"Tryton at {self.url} forbids {method} (403): is the module installed "
                f'(README.md, "Tryton")?; {RESUMES}'
            )
        if status != 200:
            raise PsaUnavailable(
                f"Tryton at {self.url} answered HTTP {status} to {method}; {RESUMES}"
            )
        return self._result(method, response, quote=not login)

    def _result(self, method: str, response: requests.Response, quote: bool) -> Any:
        """The result; an answer of another shape is quoted (cut, redacted) unless it answers a
        login, whose request carried the password a server may echo: that body is never quoted."""
        shown = excerpt(response.content) if quote else "a body not shown (it answers the login)"
        try:
            body = decode(response.content)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            raise PsaUnavailable(
                f"Tryton at {self.url} answered {method} with {shown}, not JSON-RPC; {RESUMES}"
            ) from None
        error = body.get("error")
        if error is not None:
            raise _error(error)
        if "result" not in body:
            raise PsaUnavailable(
                f"Tryton at {self.url} answered {method} without a result: {shown}; {RESUMES}"
            )
        return body["result"]


class _Expired(Exception):
    """401 on a call with a session (``auth``, the one it carried): log in again once."""

    def __init__(self, auth: str | None):
        super().__init__("session expired")
        self.auth = auth


def _login_refused(url: str, user: str, exc: TrytonError) -> Exception:
    """Tryton refused ``common.db.login`` with an error: a ``LoginException`` asks for another
    factor (a code sent by SMS, …), which a person must settle (exit 5); anything else is the
    server's trouble. Its message is never quoted: it answers a request carrying the password."""
    if exc.kind == "LoginException":
        return AuthError(
            f"Tryton at {url} asks for more than a password to log in {user!r} (a LoginException, "
            "e.g. a second factor): give psa-sync a user whose login needs only its password "
            "(trytond.conf [session] authentications)"
        )
    kind = (
        exc.kind if _ERROR_KIND.fullmatch(exc.kind) else "error"
    )  # a bare exception's kind is its text
    return PsaUnavailable(f"Tryton at {url} refused the login of {user!r} with a {kind}; {RESUMES}")


def _error(error: Any) -> TrytonError:
    """``["UserError", ["message", "", null]]`` (or a bare string) as a redacted TrytonError."""
    kind, message = _error_parts(error)
    return TrytonError(redact(kind), redact(message))


def _error_parts(error: Any) -> tuple[str, str]:
    if isinstance(error, list) and error:
        kind = str(error[0])
        args = error[1] if len(error) > 1 else None
        if isinstance(args, list) and args:
            return kind, str(args[0])
        if isinstance(args, str):
            return kind, args
        return kind, kind
    return "Error", str(error)
