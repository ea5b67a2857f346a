"""Reading an answer before anything indexes into it: its JSON shape, and where a redirect pointed.

Why: a proxy's login page answered with 200, a body cut in the middle, or JSON of another shape (a
list where an object belongs, ``project`` missing, an id that is text) would otherwise surface as a
``KeyError`` or ``TypeError`` deep in a connector: a traceback, exit 1, "a bug". Worse, a listing
read with ``.get("projects", [])`` takes a page without its items for an empty one. So each
connector names the shape it relies on, once, and :func:`checked` holds the body against it. A
mismatch becomes the connector's "unavailable" error (exit 3: the run stops before recording
anything as done, and resumes next time), naming the endpoint (method and path, never the query
string: SOQL and filters stay out of messages) and the start of what came back.

A shape is a type or a tuple of types (``bool`` never passes for ``int``), ``{name: shape}`` for an
object whose keys must be there (``"name?"``: may be missing or null), or ``[shape]`` for a list
whose every item has that shape. Keys a shape does not name are not checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from sync.common.errors import SyncError
from sync.common.redaction import redact

Shape = Any  # type | tuple[type, ...] | dict[str, "Shape"] | list["Shape"]
SHOWN_CHARS = 200  # of a body quoted in a message: enough to recognise a login page, never a dump
NOT_JSON = object()  # the body of an answer that does not parse as JSON


def endpoint(method: str | None, url: str | None) -> str:
    """``GET /projects.json``: the method and the path, never the query string (SOQL, filters)."""
    return f"{method or 'GET'} {urlsplit(url or '').path or '/'}"


def excerpt(text: str | bytes | None) -> str:
    """The start of a body, on one line, cut to ``SHOWN_CHARS`` characters.

    The raw body is redacted first (``sync.common.redaction``): collapsing its whitespace, cutting
    it and quoting it with ``repr`` each rewrite a secret the body echoes, and a secret cut in two
    has no form left to recognise.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    flat = " ".join(redact(text or "").split())
    if not flat:
        return "an empty body"
    return repr(flat if len(flat) <= SHOWN_CHARS else flat[:SHOWN_CHARS] + "…")


def json_of(response: requests.Response) -> Any:
    """The parsed body, or ``NOT_JSON`` (an HTML page, a body cut in the middle, nothing at all)."""
    try:
        return response.json()
    except ValueError:
        return NOT_JSON


def mismatch(value: Any, shape: Shape, where: str = "the body") -> str | None:
    """What in ``value`` does not have ``shape`` ("projects[3].id is a str, not int"), or None."""
    if value is NOT_JSON:
        return "the body is not JSON"
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{where} is {_kind(value)}, not an object"
        for name, inner in shape.items():
            key = name.rstrip("?")
            if value.get(key) is None and name.endswith("?"):
                continue
            if key not in value:
                return f"{where} has no {key!r}"
            problem = mismatch(value[key], inner, f"{_inside(where)}{key}")
            if problem:
                return problem
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{where} is {_kind(value)}, not a list"
        return next(
            (p for i, item in enumerate(value) if (p := mismatch(item, shape[0], _item(where, i)))),
            None,
        )
    types = shape if isinstance(shape, tuple) else (shape,)
    if isinstance(value, types) and not (isinstance(value, bool) and bool not in types):
        return None
    return f"{where} is {_kind(value)}, not {' or '.join(t.__name__ for t in types)}"


def misfit(body: Any, shape: Shape, *, said: str, raw: str | bytes | None) -> str | None:
    """None when ``body`` has ``shape``; else what was wrong, for a message.

    ``said`` names the answer ("Redmine at … answered GET /projects.json (200)"); ``raw`` is the
    body as it came, quoted cut short (None: show nothing, for a body that may carry a token).
    """
    problem = mismatch(body, shape)
    if problem is None:
        return None
    return f"{said}, but {problem}" + (f": {excerpt(raw)}" if raw is not None else "")


def checked(
    body: Any,
    shape: Shape,
    *,
    said: str,
    raw: str | bytes | None,
    error: Callable[[str], SyncError],
) -> Any:
    """``body`` when it has ``shape``; else the error ``error(what was wrong)`` is raised."""
    problem = misfit(body, shape, said=said, raw=raw)
    if problem is not None:
        raise error(problem)
    return body


def said_by(system: str, response: requests.Response) -> str:
    """``Redmine at … answered GET /projects.json (200)``: who answered which call, and how."""
    request = response.request
    return f"{system} answered {endpoint(request.method, request.url)} ({response.status_code})"


def redirect_target(response: requests.Response) -> str | None:
    """Where a 3xx pointed (absolute, without its query string), or None for any other answer.

    No session follows a redirect (``sync.connectors.http``): requests strips only ``Authorization``
    when it follows one to another host, so ``X-Redmine-API-Key`` would go along, and a 307 re-sends
    a token request's form (secret, password). The connector names the target in its error instead.
    """
    if not 300 <= response.status_code < 400:
        return None
    location = response.headers.get("Location")
    if not location:
        return f"nowhere (a {response.status_code} without a Location)"
    return urljoin(response.request.url or "", location).split("?", 1)[0].split("#", 1)[0]


def _inside(where: str) -> str:
    return "" if where == "the body" else where + "."


def _item(where: str, index: int) -> str:
    return f"item {index} of the body" if where == "the body" else f"{where}[{index}]"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
