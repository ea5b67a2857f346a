"""`psa-sync check`: prove a config and mapping safe before a run touches anything.

Offline it loads the config and the mapping, reporting every problem at once. Online it spends
one token call and one ``describe`` per Salesforce object the mapping touches
(:mod:`sync.ops.check.salesforce`), one ``GetTopic`` per event topic with ``events.enabled``
(:mod:`sync.ops.check.events`), and one read of the PSA's fields (:mod:`sync.ops.check.psa`).
Findings never raise: each becomes one line (ERROR, WARN or OK, where, message) so a person
sees everything wrong in one go, and the exit code follows docs/architecture.md §7: 0 ok (warnings
allowed), 2 a config/mapping/field error, 3 a side unreachable, 4 the API budget guard, 5
credentials refused. When a side could not be reached the check is incomplete, so that code
wins over 2: a CI job that retries on 3 then sees the real verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.common.errors import ConfigError, SyncError
from sync.common.problems import dotted
from sync.common.yamldoc import KeyPath, YamlDoc, load_yaml
from sync.config import Settings, load_settings
from sync.mapping.loader import load_mapping
from sync.mapping.model import Mapping

JSON_VERSION = 1
LEVELS = ("ERROR", "WARN", "OK")
# When several things failed, the code a caller must act on first: a side that refused our
# credentials or could not be reached makes the check incomplete.
_PRECEDENCE = (5, 4, 3, 2)
_FILE_PROBLEM = re.compile(r"^(?P<where>.+?:\d+): (?P<key>.+?): (?P<message>.*)\Z", re.S)


@dataclass(frozen=True)
class Finding:
    """One line of the report.

    ``where`` is ``file:line`` when the finding is about a place in a file, else a short
    subject (``salesforce``, ``psa``, ``Opportunity.Amount``); ``key`` is the mapping key path
    (``project.fields.budget.from``) when there is one; ``exit_code`` is what an ERROR costs.
    """

    level: str
    where: str
    message: str
    key: str | None = None
    exit_code: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level, "where": self.where, "key": self.key, "message": self.message}

    def text(self) -> str:
        subject = f"{self.key}: " if self.key else ""
        return f"{self.level:<5}  {self.where}  {subject}{self.message}"


@dataclass
class CheckResult:
    """Every finding, the calls the check cost, and the exit code they add up to."""

    findings: list[Finding] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)
    offline: bool = False

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "ERROR"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "WARN"]

    @property
    def exit_code(self) -> int:
        codes = {f.exit_code for f in self.errors}
        return next((code for code in _PRECEDENCE if code in codes), 0)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "version": JSON_VERSION,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "offline": self.offline,
            "findings": [f.to_json() for f in self.findings],
            "api_calls": dict(self.api_calls),
        }

    def text(self) -> str:
        order = {level: n for n, level in enumerate(LEVELS)}
        lines = [f.text() for f in sorted(self.findings, key=lambda f: order[f.level])]
        verdict = "ok" if self.ok else "FAILED"
        scope = " (offline: nothing was contacted)" if self.offline else ""
        lines.append(
            f"check {verdict}{scope}: {len(self.errors)} error(s), "
            f"{len(self.warnings)} warning(s); exit {self.exit_code}"
        )
        return "\n".join(lines)


class Findings:
    """Collects findings about one mapping file, placing each at the line of its key."""

    def __init__(
        self, result: CheckResult, mapping_path: Path | None = None, doc: YamlDoc | None = None
    ):
        self.result = result
        self.path = str(mapping_path) if mapping_path is not None else None
        self.doc = doc

    def at(self, level: str, key: KeyPath, message: str) -> None:
        """A finding about a mapping key (``("project", "fields", "budget", "from")``)."""
        where = f"{self.path}:{self.doc.line(key) if self.doc else 1}" if self.path else "mapping"
        self.result.findings.append(
            Finding(level, where, message, dotted(key) or None, 2 if level == "ERROR" else 0)
        )

    def about(self, level: str, where: str, message: str, exit_code: int = 2) -> None:
        """A finding about a system or a config file as a whole (no mapping line)."""
        code = exit_code if level == "ERROR" else 0
        self.result.findings.append(Finding(level, where, message, None, code))

    def failure(self, where: str, exc: SyncError) -> None:
        """An error raised by a connector: one ERROR per problem, costing its exit code."""
        problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
        for problem in problems:
            self.about("ERROR", where, problem, exc.exit_code)


def check(config_path: Path, offline: bool = False) -> CheckResult:
    """Validate ``config_path`` and its mapping; online, verify every mapped field on both sides.

    Never raises a ``SyncError`` for a finding: the result carries them and the exit code.
    """
    result = CheckResult(offline=offline)
    settings, mapping, findings = _load(Path(config_path), result)
    if settings is None or mapping is None or findings is None:
        return result
    findings.about("OK", str(settings.mapping), _mapping_summary(mapping))
    clients = _build_clients(settings, findings)
    if clients is None or offline:
        return result
    from sync.ops.check import psa as checker_psa
    from sync.ops.check import salesforce as checker_salesforce

    client, psa = clients
    try:
        checker_salesforce.check_salesforce(client, mapping, findings)
        if settings.events.enabled:
            from sync.ops.check.events import check_events

            check_events(client, settings, findings)
    finally:
        result.api_calls = dict(client.usage.calls)
    checker_psa.check_psa(psa, settings, mapping, findings)
    return result


def _load(
    config_path: Path, result: CheckResult
) -> tuple[Settings | None, Mapping | None, Findings | None]:
    """The config, then the mapping: every problem of each as one finding."""
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        result.findings.extend(_file_finding(problem, str(config_path)) for problem in exc.problems)
        return None, None, None
    try:
        mapping = load_mapping(settings.mapping)
    except ConfigError as exc:  # MappingError
        result.findings.extend(_file_finding(problem, "mapping") for problem in exc.problems)
        return settings, None, None
    return settings, mapping, Findings(result, settings.mapping, _positions(settings.mapping))


def _file_finding(problem: str, fallback: str) -> Finding:
    """A config or mapping problem (``file:line: key: message``) as a finding at that line."""
    match = _FILE_PROBLEM.match(problem)
    if match is None:
        return Finding("ERROR", fallback, problem, None, 2)
    key = match["key"]
    return Finding(
        "ERROR", match["where"], match["message"], None if key.startswith("(") else key, 2
    )


def _positions(path: Path) -> YamlDoc | None:
    """Key lines of a mapping that already loaded cleanly (so this read cannot fail in practice)."""
    try:
        return load_yaml(path)
    except (OSError, ConfigError):
        return None


def _build_clients(settings: Settings, findings: Findings) -> tuple[Any, Any] | None:
    """Both connectors, built without a network call: options and CA bundle are checked here."""
    from sync.orchestrator.session import make_clients

    try:
        return make_clients(settings)
    except SyncError as exc:
        findings.failure(str(settings.path), exc)
        return None


def _mapping_summary(mapping: Mapping) -> str:
    text = (
        f"mapping loaded: {mapping.source.object} -> {len(mapping.fields)} project field(s), "
        f"{len(mapping.writeback)} write-back and {len(mapping.backsync)} back-sync field(s)"
    )
    if (
        structure := mapping.structure
    ) is not None:  # its templates were read and validated with it
        text += (
            f"; structure: {len(structure.routes)} template(s)"
            f"{', line items become tasks' if structure.line_items else ''}, roles "
            f"{', '.join(sorted(structure.roles())) or '(none)'}"
        )
    return text
