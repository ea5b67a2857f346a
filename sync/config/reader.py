"""Walks the raw config YAML: sections, ``${VAR}`` references, secrets, paths and durations.

Each helper takes the key path of what it reads (``("salesforce", "login_url")``) and records a
problem in :class:`~sync.yamldoc.Problems` instead of raising, so every problem of a config is
reported at once and each names its line: a wrong value its own line, a missing key the line of
the section that should hold it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC
from datetime import timedelta
from pathlib import Path
from typing import Any

from sync.config.settings import At, Secret
from sync.yamldoc import KeyPath, Problems

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = "|".join(_DAYS)
_AT = re.compile(rf"^\s*(?:(daily|(?:{_DAY})(?:-(?:{_DAY}))?(?:,(?:{_DAY})(?:-(?:{_DAY}))?)*)\s+)?"
                 r"([01]?\d|2[0-3]):([0-5]\d)\s*$", re.IGNORECASE)


def parse_at(value: Any) -> At | None:
    """``sun 03:00``, ``mon-fri 06:30``, ``mon,thu 12:00``, ``daily 02:00`` or ``02:00`` (UTC); None if not one."""
    match = _AT.match(str(value)) if isinstance(value, str) else None
    if not match:
        return None
    days = (match.group(1) or "daily").lower()
    return At("*" if days == "daily" else days, int(match.group(2)), int(match.group(3)))


def parse_duration(value: Any) -> timedelta | None:
    """`30s`, `10m`, `2h`, `1d` (or a bare number of seconds; `0` is allowed); None if not one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    match = _DURATION.match(str(value))
    if not match:
        return None
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


class Reader:
    """Reads values out of the raw YAML, interpolating `${VAR}`, recording every problem at its line.

    ``path`` is the config file, resolved, so relative paths in it resolve against its folder.
    """

    def __init__(self, path: Path, problems: Problems, environ: MappingABC[str, str]):
        self.path = path
        self.problems = problems
        self.environ = environ

    def problem(self, where: KeyPath, message: str) -> None:
        self.problems.add(where, message)

    def section(self, raw: dict, where: KeyPath, allowed: set[str], required: bool = True) -> dict:
        """The mapping at ``where`` (``raw`` is its parent), its unknown keys reported."""
        value = raw.get(where[-1])
        if value is None:
            if required:
                self.problem(where, "missing section")
            return {}
        if not isinstance(value, dict):
            self.problem(where, "must be a mapping")
            return {}
        self.unknown(value, where, allowed)
        return value

    def unknown(self, raw: dict, where: KeyPath, allowed: set[str]) -> None:
        for key in sorted(set(raw) - allowed):
            self.problem((*where, key), f"unknown key; valid keys: {', '.join(sorted(allowed))}")

    def text(self, raw: dict, where: KeyPath, default: Any = None, required: bool = False) -> Any:
        value = raw.get(where[-1], default)
        if value is None:
            if required:
                self.problem(where, "missing")
            return None
        return self.interpolate(value, where)

    def interpolate(self, value: Any, where: KeyPath) -> Any:
        if not isinstance(value, str):
            return value

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name not in self.environ:
                self.problem(where, f"environment variable {name} is not set")
                return ""
            return self.environ[name]

        return _ENV_REF.sub(replace, value)

    def secret(self, raw: dict, where: KeyPath, required: bool) -> Secret | None:
        """A secret from `${VAR}` or from `<key>_file`; a literal in the YAML is refused."""
        key = where[-1]
        literal, file_key = raw.get(key), f"{key}_file"
        file_where = (*where[:-1], file_key)
        if literal is not None and not (isinstance(literal, str) and _ENV_REF.fullmatch(literal.strip())):
            self.problem(where, f"secrets may not be written in the file; use ${{VAR}} or {file_key}")
            return None
        if literal is not None:
            value = self.interpolate(literal.strip(), where)
            return Secret(value) if value else None
        if raw.get(file_key) is not None:
            secret_path = self.resolve(self.interpolate(raw[file_key], file_where))
            try:
                return Secret(secret_path.read_text().strip())
            except OSError as exc:
                self.problem(file_where, f"cannot read {secret_path}: {exc.strerror}")
                return None
        if required:
            self.problem(where, f"missing; give ${{VAR}} or {file_key}")
        return None

    def duration(self, raw: dict, where: KeyPath, default: str) -> timedelta:
        value = raw.get(where[-1], default)
        parsed = parse_duration(value)
        if parsed is None:
            self.problem(where, f"'{value}' is not a duration; write <number><s|m|h|d>, e.g. 10m")
            return timedelta(0)
        return parsed

    def at(self, raw: dict, where: KeyPath, default: str | None) -> At | None:
        value = raw.get(where[-1], default)
        if value is None:
            return None
        parsed = parse_at(value)
        if parsed is None:
            self.problem(where, f"'{value}' is not a time of the week; write [days] HH:MM (UTC), e.g. "
                                "'sun 03:00', 'mon-fri 06:30' or '02:00' for every day")
        return parsed

    def flag(self, raw: dict, where: KeyPath, default: bool) -> bool:
        value = raw.get(where[-1], default)
        if not isinstance(value, bool):
            self.problem(where, f"'{value}' is not true or false")
            return default
        return value

    def number(self, raw: dict, where: KeyPath, default: float, kind: type) -> Any:
        value = raw.get(where[-1], default)
        try:
            return kind(value)
        except (TypeError, ValueError):
            self.problem(where, f"'{value}' is not a number")
            return default

    def resolve(self, value: str | Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.path.parent / path)

