"""The URLs psa-sync sends credentials to, checked before anything is sent.

The PSA's API key travels in a header of every request and the Salesforce secrets in the body of
the token request, so a URL that would carry them in clear over a network is refused at load: a
person sees it when writing the config, not after a key leaked. Plain ``http://`` stays allowed to
a loopback host for the PSA (a Redmine on this machine never leaves it). Salesforce always needs
``https://``: simple-salesforce speaks nothing else, and the emulator serves TLS on 127.0.0.1.

Credentials written into a URL (``https://user:pass@host``) are refused without repeating the URL,
because the message goes to a terminal and to logs.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_NOTE = "plain http:// is allowed only to a loopback host (127.0.0.1, ::1, localhost)"


def url_problem(url: str, *, why_tls: str, secrets_hint: str, http_on_loopback: bool) -> str | None:
    """What is wrong with ``url`` as a place to send credentials, or None.

    ``why_tls`` says why https is needed, ``secrets_hint`` where credentials go instead, and
    ``http_on_loopback`` whether plain http may reach this machine.
    """
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises on a port that is not a number
    except ValueError as exc:
        return (
            "credentials in the URL; use " + secrets_hint
            if "@" in url
            else f"is not a valid URL ({exc})"
        )
    if parts.username is not None or parts.password is not None:
        return f"credentials in the URL; use {secrets_hint}"
    scheme = parts.scheme.lower()
    plain_allowed = http_on_loopback and scheme == "http" and host is not None and is_loopback(host)
    if scheme in ("http", "https") and not host:
        return f"'{url}' names no host"
    if scheme != "https" and not plain_allowed:
        note = f"; {LOOPBACK_NOTE}" if http_on_loopback else ""
        return f"'{url}' must start with https:// ({why_tls}){note}"
    return None


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (also as an IPv4-mapped address): traffic that stays
    here."""
    host = host.rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback
