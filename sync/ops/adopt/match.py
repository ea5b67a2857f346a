"""Which projects people made by hand belong to which deals (pure: no I/O, no clock).

By name: a deal's mapped project ``name`` against a project's own, compared ignoring case, accents
and whitespace. Only a name carried by exactly one deal and exactly one project is a match; a name
shared on either side is ambiguous and never linked automatically, because a wrong link would push
one deal's values over another deal's project. A project that already carries an unlinked deal's key
(an interrupted ``adopt --apply`` wrote it) is that deal's, whatever its name.

By pairs: the lines of a CSV a person wrote (or the one pair of ``psa-sync link``), every line
checked against both systems before anything is written; any problem refuses the whole file, naming
its line (``sync.ops.adopt.pairs`` reads the file).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from sync.common.errors import AdoptionRefused
from sync.common.model import DesiredRow
from sync.connectors.psa.base import ProjectRef
from sync.ops.adopt.pairs import PairLine, shown


@dataclass(frozen=True)
class HandProject:
    """A PSA project carrying no key, with its typed values."""

    ref: ProjectRef
    values: dict

    @property
    def name(self) -> str:
        return str(self.values.get("name") or "")


@dataclass(frozen=True)
class Pair:
    """One deal and the project it adopts.

    ``by`` says how they were paired: name, key, pairs or link.
    """

    row: DesiredRow
    project: ProjectRef
    project_name: str
    by: str
    line: int | None = None


@dataclass(frozen=True)
class Ambiguous:
    """A name several deals or several projects share: reported, never linked automatically."""

    name: str
    deals: tuple[DesiredRow, ...]
    projects: tuple[HandProject, ...]


@dataclass
class Matching:
    """The four answers of ``adopt``'s report."""

    matched: list[Pair] = field(default_factory=list)
    ambiguous: list[Ambiguous] = field(default_factory=list)
    deals_alone: list[DesiredRow] = field(default_factory=list)
    projects_alone: list[HandProject] = field(default_factory=list)


@dataclass
class Universe:
    """What pairs are matched against: the unlinked deals of the criteria (and range), the free
    projects, and why any other deal or project cannot be linked."""

    rows: dict[str, DesiredRow]  # deals that may be linked, by Id
    refused: dict[
        str, str
    ]  # deal Id → why it cannot be ("is already linked to project 7", "does not map: …")
    projects: dict[str, HandProject]  # free projects by str(id) and identifier
    taken: dict[str, str]  # project id or identifier → why it cannot be ("already carries key …")
    by_key: dict[str, ProjectRef] = field(
        default_factory=dict
    )  # deal key → the one project carrying it
    ignored: set[str] = field(
        default_factory=set
    )  # deals unlinked by hand: left out of name matching
    linked: set[str] = field(default_factory=set)  # deals of the range already linked

    def not_mapped(self) -> dict[str, str]:
        """Deals read that cannot be linked for another reason than an existing link.

        They do not map.
        """
        return {
            record_id: why
            for record_id, why in self.refused.items()
            if record_id not in self.linked
        }


def comparable(name: str | None) -> str:
    """A name as the matching compares it: accents dropped, case folded, whitespace collapsed."""
    text = unicodedata.normalize("NFKD", name or "")
    text = "".join(char for char in text if not unicodedata.combining(char))
    return " ".join(text.casefold().split())


def by_name(universe: Universe) -> Matching:
    """Match by key first, then one deal to one project by name.

    By key: a project already carrying the deal's key.
    """
    result = Matching()
    deals: dict[str, list[DesiredRow]] = {}
    for row in sorted(universe.rows.values(), key=lambda r: r.record_id):
        if row.record_id in universe.ignored:
            continue
        if row.key in universe.by_key:
            ref = universe.by_key[row.key]
            result.matched.append(Pair(row, ref, "", "key"))
            continue
        deals.setdefault(comparable(row.fields.get("name")), []).append(row)
    projects: dict[str, list[HandProject]] = {}
    for project in _distinct(universe.projects):
        projects.setdefault(comparable(project.name), []).append(project)
    for name in sorted(set(deals) | set(projects)):
        rows, hand = deals.get(name, []), projects.get(name, [])
        if name and len(rows) == 1 and len(hand) == 1:
            result.matched.append(Pair(rows[0], hand[0].ref, hand[0].name, "name"))
        elif name and rows and hand:
            result.ambiguous.append(Ambiguous(hand[0].name or name, tuple(rows), tuple(hand)))
        else:
            result.deals_alone += rows
            result.projects_alone += hand
    return result


def _distinct(projects: dict[str, HandProject]) -> list[HandProject]:
    """Each project once (the index holds it under its id and its identifier), oldest first."""
    return sorted({p.ref.id: p for p in projects.values()}.values(), key=lambda p: p.ref.id)


def resolve(
    lines: list[PairLine],
    universe: Universe,
    source: Path | None = None,
    earlier: list[tuple[int, str]] = (),
) -> list[Pair]:
    """The pairs, each checked against both systems.

    Every problem at once, ``earlier`` ones (of the file itself) included, in line order
    (``AdoptionRefused``, exit 2), each naming its line or its record.
    """
    pairs, problems = [], list(earlier)
    for line in lines:
        row = universe.rows.get(line.record_id)
        project = universe.projects.get(line.project.lower())
        if row is None:
            why = universe.refused.get(
                line.record_id, "is not among the deals of the criteria (and range)"
            )
            problems.append((line.line, f"deal {line.record_id} {why}"))
        if project is None:
            why = universe.taken.get(
                line.project.lower(), "does not exist in the PSA (active or closed)"
            )
            problems.append((line.line, f"project {shown(line.project)} {why}"))
        if row is not None and project is not None:
            pairs.append(
                Pair(
                    row, project.ref, project.name, "pairs" if source else "link", line.line or None
                )
            )
    if problems:
        at = f"{source}:" if source is not None else ""
        raise AdoptionRefused(
            [
                f"{at}{n}: {message}" if at else message
                for n, message in sorted(problems, key=lambda problem: problem[0])
            ]
        )
    return pairs
