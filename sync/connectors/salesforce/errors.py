"""Salesforce error responses as our exceptions, decided by HTTP status and ``errorCode``.

Never by message text (it is translated and reworded between releases), and no message we write
carries SOQL values, request bodies, tokens or secrets: Salesforce echoes the query in a
``MALFORMED_QUERY`` message, so only the explanation after ``ERROR at Row`` is kept. Which codes are
transient lives here too, because the collections results (``sobject_collections``) and the
client's retries both ask it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sync.common.errors import (
    AuthError,
    BudgetExceededError,
    ConfigError,
    SalesforceUnavailable,
    SyncError,
)
from sync.common.redaction import redact

if (
    TYPE_CHECKING
):  # only its status and parsed body are read: no import of simple-salesforce at run time
    from simple_salesforce.exceptions import SalesforceError

#: errorCodes worth trying again next run (or, for UNABLE_TO_LOCK_ROW, a moment later)
TRANSIENT_CODES: frozenset[str] = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "SERVER_UNAVAILABLE",
        "REQUEST_RUNNING_TOO_LONG",
        "QUERY_TIMEOUT",
        "REQUEST_LIMIT_EXCEEDED",
        "UNKNOWN_EXCEPTION",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    }
)
#: what a message about a stopped run ends with
RESUMES = "the run stopped and resumes from its last committed page"
_QUERY_ENDPOINTS = (
    "query",
    "queryMore",
    "bulk2_create",
)  # the calls that send SOQL Salesforce can refuse
_NO_SUCH_COLUMN = re.compile(r"No such column '([^']+)' on entity '([^']+)'")


def first_error(exc: SalesforceError) -> tuple[str | None, str]:
    """(errorCode, message) from a simple-salesforce exception's parsed body (a JSON array)."""
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode"), redact(str(content[0].get("message") or ""))
    return None, ""


def without_query_echo(message: str) -> str:
    """Salesforce echoes the SOQL before ``ERROR at Row``; keep only the explanation."""
    marker = message.find("ERROR at Row")
    return message[marker:].replace("\n", " ").strip() if marker >= 0 else message.strip()


def translate(exc: SalesforceError, endpoint: str) -> SyncError:
    """Our exception for one Salesforce error response, from its status and errorCode."""
    status = exc.status
    code, message = first_error(exc)
    what = f"Salesforce {endpoint} call"
    if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
        return BudgetExceededError(
            f"the org's daily API limit is spent (403 REQUEST_LIMIT_EXCEEDED); {RESUMES}"
        )
    if status in (401, 403):
        return AuthError(
            f"{what} refused ({status} {code or 'no errorCode'}): {message or 'no message'}; "
            "check the integration user's permissions and the connected app's policies"
        )
    if status >= 500:
        return SalesforceUnavailable(
            f"{what} failed with {status} {code or ''} after retries; {RESUMES}"
        )
    if code in TRANSIENT_CODES or code == "INVALID_QUERY_LOCATOR":
        return SalesforceUnavailable(f"{what} failed ({status} {code}); {RESUMES}")
    if code == "INVALID_FIELD" and (column := _NO_SUCH_COLUMN.search(message)):
        return ConfigError(
            f"Salesforce has no field '{column.group(1)}' on {column.group(2)}; "
            "fix the mapping (or grant the integration user access to that field)"
        )
    if endpoint in _QUERY_ENDPOINTS and code in (
        "INVALID_FIELD",
        "MALFORMED_QUERY",
        "INVALID_TYPE",
    ):
        return ConfigError(
            f"Salesforce rejected our query ({code}): {without_query_echo(message)}; "
            "fix the mapping's criteria or fields"
        )
    if status == 404:
        return ConfigError(
            f"{what}: not found (404 {code or ''}); check the object name in the mapping"
        )
    return ConfigError(
        f"Salesforce rejected the {endpoint} call ({status} {code or 'no errorCode'}): "
        f"{without_query_echo(message) or 'no message'}"
    )
