"""OAuth 2.0 token endpoint and bearer sessions, shaped like Salesforce's.

Grants: ``client_credentials`` (client id and secret in the form, UTF-8 and percent-encoded as every
form field, or as HTTP Basic, each form-encoded before base64 as RFC 6749 §2.3.1 says, so a
secret outside Latin-1 passes either way), the JWT bearer
grant (RS256 checked against the connected app's registered key; ``iss``, ``sub``, ``aud``,
``exp`` checked; ``exp`` may be a string, as simple-salesforce sends it) and ``password``.
Errors are ``400 {"error": …, "error_description": …}``. Tokens carry no expiry of their own;
``expire_all`` ends every session at once, which is how tests make a session go stale.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_plus

import jwt

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass
class ConnectedApp:
    """The org's single connected app and the user it runs as."""

    name: str
    client_id: str
    client_secret: str
    username: str
    password: str
    user_id: str
    org_id: str


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of two texts of any characters.

    ``compare_digest`` takes an ASCII str only, so both sides are compared as UTF-8 bytes.
    """
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


class Sessions:
    def __init__(self, app: ConnectedApp, public_key: Callable[[], bytes]):
        self.app = app
        self._public_key = public_key
        self._tokens: set[str] = set()
        self._lock = threading.Lock()

    def issue(self) -> str:
        token = f"{self.app.org_id[:15]}!{secrets.token_urlsafe(72)}"
        with self._lock:
            self._tokens.add(token)
        return token

    def valid(self, token: str | None) -> bool:
        with self._lock:
            return token in self._tokens

    def expire_all(self) -> None:
        with self._lock:
            self._tokens.clear()

    # ------------------------------------------------------------------------- grants

    def grant(self, form: dict[str, str], authorization: str | None, base_url: str) -> dict:
        """Answer one token request; raises OAuthError with Salesforce's error codes."""
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials":
            self._client_credentials(form, authorization)
        elif grant_type == JWT_GRANT:
            self._jwt(form.get("assertion"), base_url)
        elif grant_type == "password":
            self._password(form)
        else:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        return self._response(
            base_url, scope="api" if grant_type == "client_credentials" else "web api"
        )

    def _check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id != self.app.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not client_secret or not _same(client_secret, self.app.client_secret):
            raise OAuthError("invalid_client", "invalid client credentials")

    def _client_credentials(self, form: dict[str, str], authorization: str | None) -> None:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError("invalid_client", "invalid client credentials") from None
            client_id, client_secret = (unquote_plus(part) for part in decoded.partition(":")[::2])
            client_secret = client_secret or None
        self._check_client(client_id, client_secret)

    def _password(self, form: dict[str, str]) -> None:
        self._check_client(form.get("client_id"), form.get("client_secret"))
        password = form.get("password") or ""
        if form.get("username") != self.app.username or not _same(password, self.app.password):
            raise OAuthError("invalid_grant", "authentication failure")

    def _jwt(self, assertion: str | None, base_url: str) -> None:
        if not assertion:
            raise OAuthError("invalid_request", "assertion parameter missing")
        try:
            claims = jwt.decode(
                assertion,
                self._public_key(),
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_aud": False, "verify_iss": False},
            )
        except jwt.InvalidTokenError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if claims.get("iss") != self.app.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if claims.get("aud") not in (*AUDIENCES, base_url, base_url + "/"):
            raise OAuthError("invalid_grant", "audience is invalid")
        if claims.get("sub") != self.app.username:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        try:
            expires = float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if expires <= time.time():
            raise OAuthError("invalid_grant", "expired authorization code")

    def _response(self, base_url: str, scope: str) -> dict:
        issued_at = str(int(time.time() * 1000))
        identity = f"{base_url}/id/{self.app.org_id}/{self.app.user_id}"
        digest = hmac.new(
            self.app.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        )
        return {
            "access_token": self.issue(),
            "signature": base64.b64encode(digest.digest()).decode(),
            "scope": scope,
            "instance_url": base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
