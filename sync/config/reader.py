"""Walks the raw config YAML: sections, ``${VAR}`` references, secrets, paths and durations.

Each helper records a problem instead of raising, so :func:`sync.config.loader.load_settings`
reports every problem of a config at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC
from datetime import timedelta
from pathlib import Path
from typing import Any

from sync.config.settings import Secret

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: Any, where: str, problems: list[str]) -> timedelta:
    """`30s`, `10m`, `2h`, `1d` (or a bare number of seconds; `0` is allowed)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return timedelta(seconds=float(text))
    match = _DURATION.match(str(text))
    if not match:
        problems.append(f"{where}: '{text}' is not a duration; write <number><s|m|h|d>, e.g. 10m")
        return timedelta(0)
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


class Reader:
    """Walks the raw YAML, interpolating `${VAR}`, and records every problem with its key path."""

    def __init__(self, path: Path, environ: MappingABC[str, str]):
        self.path = path
        self.environ = environ
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}: {key}: {message}")

    def section(self, raw: dict, key: str, allowed: set[str], required: bool = True) -> dict:
        value = raw.get(key)
        if value is None:
            if required:
                self.problem(key, "missing section")
            return {}
        if not isinstance(value, dict):
            self.problem(key, "must be a mapping")
            return {}
        for unknown in sorted(set(value) - allowed):
            self.problem(f"{key}.{unknown}", f"unknown key; valid keys: {', '.join(sorted(allowed))}")
        return value

    def text(self, raw: dict, key: str, where: str, default: Any = None, required: bool = False) -> Any:
        value = raw.get(key, default)
        if value is None:
            if required:
                self.problem(f"{where}.{key}", "missing")
            return None
        return self.interpolate(value, f"{where}.{key}")

    def interpolate(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            return value

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name not in self.environ:
                self.problem(where, f"environment variable {name} is not set")
                return ""
            return self.environ[name]

        return _ENV_REF.sub(replace, value)

    def secret(self, raw: dict, key: str, where: str, required: bool) -> Secret | None:
        """A secret from `${VAR}` or from `<key>_file`; a literal in the YAML is refused."""
        literal, file_key = raw.get(key), f"{key}_file"
        if literal is not None and not (isinstance(literal, str) and _ENV_REF.fullmatch(literal.strip())):
            self.problem(f"{where}.{key}", f"secrets may not be written in the file; use ${{VAR}} or {file_key}")
            return None
        if literal is not None:
            value = self.interpolate(literal.strip(), f"{where}.{key}")
            return Secret(value) if value else None
        if raw.get(file_key) is not None:
            secret_path = self.resolve(self.interpolate(raw[file_key], f"{where}.{file_key}"))
            try:
                return Secret(secret_path.read_text().strip())
            except OSError as exc:
                self.problem(f"{where}.{file_key}", f"cannot read {secret_path}: {exc.strerror}")
                return None
        if required:
            self.problem(f"{where}.{key}", f"missing; give ${{VAR}} or {file_key}")
        return None

    def resolve(self, value: str | Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.path.parent / path)

