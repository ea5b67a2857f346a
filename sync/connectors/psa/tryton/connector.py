"""The Tryton connector: deals become Tryton projects (``project.work``), delivery values come back.

Tryton (trytond 8.2 with project, timesheet, project_invoice and project_revenue) is a real PSA:
customer, invoice method, revenue, dates, progress, timesheets and a Done status are its own
fields, so the mapping language writes them directly (``site`` says which is which). The
external key is ``project.work.salesforce_key``, added by psa-sync's Tryton module
(``sync/connectors/psa/tryton/module``): unique and indexed, so finding a deal's project is one
search and a second project with the same key is refused by the database.

The halves: ``rpc`` (JSON-RPC, Tryton's value encoding, login), ``site`` (fields and
translation), ``reads`` and ``writes``. README.md, "Tryton", is the user's guide.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import requests

from sync.common.errors import ConfigError
from sync.common.model import Outcome
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
from sync.connectors.psa.structure import HandsOnStructure
from sync.connectors.psa.tryton.reads import TrytonReads
from sync.connectors.psa.tryton.rpc import TrytonRpc
from sync.connectors.psa.tryton.site import TrytonSite
from sync.connectors.psa.tryton.structure import TrytonStructure
from sync.connectors.psa.tryton.writes import TrytonWrites

_IDENTIFIER_PREFIX = re.compile(r"^[a-z][a-z0-9_-]*$")
_OPTIONS = {
    "user",
    "identifier_prefix",
    "create_parties",
    "on_closed",
    "write_concurrency",
    "customer",
    "timeout",
}


class TrytonConnector(ReadsAndWrites, HandsOnStructure):
    """A :class:`~sync.connectors.psa.base.PsaConnector` for Tryton 8.2 over JSON-RPC.

    ``url`` is the server and database (``http://127.0.0.1:8000/psa``); ``password`` is the user's
    password (config ``psa.api_key``), which opens one session per run.
    """

    create_chunk = CreateChunk()  # one RPC per project: links commit chunk by chunk

    def __init__(
        self,
        url: str,
        password: str,
        *,
        session: requests.Session,
        user: str = "admin",
        identifier_prefix: str = "sf-",
        create_parties: bool = True,
        on_closed: str = Policies.on_closed,
        write_concurrency: int = 1,
        customer: str = "party",
        timeout: float = 30.0,
    ):
        _check_options(
            user, identifier_prefix, create_parties, on_closed, write_concurrency, customer
        )
        self.rpc = TrytonRpc(url, user, password, session, timeout)
        self.url = self.rpc.url
        self.on_closed = on_closed
        self._site = TrytonSite(self.rpc, identifier_prefix, create_parties)
        self._reads = TrytonReads(self._site)
        self._writes = TrytonWrites(self._site, self._reads, write_concurrency)
        self._structure = TrytonStructure(self._site)

    @classmethod
    def from_settings(
        cls,
        url: str,
        api_key: str,
        options: dict,
        session: requests.Session,
        *,
        timeout: float = 30.0,
    ) -> TrytonConnector:
        """Build from config ``psa.url``, ``psa.api_key`` (the password) and ``psa.options``."""
        options = connector_options("tryton", options, _OPTIONS, timeout)
        return cls(url, api_key, session=session, **options)

    def describe(self) -> dict[str, FieldSpec]:
        return self._site.describe()

    def absent(self) -> dict[str, str]:
        """Our field -> what to install in Tryton so it has a place (for ``check``)."""
        return self._site.absent()

    def identifier(self, key: str) -> str:
        return self._site.identifier(key)

    def users_by_email(self, emails: Sequence[str]) -> dict[str, int]:
        """Lower-cased e-mail -> the id of the active Tryton user (``res.user``) of that address."""
        wanted = sorted({e.strip().lower() for e in emails if e and e.strip()})
        if not wanted:
            return {}
        rows = self._site.read_call(
            "search_read",
            [["email", "in", wanted], ["active", "=", True]],
            0,
            None,
            [["id", "ASC"]],
            ["email"],
            model="res.user",
        )
        found: dict[str, int] = {}
        for row in rows:
            found.setdefault((row.get("email") or "").lower(), row["id"])
        return {e: found[e] for e in wanted if e in found}

    def set_members(self, ref: ProjectRef, members: Sequence[Member]) -> WriteResult:
        """Tryton's works have no members (the team is who logs time): ``members`` says so."""
        return WriteResult(
            ref.key,
            Outcome.FAILED,
            ref=ref,
            error="Tryton projects have no members: remove `members` from a Tryton mapping",
        )

    def ensure_parent(
        self, account_id: str, name: str, fields: dict[str, Any] | None = None
    ) -> ProjectRef:
        raise ConfigError(
            "psa.options.customer: parent_project is a Redmine option; in Tryton the customer is "
            "the project's party (customer: party)"
        )


def _check_options(
    user: object,
    prefix: object,
    create_parties: object,
    on_closed: object,
    concurrency: object,
    customer: object,
) -> None:
    """The options as the config file gave them (any YAML value), each checked."""
    problems: list[str] = []
    if not isinstance(user, str) or not user:
        problems.append(
            f"psa.options.user: {user!r} must be the Tryton login psa-sync uses (e.g. admin)"
        )
    if not isinstance(prefix, str) or not _IDENTIFIER_PREFIX.match(prefix):
        problems.append(
            f"psa.options.identifier_prefix: {prefix!r} must start with a lower-case letter "
            "and use only a-z 0-9 - _"
        )
    if not isinstance(create_parties, bool):
        problems.append(f"psa.options.create_parties: {create_parties!r} must be true or false")
    check_on_closed(on_closed, problems)
    if (
        not isinstance(concurrency, int)
        or isinstance(concurrency, bool)
        or not 1 <= concurrency <= 16
    ):
        problems.append(
            f"psa.options.write_concurrency: {concurrency!r} must be an integer from 1 to 16"
        )
    if customer != "party":
        problems.append(
            f"psa.options.customer: {customer!r}: in Tryton the customer is the project's party "
            "(customer: party)"
        )
    if problems:
        raise ConfigError(problems)
