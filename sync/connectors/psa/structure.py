"""The PSA side of a project's structure: what a connector does with phases and tasks.

A separate, optional protocol beside :class:`sync.connectors.psa.base.PsaConnector`: a PSA that can
hold a plan below a project implements it (Redmine: versions and issues; Tryton: child
``project.work`` records). The load stage creates each :class:`sync.common.structure.Child` exactly
once by its key (docs/architecture.md §5): ``find_children`` before a create whose answer was lost,
``create_children`` in batches, phases first so tasks can name them. After creation a child belongs
to the PSA: psa-sync only reads it (progress, hours), flags it (a line item removed from the deal)
or moves its estimate (a changed quantity, only while no time is logged on it).

Per-child failures come back as :class:`ChildResult` outcomes, like projects' ``WriteResult``;
only whole-connection failures raise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from sync.common.model import Outcome
from sync.common.structure import Child, ChildKind
from sync.connectors.psa.base import ProjectRef


@dataclass(frozen=True)
class ChildRef:
    """Where one child lives in the PSA."""

    id: int  # the PSA's id (Redmine: version or issue id; Tryton: project.work id)
    key: str  # the child key it carries (sync.common.structure.child_key)
    kind: ChildKind
    project_id: int
    url: str  # a link a person can open
    status: str  # "open" | "closed"


@dataclass(frozen=True)
class ChildResult:
    """The outcome of one child create, flag or estimate change (``Outcome`` as for projects:
    ``created``, ``exists`` when its key was found already, ``updated``/``unchanged``, ``failed``
    with the PSA's words, ``unknown`` when neither confirmed nor refused)."""

    key: str
    outcome: Outcome
    ref: ChildRef | None = None
    error: str | None = None


@dataclass(frozen=True)
class ChildProgress:
    """A child as the PSA has it now (back-sync of progress, ``reconcile``, ``explain``).

    ``name`` and ``due`` are the PSA's current values: people rename and re-plan, and psa-sync
    shows that but never undoes it."""

    ref: ChildRef
    name: str
    done: bool  # closed (Redmine: a closed status / a closed version; Tryton: state done)
    estimated_hours: Decimal | None
    spent_hours: Decimal | None
    due: date | None


@dataclass(frozen=True)
class StructureSpec:
    """What the PSA offers a structure (``check``): trackers, the roles a task may carry (None: any
    text, e.g. a free-text field), and whether the child key can be stored (Redmine: the key custom
    fields exist and are enabled; Tryton: the module is installed). ``problems`` are sentences a
    person can act on."""

    trackers: tuple[str, ...]
    roles: tuple[str, ...] | None
    problems: tuple[str, ...]


@runtime_checkable
class StructureConnector(Protocol):
    """What the load stage needs to give a project its plan. Batch-shaped, like PsaConnector."""

    def find_children(self, project: ProjectRef, keys: Sequence[str]) -> dict[str, list[ChildRef]]:
        """Every child of ``project`` carrying one of ``keys`` (several: a person copied one)."""
        ...

    def create_children(
        self, project: ProjectRef, children: Sequence[Child], phases: Mapping[str, ChildRef]
    ) -> list[ChildResult]:
        """Create each child under ``project``; a task's ``phase`` is looked up in ``phases`` (the
        phase keys already created, by key). The connector reads back what it made and reports a
        difference from what was asked (a swapped tracker, a dropped custom value) as ``failed``."""
        ...

    def children(self, projects: Sequence[ProjectRef]) -> dict[int, list[ChildProgress]]:
        """The keyed children of each project (by project id), with their progress and hours."""
        ...

    def flag_children(self, refs: Sequence[ChildRef], note: str) -> list[ChildResult]:
        """Mark children whose line item left the deal (a note, never a delete or a close)."""
        ...

    def set_estimates(self, changes: Sequence[tuple[ChildRef, Decimal]]) -> list[ChildResult]:
        """Move each task's estimated hours (the caller checked no time is logged on it)."""
        ...

    def structure_spec(self) -> StructureSpec: ...


class HandsOnStructure:
    """The structure protocol handed to a connector's ``_structure`` (Redmine's versions and issues,
    Tryton's child works): the one place that says the six methods go there."""

    _structure: Any

    def find_children(self, project: ProjectRef, keys: Sequence[str]) -> dict[str, list[ChildRef]]:
        return self._structure.find_children(project, keys)

    def create_children(
        self, project: ProjectRef, children: Sequence[Child], phases: Mapping[str, ChildRef]
    ) -> list[ChildResult]:
        return self._structure.create_children(project, children, phases)

    def children(self, projects: Sequence[ProjectRef]) -> dict[int, list[ChildProgress]]:
        return self._structure.children(projects)

    def flag_children(self, refs: Sequence[ChildRef], note: str) -> list[ChildResult]:
        return self._structure.flag_children(refs, note)

    def set_estimates(self, changes: Sequence[tuple[ChildRef, Decimal]]) -> list[ChildResult]:
        return self._structure.set_estimates(changes)

    def structure_spec(self) -> StructureSpec:
        return self._structure.structure_spec()
