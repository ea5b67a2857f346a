"""What can be a key: the value that names a deal's project in the PSA.

With ``key: Id`` the key is an 18-character record Id and always fits. With an external-Id key
(``key: External_Id__c``) it is whatever a person typed into Salesforce, and it becomes the
project's identifier (``sf-`` + key, lower-cased) and a segment of the PSA's URLs. A key Redmine
would refuse as an identifier is refused here, where rows are made, so the deal fails alone with a
reason naming its key, instead of reaching the PSA at all: the connector quotes every path segment
anyway, but a key like ``../../users/1`` should never get that far.

Redmine's rule: lower-case letters, digits, ``-`` and ``_``, at most 100 characters. psa-sync adds
its prefix (``sf-`` by default), which leaves 97 for the key; a longer ``identifier_prefix`` leaves
fewer, and Redmine's own 422 then quarantines the deal at load.
"""

from __future__ import annotations

import re
import unicodedata

IDENTIFIER_MAX_LENGTH = 100  # Redmine's Project::IDENTIFIER_MAX_LENGTH
DEFAULT_PREFIX = "sf-"
KEY_MAX_LENGTH = IDENTIFIER_MAX_LENGTH - len(DEFAULT_PREFIX)
_ALLOWED = re.compile(r"[a-z0-9_-]")
_SHOWN = 60  # characters of a key quoted in a reason
_NAMED = 4  # refused characters named in a reason


def key_problem(key: str) -> str | None:
    """None when ``key`` can name a project; else why not, naming the key (cut short)."""
    if key == "":
        return "the key is empty"
    lowered = key.lower()
    if len(lowered) > KEY_MAX_LENGTH:
        return (
            f"key {_shown(key)} cannot name a PSA project: it is {len(lowered)} characters long, "
            f"and a key may have at most {KEY_MAX_LENGTH} "
            f"(the project's identifier is {DEFAULT_PREFIX}<key>)"
        )
    refused = list(dict.fromkeys(ch for ch in lowered if not _ALLOWED.fullmatch(ch)))
    if not refused:
        return None
    named = " and ".join(", ".join(_char(ch) for ch in refused[:_NAMED]).rsplit(", ", 1))
    more = " among others" if len(refused) > _NAMED else ""
    return (
        f"key {_shown(key)} cannot name a PSA project: it contains {named}{more}; "
        "a key may hold only letters a-z, digits, '-' and '_', "
        "because it becomes the project's identifier and part of its URL"
    )


def _shown(key: str) -> str:
    return repr(key if len(key) <= _SHOWN else key[:_SHOWN] + "…")


def _char(ch: str) -> str:
    if unicodedata.category(ch).startswith("C"):  # control and other invisible characters
        return f"{ch!r} ({unicodedata.name(ch, 'a control character')})"
    return repr(ch)
