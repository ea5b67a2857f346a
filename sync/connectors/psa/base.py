"""The PSA connector protocol (docs/architecture.md): plain dataclasses in and out, and a registry.

The pipeline talks to every PSA through :class:`PsaConnector` only, so a second PSA (Tryton) is a
new module plus one registry line. Per-record failures come back as :class:`WriteResult` outcomes;
only whole-connection failures (``PsaUnavailable``, ``AuthError``) and configuration mistakes
(``ConfigError``) raise.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import requests

from sync.common.errors import ConfigError
from sync.common.model import Outcome


@dataclass(frozen=True)
class ProjectRef:
    """Where one deal's project lives in the PSA."""

    id: int  # the PSA's numeric id
    identifier: str  # e.g. "sf-006xx...": prefix + key lowercased
    key: str  # the Salesforce key read from the key custom field
    url: str  # a link a person can open
    status: str  # "active" | "closed"
    parent_id: int | None = None


@dataclass(frozen=True)
class WriteResult:
    """The outcome of a create, update or lifecycle change (:class:`sync.common.model.Outcome`)."""

    key: str
    outcome: Outcome
    ref: ProjectRef | None = None
    error: str | None = None  # the PSA's own words, e.g. "Billing type is not included in the list"
    values: dict | None = None  # for "exists": the project's current typed values (as read())


@dataclass(frozen=True)
class Delivery:
    """PSA-owned delivery values of one project (back-sync, docs/architecture.md)."""

    status: str  # "active" | "closed"
    percent_complete: int | None
    spent_hours: Decimal | None  # None when hours were not recounted this time
    values: dict | None = (
        None  # the project's current typed values of our fields (conflict detection)
    )
    figures: dict | None = (
        None  # further delivery values the PSA computes, e.g. Tryton's revenue and cost
    )


@dataclass(frozen=True)
class FieldSpec:
    """What the PSA can take for one of our project fields (used by ``check`` and the mapping)."""

    name: str  # our field name, e.g. "billing_type"
    type: str  # "string" | "decimal" | "integer" | "date" | "boolean" | "list"
    required: bool
    allowed: tuple[str, ...] | None  # allowed values of a list field
    psa_name: str  # the PSA's name: "Billing type", or the native "name"
    readonly: bool = (
        False  # computed by the PSA (Tryton's progress, revenue): back-sync only, never mapped
    )


@dataclass(frozen=True)
class NewProject:
    """A project to create for one deal; ``fields`` holds typed values by our field name."""

    key: str
    fields: dict[str, Any]
    parent: ProjectRef | None = None


@dataclass(frozen=True)
class ProjectChange:
    """An update of an existing project: only the fields that changed."""

    ref: ProjectRef
    fields: dict[str, Any]


@dataclass(frozen=True)
class Member:
    """One person to put on a project (the mapping's ``members``): a PSA user and a role's name."""

    user_id: int
    role: str  # the PSA's own role name, e.g. "Manager"


@runtime_checkable
class PsaConnector(Protocol):
    """What the pipeline needs from a PSA. Every method is batch-shaped to keep calls few.

    Runtime-checkable so a test can hold a connector (or the in-memory fake) against it.
    """

    url: str  # normalised base URL (lower-case host, no trailing slash): the state guard uses it

    def describe(self) -> dict[str, FieldSpec]: ...

    def find(self, keys: Sequence[str]) -> dict[str, list[ProjectRef]]: ...

    def create(self, rows: Sequence[NewProject]) -> list[WriteResult]: ...

    def update(self, changes: Sequence[ProjectChange]) -> list[WriteResult]: ...

    def read(self, refs: Sequence[ProjectRef]) -> dict[str, dict]: ...

    def set_lifecycle(self, refs: Sequence[ProjectRef], action: str) -> list[WriteResult]: ...

    def delivery(self, refs: Sequence[ProjectRef], hours: bool) -> dict[str, Delivery]: ...

    def list_linked(self) -> list[ProjectRef]: ...

    def list_unlinked(self) -> list[tuple[ProjectRef, dict]]:
        """Every active or closed project carrying no key, with its typed values (``adopt``): the
        projects people made by hand. Accounts' parent projects are not deal projects: left out."""
        ...

    def project(self, ref: str) -> tuple[ProjectRef, dict] | None:
        """One project by its id or identifier, with its typed values; None when there is none."""
        ...

    def set_keys(self, pairs: Sequence[tuple[ProjectRef, str | None]]) -> list[WriteResult]:
        """Write each project's key (adopting it), or clear it (None: ``unlink``), whatever its
        identifier and even when it is closed; the refs of the results carry the new key."""
        ...

    def identifier(self, key: str) -> str:
        """The identifier psa-sync gives the project of ``key``.

        Several projects may carry one key (a person copied one by hand); the pipeline keeps the
        one whose identifier is this, so a copy is never mistaken for the deal's own project.
        """
        ...

    def ensure_parent(
        self, account_id: str, name: str, fields: dict[str, Any] | None = None
    ) -> ProjectRef:
        """The one parent project of a Salesforce Account, found or created (``parent_project``).

        Asked before each deal project under the Account is created, so a connector remembers the
        answer for the run; ``fields`` supplies values the PSA requires of every project. A parent
        is never a linked deal project (``find`` and ``list_linked`` do not return it). Raises
        ``PsaUnavailable`` when the PSA cannot confirm it, ``RecordError`` when it refuses it.
        """
        ...

    def users_by_email(self, emails: Sequence[str]) -> dict[str, int]:
        """Lower-cased e-mail → the id of the active PSA user with that address; an address with no
        account is simply absent (the caller reports it; it is never an error)."""
        ...

    def set_members(self, ref: ProjectRef, members: Sequence[Member]) -> WriteResult:
        """Give each user the role on the project, keeping roles they already have; nobody is
        removed. ``updated`` or ``unchanged``; ``failed`` with the PSA's words (an unknown role, a
        closed project); ``unknown`` after a 5xx. Only whole-connection failures raise."""
        ...


class ReadsAndWrites:
    """The protocol's project reads and writes, handed to a connector's ``_reads`` and ``_writes``.

    Both connectors split their work the same way (a reads module, a writes module, a site that
    knows the PSA's fields); this is the one place that says which method goes where.
    """

    _reads: Any
    _writes: Any

    def find(self, keys: Sequence[str]) -> dict[str, list[ProjectRef]]:
        return self._reads.find(keys)

    def list_linked(self) -> list[ProjectRef]:
        return self._reads.list_linked()

    def list_unlinked(self) -> list[tuple[ProjectRef, dict]]:
        return self._reads.list_unlinked()

    def project(self, ref: str) -> tuple[ProjectRef, dict] | None:
        return self._reads.project(ref)

    def read(self, refs: Sequence[ProjectRef]) -> dict[str, dict]:
        return self._reads.read(refs)

    def delivery(self, refs: Sequence[ProjectRef], hours: bool) -> dict[str, Delivery]:
        return self._reads.delivery(refs, hours)

    def create(self, rows: Sequence[NewProject]) -> list[WriteResult]:
        return self._writes.create(rows)

    def update(self, changes: Sequence[ProjectChange]) -> list[WriteResult]:
        return self._writes.update(changes)

    def set_lifecycle(self, refs: Sequence[ProjectRef], action: str) -> list[WriteResult]:
        return self._writes.set_lifecycle(refs, action)

    def set_keys(self, pairs: Sequence[tuple[ProjectRef, str | None]]) -> list[WriteResult]:
        return self._writes.set_keys(pairs)


#: factory(url, api_key, options, session) -> PsaConnector
ConnectorFactory = Callable[[str, str, dict, requests.Session], PsaConnector]

# name -> "module:Class"; imported on demand so an unused connector costs nothing at start-up.
_REGISTRY: dict[str, str] = {
    "redmine": "sync.connectors.psa.redmine.connector:RedmineConnector",
    "tryton": "sync.connectors.psa.tryton.connector:TrytonConnector",
}


def register(name: str, target: str) -> None:
    """Register a connector class (``"package.module:Class"``, with a ``from_settings`` method)."""
    _REGISTRY[name] = target


#: ``psa.options.on_closed``: what a change does to a project closed in the PSA (README,
#: "Delivery flows back"): ``skip`` it (kept pending until a person reopens it), or reopen, update
#: and close it again.
ON_CLOSED = ("skip", "reopen_update_close")


@dataclass(frozen=True)
class Policies:
    """The ``psa.options`` that the stages read, not only the connector: typed, each with its one
    default (the connectors' constructors and ``LoadContext`` take theirs from here)."""

    on_closed: str = "skip"
    parent_projects: bool = (
        False  # ``customer: parent_project`` (Redmine): an Account's project is the parent
    )

    @classmethod
    def of(cls, options: dict[str, Any] | None) -> Policies:
        options = options or {}
        return cls(
            on_closed=options.get("on_closed", cls.on_closed),
            parent_projects=options.get("customer") == "parent_project",
        )


def check_on_closed(value: object, problems: list[str]) -> None:
    """The one check of ``psa.options.on_closed``, both connectors'."""
    if value not in ON_CLOSED:
        problems.append(f"psa.options.on_closed: {value!r} must be {' or '.join(ON_CLOSED)}")


def connector_options(
    connector: str, options: dict | None, known: set[str], timeout: float
) -> dict:
    """``psa.options`` as a connector's constructor takes them (``timeout`` from ``http.timeout``
    unless given); a name the connector does not know is a ``ConfigError`` listing those it does."""
    options = dict(options or {})
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"psa.options: unknown option(s) {', '.join(unknown)} for {connector}; "
            f"known: {', '.join(sorted(known))}"
        )
    options.setdefault("timeout", timeout)
    return options


def known_connectors() -> list[str]:
    """The names ``psa.connector`` accepts, sorted (the config loader names them in its problem)."""
    return sorted(_REGISTRY)


def get_connector(name: str) -> ConnectorFactory:
    """The factory for config ``psa.connector: <name>``; an unknown name is a ``ConfigError``."""
    target = _REGISTRY.get(name)
    if target is None:
        known = ", ".join(known_connectors())
        raise ConfigError(f"psa.connector: unknown connector {name!r}; choose one of: {known}")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls.from_settings
