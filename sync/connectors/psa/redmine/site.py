"""One Redmine as the reads and the writes see it: its custom fields, and project JSON ↔ our types.

Both halves of the connector turn a Redmine project into a :class:`ProjectRef` and typed values,
and our typed fields into a request body, against the same custom fields resolved once per run.
Keeping that translation here gives them one status map and one identifier rule, and leaves each
half to its own job (``reads``, ``writes``).
"""

from __future__ import annotations

import threading
from typing import Any

from sync.common.errors import PsaUnavailable
from sync.connectors.psa.base import ProjectRef
from sync.connectors.psa.redmine.fields import (
    CUSTOM_FIELDS,
    CustomField,
    custom_value,
    parse_custom_fields,
    project_body,
    resolve,
    typed_values,
)
from sync.connectors.psa.redmine.http import RedmineHttp, path

_STATUS = {1: "active", 5: "closed"}
#: What :meth:`RedmineSite.ref` and ``typed_values`` index into; checked before they do.
PROJECT = {
    "id": int,
    "identifier": str,
    "name?": str,
    "status?": int,
    "parent?": {"id": int},
    "custom_fields?": [{"id": int, "value?": (str, list)}],
}
#: The answer to a create (201) and to ``GET /projects/<identifier>.json``.
ONE_PROJECT = {"project": PROJECT}


def status_of(project: dict) -> str:
    """ "active" or "closed" for Redmine's 1 and 5; any other is read-only to us, as closed."""
    status = project.get("status")
    return _STATUS.get(status, "closed") if isinstance(status, int) else "closed"


class RedmineSite:
    """The transport, the resolved custom fields and the translation, shared by reads and writes."""

    def __init__(
        self, http: RedmineHttp, identifier_prefix: str, wanted: dict[str, str], explicit: set[str]
    ):
        self.http = http
        self.url = http.url
        self.identifier_prefix = identifier_prefix
        self._wanted = wanted  # our field -> Redmine custom field name
        self._explicit = explicit  # the names the user gave: these must exist
        self._cf: dict[str, CustomField] | None = None
        self._lock = threading.Lock()

    def fields(self) -> dict[str, CustomField]:
        """Our field -> Redmine custom field, resolved once (``GET /custom_fields.json``, admin)."""
        with self._lock:
            if self._cf is None:
                body = self.http.get(path("custom_fields"), shape=CUSTOM_FIELDS)
                self._cf = resolve(parse_custom_fields(body), self._wanted, self._explicit)
            return self._cf

    def identifier(self, key: str) -> str:
        """The identifier psa-sync gives the project of ``key`` (prefer it among copies)."""
        return f"{self.identifier_prefix}{key.lower()}"

    def ref(self, project: dict, key: str | None = None) -> ProjectRef:
        """A project JSON as a ProjectRef; ``key`` defaults to the project's key custom field."""
        if key is None:
            key = custom_value(project, self.fields()["key"]) or ""
        parent = project.get("parent") or {}
        return ProjectRef(
            id=int(project["id"]),
            identifier=project["identifier"],
            key=str(key),
            url=self.url + path("projects", project["identifier"], ext=""),
            status=status_of(project),
            parent_id=parent.get("id"),
        )

    def values(self, project: dict) -> dict:
        """A project JSON as our field -> typed value."""
        return typed_values(project, self.fields())

    def body(self, fields: dict[str, Any], key: str | None = None) -> dict:
        """Our typed fields as the ``project`` object of a POST or PUT."""
        return project_body(fields, self.fields(), key=key, where=self.url)

    def lookup(self, identifier: str) -> tuple[int, dict | None]:
        """(status, project JSON or None) of ``GET /projects/<identifier>``.

        403 (archived) and 404 are answers here, not errors: a create uses them to decide whether
        it committed. Anything else means Redmine cannot tell us now (``PsaUnavailable``).
        """
        response = self.http.send("GET", path("projects", identifier))
        if response.status_code == 200:
            return 200, self.http.answer(response, ONE_PROJECT)["project"]
        if response.status_code in (403, 404):
            return response.status_code, None
        raise PsaUnavailable(
            f"Redmine answered {response.status_code} looking up project {identifier}"
        )
