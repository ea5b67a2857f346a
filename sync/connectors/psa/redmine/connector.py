"""The Redmine connector: deals become Redmine projects, delivery values come back.

Facts this connector is built on (read from Redmine 5.0.4's source; see docs/architecture.md),
and the module that acts on each:

* The external key lives in a project custom field; ``cf_N==a|b|c`` finds several keys in one
  call. An unknown filter is silently dropped and returns *all* projects, so every match is
  re-checked client-side (``reads``).
* The identifier (prefix + key lowercased) is unique, so a second create of the same deal gets
  422 "Identifier has already been taken": a second guard against duplicates after the intent
  (``writes``).
* A 500 or timeout on a create may hide a commit (SQLite "database is locked"): look the
  identifier up before calling it failed ("unknown" when not found) (``writes``).
* Closed projects are read-only (403). Archived ones are invisible even to admin: never archive.
* Project creates serialise inside Redmine: ``write_concurrency`` bounds the parallel requests.

Custom fields and the translation between project JSON and our types live in ``site``
(over ``fields`` and the transport ``http``); this module checks the options and
presents the halves as one :class:`~sync.connectors.psa.base.PsaConnector`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import requests

from sync.common.errors import ConfigError
from sync.connectors.psa.base import (
    FieldSpec,
    Member,
    Policies,
    ProjectRef,
    ReadsAndWrites,
    WriteResult,
    check_on_closed,
    connector_options,
)
from sync.connectors.psa.batch import CreateChunk
from sync.connectors.psa.redmine.fields import DEFAULT_CUSTOM_FIELDS, CustomField, field_specs
from sync.connectors.psa.redmine.http import RedmineHttp
from sync.connectors.psa.redmine.members import RedmineMembers
from sync.connectors.psa.redmine.reads import RedmineReads
from sync.connectors.psa.redmine.site import RedmineSite
from sync.connectors.psa.redmine.structure import RedmineStructure
from sync.connectors.psa.redmine.structure_reads import (
    DEFAULT_KEY_FIELD,
    DEFAULT_ROLE_FIELD,
    DEFAULT_TRACKER,
)
from sync.connectors.psa.redmine.writes import RedmineWrites
from sync.connectors.psa.structure import HandsOnStructure

_IDENTIFIER_PREFIX = re.compile(r"^[a-z][a-z0-9_-]*$")
# The best measured on Redmine 5.0 both on SQLite (WEBrick) and on PostgreSQL (Puma): projects are
# created one at a time inside Redmine whatever the database (its nested set locks every project row
# per create), so more parallel requests only queue, and SQLite answers 500s (docs/benchmarks.md).
DEFAULT_WRITE_CONCURRENCY = 2
_OPTIONS = {
    "identifier_prefix",
    "customer",
    "on_closed",
    "write_concurrency",
    "custom_fields",
    "timeout",
    "task_tracker",
    "child_key_field",
    "role_field",
}


class RedmineConnector(ReadsAndWrites, HandsOnStructure):
    """A :class:`~sync.connectors.psa.base.PsaConnector` for Redmine 5.x over its REST API."""

    create_chunk = CreateChunk()  # one POST per project: links commit chunk by chunk

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        session: requests.Session,
        identifier_prefix: str = "sf-",
        custom_fields: dict[str, str] | None = None,
        write_concurrency: int = DEFAULT_WRITE_CONCURRENCY,
        customer: str = "custom_field",
        on_closed: str = Policies.on_closed,
        timeout: float = 30.0,
        task_tracker: str = DEFAULT_TRACKER,
        child_key_field: str = DEFAULT_KEY_FIELD,
        role_field: str = DEFAULT_ROLE_FIELD,
    ):
        _check_options(identifier_prefix, write_concurrency, customer, on_closed, custom_fields)
        self.http = RedmineHttp(url, api_key, session, timeout)
        self.url = self.http.url
        self.identifier_prefix = identifier_prefix
        self.write_concurrency = write_concurrency
        self.customer = customer
        self.on_closed = on_closed
        wanted = {**DEFAULT_CUSTOM_FIELDS, **(custom_fields or {})}
        self._site = RedmineSite(self.http, identifier_prefix, wanted, set(custom_fields or {}))
        self._reads = RedmineReads(self._site, write_concurrency)
        self._writes = RedmineWrites(self._site, write_concurrency)
        self._members = RedmineMembers(self.http)
        self._structure = RedmineStructure(
            self.http, write_concurrency, task_tracker, child_key_field, role_field
        )

    @classmethod
    def from_settings(
        cls,
        url: str,
        api_key: str,
        options: dict,
        session: requests.Session,
        *,
        timeout: float = 30.0,
    ) -> RedmineConnector:
        """Built from ``psa.url``, ``psa.api_key``, ``psa.options`` (docs/architecture.md)."""
        options = connector_options("redmine", options, _OPTIONS, timeout)
        return cls(url, api_key, session=session, **options)

    # --- fields -------------------------------------------------------------------------------

    def fields(self) -> dict[str, CustomField]:
        """Our field -> Redmine custom field, resolved once (``GET /custom_fields.json``, admin)."""
        return self._site.fields()

    def describe(self) -> dict[str, FieldSpec]:
        return field_specs(self.fields())

    def identifier(self, key: str) -> str:
        """The identifier psa-sync gives the project of ``key`` (prefer it among copies)."""
        return self._site.identifier(key)

    # --- reads (reads) and writes (writes): ReadsAndWrites, and ---------------

    def spent_hours(self, project_id: int) -> Decimal | None:
        return self._reads.spent_hours(project_id)

    def ensure_parent(
        self, account_id: str, name: str, fields: dict[str, Any] | None = None
    ) -> ProjectRef:
        return self._writes.ensure_parent(account_id, name, fields)

    # --- people (members) -------------------------------------------------------------

    def users_by_email(self, emails: Sequence[str]) -> dict[str, int]:
        return self._members.users_by_email(emails)

    def set_members(self, ref: ProjectRef, members: Sequence[Member]) -> WriteResult:
        return self._members.set_members(ref, members)

    def role_names(self) -> list[str]:
        return self._members.role_names()


def _check_options(
    prefix: object, concurrency: object, customer: object, on_closed: object, custom_fields: object
) -> None:
    """The options as the config file gave them (any YAML value), each checked."""
    problems: list[str] = []
    if not isinstance(prefix, str) or not _IDENTIFIER_PREFIX.match(prefix):
        problems.append(
            f"psa.options.identifier_prefix: {prefix!r} must start with a lower-case letter "
            "and use only a-z 0-9 - _"
        )
    if (
        not isinstance(concurrency, int)
        or isinstance(concurrency, bool)
        or not 1 <= concurrency <= 16
    ):
        problems.append(
            f"psa.options.write_concurrency: {concurrency!r} must be an integer from 1 to 16"
        )
    if customer not in ("custom_field", "parent_project"):
        problems.append(
            f"psa.options.customer: {customer!r} must be custom_field or parent_project"
        )
    check_on_closed(on_closed, problems)
    if custom_fields is not None and not (
        isinstance(custom_fields, dict) and all(isinstance(v, str) for v in custom_fields.values())
    ):
        problems.append(
            "psa.options.custom_fields: must map our field names to Redmine custom field names"
        )
    if problems:
        raise ConfigError(problems)
