"""Collect the problems of a config or mapping, each naming file, line and key, so a person fixes
the file in one pass: every validator adds to one :class:`Problems` instead of raising.

The line of a key comes from the :class:`~sync.common.yamldoc.YamlDoc` the file was read into; the
helpers here say the usual problems the same way everywhere (an unknown key, a value of the wrong
kind, a section that is not a mapping).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sync.common.yamldoc import KeyPath, YamlDoc


@dataclass
class Problems:
    """Collects problems as ``file:line: key.path: message`` so all are reported at once."""

    source: str
    doc: YamlDoc
    items: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for path, line, message in self.doc.issues:
            self.items.append(self._format(path, message, line))

    def add(self, path: KeyPath, message: str, line: int | None = None) -> None:
        # A value the loader could not build reads as null; a second "must not be null" about
        # the same key would only repeat the problem already reported.
        if path in self.doc.unreadable:
            return
        self.items.append(self._format(path, message, line))

    def _format(self, path: KeyPath, message: str, line: int | None) -> str:
        where = line if line is not None else self.doc.line(path)
        key = dotted(path) or "(document)"
        return f"{self.source}:{where}: {key}: {message}"


def unknown_keys(data: dict, path: KeyPath, allowed: tuple[str, ...], problems: Problems) -> None:
    """One problem per key of ``data`` that is not ``allowed``, naming the valid ones."""
    for key in data:
        if key not in allowed:
            problems.add(
                (*path, str(key)), f"unknown key '{key}'; valid keys: {', '.join(allowed)}"
            )


def section(value: Any, path: KeyPath, problems: Problems, required: bool = False) -> dict:
    """The mapping at ``path``: {} when it is absent (a problem if ``required``) or is not one (a
    problem), so a validator goes on to report the rest."""
    if value is None:
        if required:
            problems.add(path, "missing")
        return {}
    if not isinstance(value, dict):
        problems.add(path, f"must be a mapping, not {kind_of(value)}")
        return {}
    return value


def kind_of(value: Any) -> str:
    """What a YAML value is, in a person's words, for "must be …, not <kind>" messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, datetime):
        return "a date and time"
    if isinstance(value, date):
        return "a date"
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "text", bytes: "binary data"}
    return names.get(type(value), type(value).__name__)


def dotted(path: KeyPath) -> str:
    """``("project", "fields", "name")`` -> ``project.fields.name``; list items as ``[2]``.

    A key a person could not read back as written (empty, blank at an end, a control character) is
    quoted: ``''`` or ``'\\r'`` says which key, where the bare text would break the message's line.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            readable = text.isprintable() and text.strip() == text and text != ""
            out += ("." if out else "") + (text if readable else repr(text))
    return out
