"""Salesforce record Ids: 15-character case-sensitive → 18-character case-safe.

The 3-character suffix encodes, for each block of five characters, which are upper case; an
18-character Id therefore compares safely ignoring case (which is why Redmine identifiers can be
the lower-cased Id).
"""

from __future__ import annotations

from sync.common.errors import ConfigError

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def suffix(id15: str) -> str:
    out = ""
    for block in range(3):
        chunk = id15[block * 5 : block * 5 + 5]
        bits = sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")
        out += _ALPHABET[bits]
    return out


def to18(record_id: str) -> str:
    """Return the 18-character form; an 18-character Id is returned as given."""
    record_id = record_id.strip()
    if len(record_id) == 18:
        return record_id
    if len(record_id) != 15 or not record_id.isalnum():
        raise ValueError(f"'{record_id}' is not a Salesforce Id (15 or 18 letters and digits)")
    return record_id + suffix(record_id)


def given_id(text: str) -> str:
    """An Id a person typed (a command's argument, a CSV cell) in its 18-character form; exit 2 if
    it is none."""
    try:
        return to18(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
