"""Salesforce-shaped record Ids: key prefix, a per-instance segment, a counter, the case-safe suffix.

A 15-character Id is ``prefix(3) + pod/instance(3) + counter(9)``. We replace the pod and the top
of the counter with six random characters chosen per emulator, so two emulators (two test orgs
sharing one Redmine) never mint the same Id, and keep six characters of counter, which sort in
creation order like real Ids.
"""

from __future__ import annotations

import random
import re

from sync.sfid import suffix

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # ASCII order: sorts like Ids
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?\Z")


def random_chars(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(BASE62) for _ in range(count))


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        out.append(BASE62[digit])
    if number:
        raise OverflowError("Id counter exhausted")
    return "".join(reversed(out))


class IdFactory:
    """Mints 18-character Ids for one emulator; thread-safety is the caller's (the store lock)."""

    def __init__(self, segment: str, start: int = 0):
        if len(segment) != 6:
            raise ValueError("the instance segment has 6 characters")
        self.segment = segment
        self.counter = start

    def new(self, prefix: str) -> str:
        self.counter += 1
        id15 = prefix + self.segment + _base62(self.counter, 6)
        return id15 + suffix(id15)

    def batch(self, prefix: str, count: int) -> list[str]:
        return [self.new(prefix) for _ in range(count)]


def normalize(value: object) -> str | None:
    """The canonical 18-character Id for a 15- or 18-character one; None when malformed.

    An 18-character Id is case-insensitive: its suffix says which letters of the first 15 are
    upper case, so ``001abc…`` typed in any case resolves to the same record.
    """
    if not isinstance(value, str) or not _ID_RE.match(value):
        return None
    if len(value) == 15:
        return value + suffix(value)
    head, tail = value[:15], value[15:].upper()
    if any(ch not in _SUFFIX_ALPHABET for ch in tail):
        return None
    chars = list(head)
    for block, code in enumerate(tail):
        bits = _SUFFIX_ALPHABET.index(code)
        for i in range(5):
            pos = block * 5 + i
            chars[pos] = chars[pos].upper() if bits & (1 << i) else chars[pos].lower()
    restored = "".join(chars)
    return restored + suffix(restored)
