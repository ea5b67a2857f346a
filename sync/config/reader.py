"""Walks the raw config YAML: sections, ``${VAR}`` references, secrets, paths, numbers and
durations.

Each helper takes the key path of what it reads (``("salesforce", "login_url")``) and records a
problem in :class:`~sync.common.problems.Problems` instead of raising, so every problem of a config
is reported at once and each names its line: a wrong value its own line, a missing key the line of
the section that should hold it. A helper checks the *type* before it uses a value, because a
person can write any YAML at any key (``mapping: [a]``) and must get a sentence, not a traceback.
A helper that found a problem returns None, so the caller neither builds on the value nor
reports it twice.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping as MappingABC
from datetime import timedelta
from pathlib import Path
from typing import Any

from sync.common.problems import Problems, kind_of
from sync.common.yamldoc import KeyPath
from sync.config.settings import At, Secret

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = "|".join(_DAYS)
_AT = re.compile(
    rf"^\s*(?:(daily|(?:{_DAY})(?:-(?:{_DAY}))?(?:,(?:{_DAY})(?:-(?:{_DAY}))?)*)\s+)?"
    r"([01]?\d|2[0-3]):([0-5]\d)\s*$",
    re.IGNORECASE,
)


def parse_at(value: Any) -> At | None:
    """``sun 03:00``, ``mon-fri 06:30``, ``mon,thu 12:00``, ``daily 02:00`` or ``02:00`` (UTC);
    None if not one."""
    match = _AT.match(str(value)) if isinstance(value, str) else None
    if not match:
        return None
    days = (match.group(1) or "daily").lower()
    return At("*" if days == "daily" else days, int(match.group(2)), int(match.group(3)))


def parse_duration(value: Any) -> timedelta | None:
    """`30s`, `10m`, `2h`, `1d` (or a bare number of seconds; `0` is allowed); None if not one.

    Raises:
        OverflowError: longer than a ``timedelta`` can hold (``99999999999d``).
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=float(value)) if math.isfinite(value) else None
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match:
        return None
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


class Reader:
    """Reads values out of the raw YAML, interpolating `${VAR}`, recording each problem at its line.

    ``path`` is the config file, resolved, so relative paths in it resolve against its folder.
    """

    def __init__(self, path: Path, problems: Problems, environ: MappingABC[str, str]):
        self.path = path
        self.problems = problems
        self.environ = environ
        # Sections missing or not a mapping: their own problem is said once, and the "missing" of
        # each key they would have held would only repeat it.
        self.skipped: set[KeyPath] = set()

    def problem(self, where: KeyPath, message: str) -> None:
        if any(where[:n] in self.skipped for n in range(len(where))):
            return
        self.problems.add(where, message)

    def section(self, raw: dict, where: KeyPath, allowed: set[str], required: bool = True) -> dict:
        """The mapping at ``where`` (``raw`` is its parent), its unknown keys reported."""
        value = raw.get(where[-1])
        if value is None or not isinstance(value, dict):
            if value is not None:
                self.problem(where, f"must be a mapping, not {kind_of(value)}")
            elif required:
                self.problem(where, "missing section")
            self.skipped.add(where)
            return {}
        self.unknown(value, where, allowed)
        return value

    def unknown(self, raw: dict, where: KeyPath, allowed: set[str]) -> None:
        for key in sorted(set(raw) - allowed, key=str):
            self.problem(
                (*where, str(key)), f"unknown key; valid keys: {', '.join(sorted(allowed))}"
            )

    def text(
        self,
        raw: dict,
        where: KeyPath,
        default: Any = None,
        required: bool = False,
        what: str = "text",
    ) -> str | None:
        """A text value, ``${VAR}`` interpolated; None when absent, empty or wrong (said).

        ``what`` names the expected kind in "must be <what>, not a list".
        """
        value = raw.get(where[-1], default)
        if value is None:
            if required:
                self.problem(where, "missing")
            return None
        if not isinstance(value, str):
            self.problem(where, f"must be {what}, not {kind_of(value)}")
            return None
        filled = self.interpolate(value, where)
        if filled is not None and not filled.strip():
            if required:
                self.problem(where, "is empty")
            return None
        return filled

    def interpolate(self, value: Any, where: KeyPath) -> Any:
        """``value`` with each ``${VAR}`` replaced; None (said) if a variable is unset or blank."""
        if not isinstance(value, str):
            return value
        failed = False

        def replace(match: re.Match) -> str:
            nonlocal failed
            name = match.group(1)
            value = self.environ.get(name)
            # empty is as useless as unset, but the message names another fix
            if value is None or not value.strip():
                self.problem(
                    where,
                    f"environment variable {name} is "
                    + ("not set" if value is None else "set but empty"),
                )
                failed = True
                return ""
            return value

        result = _ENV_REF.sub(replace, value)
        return None if failed else result

    def file_path(
        self, raw: dict, where: KeyPath, default: str | None = None, required: bool = False
    ) -> Path | None:
        """A file path, ``${VAR}`` and ``~`` expanded, relative to the config's folder."""
        text = self.text(raw, where, default, required, what="a file path")
        if text is None:
            return None
        if "\0" in text:
            self.problem(where, "a file path cannot hold a NUL character")
            return None
        try:
            return self.resolve(text)
        except RuntimeError:  # ~someone who is no user here
            self.problem(where, f"cannot expand {text.split('/')[0]!r}: no such user")
            return None

    def secret(self, raw: dict, where: KeyPath, required: bool) -> Secret | None:
        """A secret from `${VAR}` or from `<key>_file`; a literal in the YAML is refused."""
        key = where[-1]
        literal, file_key = raw.get(key), f"{key}_file"
        file_where = (*where[:-1], file_key)
        if literal is not None and not (
            isinstance(literal, str) and _ENV_REF.fullmatch(literal.strip())
        ):
            self.problem(
                where, f"secrets may not be written in the file; use ${{VAR}} or {file_key}"
            )
            return None
        if literal is not None:
            value = self.interpolate(literal.strip(), where)
            return Secret(value) if value else None
        if raw.get(file_key) is not None:
            secret_path = self.file_path(raw, file_where)
            return None if secret_path is None else self._secret_file(secret_path, file_where)
        if required:
            self.problem(where, f"missing; give ${{VAR}} or {file_key}")
        return None

    def _secret_file(self, path: Path, where: KeyPath) -> Secret | None:
        try:
            text = path.read_bytes().decode("utf-8").strip()
        except OSError as exc:
            self.problem(where, f"cannot read {path}: {exc.strerror or exc}")
            return None
        except UnicodeDecodeError:
            self.problem(where, f"{path} is not UTF-8 text")
            return None
        if not text:
            self.problem(where, f"{path} is empty")
            return None
        return Secret(text)

    def duration(self, raw: dict, where: KeyPath, default: str) -> timedelta | None:
        value = raw.get(where[-1], default)
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            self.problem(where, f"must be a duration such as 10m, not {kind_of(value)}")
            return None
        try:
            parsed = parse_duration(value)
        except OverflowError:
            self.problem(where, f"'{value}' is too long a duration")
            return None
        if parsed is None:
            self.problem(where, f"'{value}' is not a duration; write <number><s|m|h|d>, e.g. 10m")
        elif parsed < timedelta(0):
            self.problem(where, f"{value} is negative; a duration is 0 or more")
            return None
        return parsed

    def at(self, raw: dict, where: KeyPath, default: str | None) -> At | None:
        value = raw.get(where[-1], default)
        if value is None:
            return None
        parsed = parse_at(value)
        if parsed is None:
            self.problem(
                where,
                f"'{value}' is not a time of the week; write [days] HH:MM (UTC), e.g. "
                "'sun 03:00', 'mon-fri 06:30' or '02:00' for every day",
            )
        return parsed

    def flag(self, raw: dict, where: KeyPath, default: bool) -> bool:
        value = raw.get(where[-1], default)
        if not isinstance(value, bool):
            self.problem(where, f"'{value}' is not true or false")
            return default
        return value

    def number(
        self,
        raw: dict,
        where: KeyPath,
        default: float | None,
        kind: type,
        minimum: float | None = None,
        why: str = "",
    ) -> Any:
        """A finite int or float (a numeric string too), at least ``minimum`` (``why`` says why)."""
        value = raw.get(where[-1], default)
        if isinstance(value, str):
            value = _numeric(value)
            if value is None:
                self.problem(where, f"'{raw[where[-1]]}' is not a number")
                return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(where, f"must be a number, not {kind_of(value)}")
            return None
        if kind is int and isinstance(value, float):
            if not (math.isfinite(value) and value.is_integer()):
                self.problem(where, f"{value!r} is not a whole number")
                return None
            value = int(value)
        elif kind is float:
            try:
                value = float(value)  # a 400-digit int is too large for one
            except OverflowError:
                self.problem(where, f"{value} is too large")
                return None
            if not math.isfinite(value):
                self.problem(where, f"{value!r} is not a finite number")
                return None
        if minimum is not None and value < minimum:
            self.problem(where, f"{value!r} is less than {minimum}{why}")
            return None
        return value

    def resolve(self, value: str | Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.path.parent / path)


def _numeric(text: str) -> int | float | None:
    for kind in (int, float):
        try:
            return kind(text.strip())
        except ValueError:
            pass
    return None
