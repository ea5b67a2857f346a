"""OAuth 2.0 token requests to Salesforce: JWT bearer, client credentials and username-password.

We make the token request ourselves instead of letting simple-salesforce log in, because its login
hosts are hard-coded (``https://{domain}.salesforce.com``) and it cannot reach a My Domain token
URL with a separate JWT audience, nor the local emulator. The client is then built with
``session_id`` + ``instance_url`` only (no network call).

What the token response gives the run besides the token:

- the org Id, from the ``id`` URL (``…/id/<org>/<user>``), normalised to 18 characters, which the
  state guard compares against the org the state was made with;
- the signpost, Salesforce's own clock from the ``Date`` header, so the extract never trusts the
  local clock.

Every secret travels in the form body, UTF-8 and percent-encoded, never as HTTP Basic: requests
encodes Basic credentials as Latin-1, so a client secret with ``Ω`` was a ``UnicodeEncodeError`` (a
traceback, exit 70), and RFC 6749 §2.3.1 would have them form-encoded before Basic, which not every
server undoes. Salesforce takes ``client_id`` and ``client_secret`` in the body for the client
credentials flow as for the password flow (its help, "OAuth 2.0 Client Credentials Flow").

Errors never quote the assertion, the client secret, the password or the token, nor the body of the
answer: only Salesforce's ``error`` and ``error_description``, and only when they keep to the
characters RFC 6749 §5.2 allows them (no ``"`` nor ``\\``), masked like every other text.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlparse

import jwt
import requests

from sync.common.errors import AuthError, ConfigError, SalesforceUnavailable
from sync.common.ids import to18
from sync.common.redaction import redact
from sync.config import SalesforceConfig
from sync.connectors.answers import checked, json_of, redirect_target
from sync.connectors.http import certificate_rejected

log = logging.getLogger(__name__)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME = timedelta(minutes=3)
TOKEN_ATTEMPTS = 3  # a token request creates nothing, so a lost or 5xx answer is safe to ask again
TOKEN_BACKOFF_SECONDS = 0.2
TOKEN_RESPONSE = {"access_token": str, "instance_url": str, "id": str}
_OAUTH_TEXT = re.compile(
    r"[\x20\x21\x23-\x5b\x5d-\x7e]+"
)  # RFC 6749 §5.2: error, error_description


@dataclass(frozen=True)
class TokenGrant:
    """What one successful token request yields. ``repr`` hides the token."""

    access_token: str
    instance_url: str
    org_id: str
    user_id: str
    server_time: datetime | None  # from the response's Date header; None when it had none

    def __repr__(self) -> str:
        return (
            f"TokenGrant(access_token='***', instance_url={self.instance_url!r}, "
            f"org_id={self.org_id!r}, user_id={self.user_id!r}, server_time={self.server_time!r})"
        )


def ids_from_identity_url(identity_url: str) -> tuple[str, str]:
    """(org Id, user Id), both 18 characters, from ``https://host/id/<org>/<user>``."""
    parts = [p for p in urlparse(identity_url).path.split("/") if p]
    if len(parts) < 3 or parts[-3] != "id":
        raise ValueError(f"unexpected identity URL shape: {identity_url}")
    return to18(parts[-2]), to18(parts[-1])


def jwt_assertion(config: SalesforceConfig, now: datetime) -> str:
    """The signed RS256 assertion: iss=client_id, sub=username, aud=login/test host, exp=now+3m."""
    auth = config.auth
    try:
        key = auth.private_key_file.read_bytes() if auth.private_key_file else b""
    except OSError as exc:
        raise ConfigError(
            f"salesforce.auth.private_key_file: cannot read {auth.private_key_file}: {exc.strerror}"
        ) from None
    claims = {
        "iss": auth.client_id,
        "sub": auth.username,
        "aud": config.resolved_audience,
        "exp": int((now + JWT_LIFETIME).timestamp()),
    }
    try:
        return jwt.encode(claims, key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise ConfigError(
            f"salesforce.auth.private_key_file: {auth.private_key_file} is not a usable RSA "
            f"private key in PEM form ({type(exc).__name__})"
        ) from None


def _token_request_args(config: SalesforceConfig, now: datetime) -> dict:
    """Form data (and Basic auth for client credentials) for the configured flow."""
    auth = config.auth
    if auth.flow == "jwt":
        return {"data": {"grant_type": JWT_GRANT, "assertion": jwt_assertion(config, now)}}
    if auth.flow == "client_credentials":  # in the form, not HTTP Basic: see the module docstring
        secret = auth.client_secret.get() if auth.client_secret else ""
        return {
            "data": {
                "grant_type": "client_credentials",
                "client_id": auth.client_id or "",
                "client_secret": secret,
            }
        }
    if auth.flow == "password":
        password = (auth.password.get() if auth.password else "") + (
            auth.security_token.get() if auth.security_token else ""
        )
        return {
            "data": {
                "grant_type": "password",
                "client_id": auth.client_id,
                "client_secret": auth.client_secret.get() if auth.client_secret else "",
                "username": auth.username,
                "password": password,
            }
        }
    raise ConfigError(
        f"salesforce.auth.flow: '{auth.flow}' is not one of jwt, client_credentials, password"
    )


def request_token(
    config: SalesforceConfig,
    session: requests.Session,
    now: Callable[[], datetime],
    sleep: Callable[[float], None] = time.sleep,
) -> TokenGrant:
    """POST the token request of ``config.auth.flow``; translate every failure into our errors.

    The session never re-sends a POST (a create could be applied twice), but a token request
    creates nothing: a reset connection or a 5xx is asked again, ``TOKEN_ATTEMPTS`` times in all,
    so one blip does not cost a whole run.
    """
    url = config.resolved_token_url
    for attempt in range(TOKEN_ATTEMPTS):
        try:
            return _token_once(config, session, url, now)
        except SalesforceUnavailable:
            if attempt == TOKEN_ATTEMPTS - 1:
                raise
            delay = TOKEN_BACKOFF_SECONDS * 2**attempt
            log.info(
                "salesforce: token request failed (attempt %d of %d); asking again",
                attempt + 1,
                TOKEN_ATTEMPTS,
            )
            sleep(delay + random.uniform(0, delay))
    raise AssertionError("unreachable")


def _token_once(
    config: SalesforceConfig, session: requests.Session, url: str, now: Callable[[], datetime]
) -> TokenGrant:
    args = _token_request_args(config, now())
    try:
        response = session.post(
            url, headers={"Accept": "application/json"}, allow_redirects=False, **args
        )
    except requests.RequestException as exc:
        if certificate_rejected(exc):
            raise ConfigError(untrusted_certificate_message(url)) from None
        raise SalesforceUnavailable(
            f"Salesforce token endpoint {url} is unreachable ({type(exc).__name__}); "
            "the run stopped and will try again next time"
        ) from None
    if (
        target := redirect_target(response)
    ) is not None:  # never followed: a 307 re-sends the secret
        raise SalesforceUnavailable(
            f"salesforce.login_url (or token_url) must be the final URL; the token endpoint "
            f"{url} redirected to {target}; the run stopped and will try again next time"
        )
    if response.status_code >= 500:
        raise SalesforceUnavailable(
            f"Salesforce token endpoint {url} answered {response.status_code}; "
            "the run stopped and will try again next time"
        )
    if response.status_code != 200:
        raise AuthError(_refusal_message(config, response))
    return _parse_grant(url, response)


def untrusted_certificate_message(url: str) -> str:
    host = urlparse(url).netloc
    return (
        f"the TLS certificate of {host} is not trusted; if a proxy or the local emulator signs it, "
        "point salesforce.ca_bundle at its CA file (verification is never switched off)"
    )


def _refusal_message(config: SalesforceConfig, response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    flow = config.auth.flow
    if isinstance(body, dict) and "error" in body:
        detail = f"{_oauth_text(body.get('error'))}: {_oauth_text(body.get('error_description'))}"
    else:
        detail = f"HTTP {response.status_code} without an OAuth error body"
    hint = {
        "jwt": "check the connected app's consumer key, "
        "that the user is pre-authorised for the app, "
        "the certificate uploaded to the app, the username and salesforce.audience",
        "client_credentials": "check the client id and secret, "
        "that the client credentials flow is enabled with a run-as user, "
        "and that token_url is the org's My Domain",
        "password": "check the username, password, security token, client id and secret",
    }.get(flow, "check salesforce.auth")
    return f"Salesforce refused the {flow} token request ({detail}); {hint}"


def _oauth_text(value: object) -> str:
    """An ``error`` or ``error_description`` as RFC 6749 §5.2 allows it (printable ASCII but ``"``
    and ``\\``, here at most 200 characters), masked; anything else is not shown: a server that
    echoes the request would be quoting the secret."""
    if not value:
        return "(no description)"
    if not isinstance(value, str) or len(value) > 200 or not _OAUTH_TEXT.fullmatch(value):
        return "(a text outside OAuth's characters, not shown)"
    return redact(value)


def _parse_grant(url: str, response: requests.Response) -> TokenGrant:
    """The grant in a 200. One of another shape is an ``AuthError``: a person points token_url at
    the real token endpoint. Its body is never quoted, since a token response carries the token."""
    body = checked(
        json_of(response),
        TOKEN_RESPONSE,
        said=f"Salesforce token endpoint {url} answered 200",
        raw=None,
        error=lambda problem: AuthError(
            f"{problem}, not a usable token response; is token_url the Salesforce token endpoint?"
        ),
    )
    token, instance_url = body["access_token"], body["instance_url"]
    try:
        org_id, user_id = ids_from_identity_url(body["id"])
    except ValueError:
        raise AuthError(
            f"Salesforce token endpoint {url} answered 200 with an identity URL of another shape, "
            "not a usable token response; is token_url the Salesforce token endpoint?"
        ) from None
    server_time = None
    if response.headers.get("Date"):
        try:
            server_time = parsedate_to_datetime(response.headers["Date"]).astimezone(UTC)
        except (TypeError, ValueError):
            log.warning("salesforce: token response has an unreadable Date header")
    log.debug("salesforce: token granted for org %s on %s", org_id, urlparse(instance_url).netloc)
    return TokenGrant(
        access_token=token,
        instance_url=instance_url.rstrip("/"),
        org_id=org_id,
        user_id=user_id,
        server_time=server_time,
    )
