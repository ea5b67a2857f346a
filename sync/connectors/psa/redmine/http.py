"""The Redmine REST transport: headers, timeouts, paging and error translation at the boundary.

Statuses are translated from structured data (the HTTP status), never from message text:
401 -> ``AuthError``; a transport failure or a 5xx on a read -> ``PsaUnavailable``. Writes hand
their response back to the caller, because there a 403, 404, 422 or 5xx is a per-record outcome.
A body is read only through :meth:`RedmineHttp.answer`, against the shape the caller relies on
(``sync.connectors.answers``): a login page or a cut body is ``PsaUnavailable``, not a traceback.
The API key travels only in the ``X-Redmine-API-Key`` header and never appears in a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from sync.common.errors import AuthError, ConfigError, PsaUnavailable
from sync.common.redaction import redact
from sync.connectors.answers import Shape, endpoint, json_of, misfit, redirect_target, said_by

PAGE_SIZE = 100  # Redmine's maximum "limit"
RESUMES = "the run stops and resumes next time"


def normalise_url(url: str) -> str:
    """Lower-case scheme and host, no trailing slash: the form stored in the state guard."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"psa.url: {url!r} is not an http(s) URL (e.g. http://127.0.0.1:3000)")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


def path(*segments: object, ext: str = ".json") -> str:
    """``/projects/sf-x.json`` from its segments, each quoted whole (``/``, ``?``, ``%`` … encoded).

    A segment built from data (an identifier made of a key, an Account Id) can then never add a
    segment or a query to the URL: unquoted, the key ``../../users/1`` made a look-up go to
    ``/projects/users/1.json``. A segment that is empty, ``.`` or ``..`` is refused outright, since
    requests decodes ``%2E`` and a server would resolve it as a step up.
    """
    quoted = [quote(str(segment), safe="") for segment in segments]
    if any(q in ("", ".", "..") for q in quoted):
        raise ValueError(f"not a URL path segment in {segments!r}")
    return "/" + "/".join(quoted) + ext


def header_safe_key(api_key: str) -> str:
    """The key, if an HTTP header can carry it: visible ASCII only. requests encodes header values
    as Latin-1 (a key with ``Ω`` raised ``UnicodeEncodeError``: a traceback, exit 70) and refuses a
    line break; Redmine's keys are 40 hexadecimal characters, so anything else is a mistake in the
    config. The message names the position, never the character."""
    bad = next((i for i, c in enumerate(api_key) if not "!" <= c <= "~"), None)
    if bad is not None:
        raise ConfigError(
            f"psa.api_key: character {bad + 1} is not visible ASCII (a space, a control "
            "character or a non-ASCII letter), which an HTTP header cannot carry; a Redmine API "
            "key is 40 hexadecimal characters (My account > API access key > Show)"
        )
    return api_key


class RedmineHttp:
    """Thin JSON-over-HTTP client for one Redmine, on a session the caller built."""

    def __init__(self, url: str, api_key: str, session: requests.Session, timeout: float = 30.0):
        self.url = normalise_url(url)
        self._session = session
        self._timeout = timeout
        self.page_size = PAGE_SIZE  # tests lower it to walk pages cheaply against a real Redmine
        self._headers = {
            "X-Redmine-API-Key": header_safe_key(api_key),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def send(
        self, method: str, path: str, *, params: dict | None = None, body: dict | None = None
    ) -> requests.Response:
        """One request; returns the response whatever its status, except 401 (``AuthError``).

        Transport failures (refused, reset, timeout) and redirects raise ``PsaUnavailable``: a
        redirect is never followed, since the API key header would go along to its target.
        """
        try:
            response = self._session.request(
                method,
                self.url + path,
                params=params,
                json=body,
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise PsaUnavailable(
                f"Redmine at {self.url} did not answer {method} {path}: {type(exc).__name__}: "
                f"{redact(str(exc))[:300]}; the run stops and resumes next time"
            ) from None
        if response.status_code == 401:
            raise AuthError(
                f"Redmine at {self.url} refused the API key (401 on {method} {path}): "
                "check psa.api_key and that the REST API is enabled "
                "(Administration > Settings > API)"
            )
        target = redirect_target(response)
        if target is not None:
            raise PsaUnavailable(
                "psa.url must be the final URL; Redmine redirected "
                f"{endpoint(method, response.request.url)} to {target}, "
                f"and psa-sync never follows a redirect with the API key; {RESUMES}"
            )
        return response

    def misfit(self, response: requests.Response, shape: Shape) -> tuple[Any, str | None]:
        """(body, None) when it has ``shape``; else (body, what is wrong, for a message)."""
        body = json_of(response)
        return body, misfit(
            body, shape, said=said_by(f"Redmine at {self.url}", response), raw=response.content
        )

    def answer(self, response: requests.Response, shape: Shape) -> Any:
        """The JSON body of ``response`` if it has ``shape``; else ``PsaUnavailable`` naming it."""
        body, problem = self.misfit(response, shape)
        if problem is not None:
            raise PsaUnavailable(f"{problem}; {RESUMES}")
        return body

    def get(
        self, path: str, params: dict | None = None, *, shape: Shape, missing_ok: bool = False
    ) -> Any:
        """GET a JSON body of ``shape``. 404 (403: archived): None if ``missing_ok``, else raise."""
        response = self.send("GET", path, params=params)
        status = response.status_code
        if status == 200:
            return self.answer(response, shape)
        if missing_ok and status in (403, 404):
            return None
        if status == 403:
            raise AuthError(
                f"Redmine at {self.url} forbids GET {path} (403): "
                "the API user must be an administrator"
            )
        if status >= 500 or status == 404:
            raise PsaUnavailable(
                f"Redmine at {self.url} answered {status} to GET {path}; try again later"
            )
        raise PsaUnavailable(f"Redmine at {self.url} answered an unexpected {status} to GET {path}")

    def pages(self, path: str, params: dict, collection: str, item: Shape) -> Iterator[dict]:
        """Every item of a paged listing, ``page_size`` at a time (offset paging)."""
        for items in self.page_lists(path, params, collection, item):
            yield from items or ()

    def page_lists(
        self, path: str, params: dict, collection: str, item: Shape, *, missing_ok: bool = False
    ) -> Iterator[list[dict] | None]:
        """Each page's items of a paged listing in turn (offset paging), each of shape ``item``.

        A page without its ``collection`` is an error, never an empty page: ending a listing early
        in silence would make ``find`` miss a project and create it again.

        With ``missing_ok``, a listing scoped to something that vanished (404, or 403: archived)
        yields one ``None`` and ends: a project deleted while we read its time entries is that
        project's business, so the caller leaves it out instead of failing, with no exception
        to catch.
        """
        shape = {collection: [item], "total_count?": int}
        offset = 0
        while True:
            page = {**params, "limit": self.page_size, "offset": offset}
            body = self.get(path, page, shape=shape, missing_ok=missing_ok)
            if body is None:
                yield None
                return
            items = body[collection]
            yield items
            offset += len(items)
            if not items or offset >= int(body.get("total_count", 0)):
                return


def error_text(response: requests.Response) -> str:
    """Redmine's 422 messages joined ("Billing type cannot be blank; Name cannot be blank")."""
    body = json_of(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        return redact("; ".join(str(e) for e in errors))
    return f"HTTP {response.status_code}"
