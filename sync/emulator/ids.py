"""Salesforce-shaped record Ids: key prefix, per-instance segment, counter, case-safe suffix.

A 15-character Id is ``prefix(3) + pod/instance(3) + counter(9)``. We replace the pod and the top
of the counter with six random characters chosen per emulator, so two emulators (two test orgs
sharing one Redmine) never mint the same Id, and keep six characters of counter, which sort in
creation order like real Ids.
"""

from __future__ import annotations

import random
import re

from sync.common.ids import suffix

BASE62 = (
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # ASCII order: sorts like Ids
)
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?\Z")
_UPPER = [ch.isupper() for ch in BASE62]
# the last two counter digits and their upper-case bits (positions 3 and 4 of the third block)
_TAIL2 = [
    (a + b, (_UPPER[i] << 3) | (_UPPER[j] << 4))
    for i, a in enumerate(BASE62)
    for j, b in enumerate(BASE62)
]


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
        """``count`` new Ids, computed a block of 3,844 at a time (bulk seeding of millions)."""
        out: list[str] = []
        number, end = self.counter + 1, self.counter + 1 + count
        while number < end:
            head_number, low = divmod(number, 3844)
            head = prefix + self.segment + _base62(head_number, 4)  # 13 of the 15 characters
            first, second = suffix(head[:10])[:2]
            third_bits = sum(1 << i for i, ch in enumerate(head[10:13]) if _UPPER[BASE62.index(ch)])
            stop = min(end, (head_number + 1) * 3844)
            for tail, bits in _TAIL2[low : low + stop - number]:
                out.append(head + tail + first + second + _SUFFIX_ALPHABET[third_bits | bits])
            number = stop
        self.counter = end - 1
        return out


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
