"""The one masking function: every known secret, in every form it takes on the way, becomes ``***``.

A secret reaches a log line, a printed error, the state file or ``status --json`` through text that
quotes something else: an exception message, a server's answer that echoes the request it was sent.
On the way it is rewritten. JSON escapes ``"`` and ``\\`` and writes non-ASCII as ``\\uXXXX``; a
body that echoes a JSON request inside a JSON string doubles every backslash again; Python's
``repr`` escapes ``\\`` and ``'`` (and control characters, as ``\\x01``); a form body
percent-encodes it; a server that reads UTF-8 as Latin-1 turns ``é`` into ``Ã©``;
:func:`sync.connectors.answers.excerpt` collapses whitespace. Redacting only the value as written
lets every one of those through.

So :func:`register_secret` derives the forms by running the encoders themselves on the value, alone
and composed three deep (a password echoed in a JSON request, inside a JSON error string, quoted
with ``repr``), and :func:`redact` replaces them all, longest first, in one pass. A caller that
quotes a body must redact the *raw* body before it cuts, collapses or quotes it: a cut secret
has no form left to recognise (``answers.excerpt`` does so).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

MIN_SECRET_LENGTH = 6  # shorter values are not secrets worth the false positives
MIN_FORM_LENGTH = 4
DEPTH = 3  # encoders composed: json(json(repr(secret))) is the deepest seen in the wild


def _json(value: str) -> str:
    return json.dumps(value)[1:-1]


def _json_utf8(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _repr(value: str) -> str:
    return repr(value)[1:-1]


def _repr_single(value: str) -> str:
    """``repr`` inside single quotes, as Python writes a text holding both kinds of quote."""
    return repr(value + "'\"")[1:-4]


def _ascii(value: str) -> str:
    return ascii(value)[1:-1]


def _bytes_repr(value: str) -> str:
    return repr(value.encode("utf-8", "surrogatepass"))[2:-1]


def _collapsed(value: str) -> str:
    return " ".join(value.split())


def _mojibake(value: str) -> str:
    return value.encode("utf-8", "surrogatepass").decode("latin-1")


ENCODERS: tuple[Callable[[str], str], ...] = (
    _json,
    _json_utf8,
    _repr,
    _repr_single,
    _ascii,
    _bytes_repr,
    lambda v: quote(v, safe=""),
    lambda v: quote_plus(v, safe=""),
    quote,
    _collapsed,
    _mojibake,
)

_lock = threading.Lock()
_forms: dict[str, set[str]] = {}  # secret -> its forms; insertion order = registration order
_sessions: dict[str, list[str]] = {}  # issuer -> its session tokens, oldest first
_pattern: re.Pattern[str] | None = None
SESSIONS_KEPT = 4  # per issuer: the one in use and a few before it


def forms_of(value: str) -> set[str]:
    """``value`` and what every composition of up to ``DEPTH`` encoders makes of it."""
    found = {value}
    layer = {value}
    for _ in range(DEPTH):
        layer = {encode(text) for text, encode in itertools.product(layer, ENCODERS)} - found
        found |= layer
    return {form for form in found if len(form) >= MIN_FORM_LENGTH}


def register_secret(value: str | None, *, session_of: str | None = None) -> None:
    """Add a value to redact from every log line, printed line and state row (only values long
    enough to be secrets), with every form :func:`forms_of` knows. ``session_of``: the value is a
    session token of that issuer (``salesforce``, ``tryton``); only its last ``SESSIONS_KEPT`` are
    kept, so a daemon that logs in again every hour for weeks does not grow the pattern without end
    (a token that expired opens nothing), and one issuer's logins never push out another's token."""
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _forms:
            return
        _forms[value] = forms_of(value)
        if session_of is not None:
            kept = _sessions.setdefault(session_of, [])
            kept.append(value)
            while len(kept) > SESSIONS_KEPT:
                _forms.pop(kept.pop(0), None)
        _compile()


def _compile() -> None:
    global _pattern
    every = set().union(*_forms.values()) if _forms else set()
    _pattern = (
        re.compile("|".join(re.escape(f) for f in sorted(every, key=len, reverse=True)))
        if every
        else None
    )


def forget_secrets() -> None:
    """Tests only: start again from no known secret."""
    with _lock:
        _forms.clear()
        _sessions.clear()
        _compile()


def redact(text: str) -> str:
    """``text`` with every known secret, in any known form, replaced by ``***``."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub("***", text)


def redact_value(value: Any) -> Any:
    """A JSON-able value with every text in it redacted (before it is dumped: a form replaced inside
    dumped JSON could cut an escape in half)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value
