"""Reading ``adopt --pairs FILE``: the bytes a person (or Excel) saved, decoded, capped and checked.

Why this is more than ``csv.reader(open(path))``:

- **Encodings.** Excel saves "CSV UTF-8" with a byte-order mark and "Unicode Text" as UTF-16 with
  one (tab-separated): both are decoded by their BOM. Anything else must be UTF-8; a file that is
  not (Latin-1, Windows-1252: Excel's plain "CSV" on many machines) is refused naming the line and
  the byte, with what to do, rather than guessed at: a pairs file holds Ids and identifiers, ASCII,
  so saving it again as UTF-8 loses nothing.
- **Separators.** ``,`` as written by hand, or the tab or ``;`` of Excel's other exports, taken from
  the first line that has one.
- **Size.** The file is read up to ``MAX_BYTES`` (a pair is a few dozen bytes: 10 MiB is hundreds of
  thousands of pairs); a bigger one is refused before it is read into memory.
- **Broken CSV.** An unclosed quote makes one field of the rest of the file; past csv's field limit
  (128 KiB) that was a ``csv.Error`` traceback. Every csv error is a problem at its line.
- **Cells are shown escaped** (:func:`shown`): a NUL or a terminal escape in a cell is printed as
  ``\\x00``, never sent raw to a terminal or a log.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from sync.common.errors import AdoptionRefused
from sync.common.ids import suffix

HEADER = ("opportunity_id", "project")
MAX_BYTES = 10 * 1024 * 1024
SEPARATORS = (",", "\t", ";")
SAVE_AS = "save it as UTF-8 (Excel: File > Save As > CSV UTF-8)"


@dataclass(frozen=True)
class PairLine:
    line: int  # 0: not from a file (`psa-sync link`)
    record_id: str
    project: str  # id or identifier, as written


def shown(cell: str) -> str:
    """A cell as a message shows it.

    Every character that is not printable is escaped (``\\x00``, ``\\x1b``).
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in cell)


def decoded(path: Path) -> str:
    """The file's text, by its BOM (UTF-8, UTF-16) or as UTF-8; ``AdoptionRefused`` otherwise."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise AdoptionRefused(
            f"{path}: cannot read the pairs file: {exc.strerror or exc}"
        ) from None
    if len(data) > MAX_BYTES:
        raise AdoptionRefused(
            f"{path}: the pairs file is over {MAX_BYTES // (1024 * 1024)} MiB; "
            "split it and give each part with --pairs"
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1 if encoding != "utf-16" else "?"
        raise AdoptionRefused(
            f"{path}:{line}: the pairs file is not {encoding.upper().replace('-SIG', '')} "
            f"(byte 0x{data[exc.start]:02x}); {SAVE_AS}"
        ) from None


def _separator(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return next((s for s in SEPARATORS if s in first), ",")


def _record_id(cell: str) -> str:
    """The 18-character Id of a cell, or ValueError naming it escaped."""
    if len(cell) not in (15, 18) or not (cell.isascii() and cell.isalnum()):
        raise ValueError(f"'{shown(cell)}' is not a Salesforce Id (15 or 18 letters and digits)")
    return cell if len(cell) == 18 else cell + suffix(cell)


def read_pairs(path: Path) -> tuple[list[PairLine], list[tuple[int, str]]]:
    """``opportunity_id,project`` lines (a header line is allowed), and the problems.

    The malformed or repeated lines come back as (line, message): ``match.resolve`` reports them
    with the rest, all at once.
    """
    text = decoded(path)
    lines, problems = [], []
    seen: tuple[dict[str, int], dict[str, int]] = ({}, {})
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_separator(text))
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append((reader.line_num, f"not CSV ({exc}); an unclosed quote? {SAVE_AS}"))
            break
        number = reader.line_num
        problem = _take(number, [cell.strip() for cell in cells], seen, lines)
        problems += problem
    if not lines and not problems:
        problems.append((1, "no pairs in the file (expected opportunity_id,project lines)"))
    return lines, problems


def _take(number: int, cells: list[str], seen, lines: list[PairLine]) -> list[tuple[int, str]]:
    """Add one line's pair to ``lines``, or say what is wrong with it."""
    if not any(cells) or (number == 1 and tuple(c.lower() for c in cells) == HEADER):
        return []
    if len(cells) != 2 or not all(cells):
        return [
            (
                number,
                f"expected opportunity_id,project (a project id or identifier), not "
                f"'{shown(','.join(cells))}'",
            )
        ]
    try:
        record_id = _record_id(cells[0])
    except ValueError as exc:
        return [(number, str(exc))]
    deals, projects = seen
    sides = (
        (deals, record_id, f"deal {cells[0]}"),
        (projects, cells[1].lower(), f"project {shown(cells[1])}"),
    )
    again = [
        (number, f"{what} is also on line {found[value]}")
        for found, value, what in sides
        if value in found
    ]
    if not again:
        deals[record_id], projects[cells[1].lower()] = number, number
        lines.append(PairLine(number, record_id, cells[1]))
    return again
