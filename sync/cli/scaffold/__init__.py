"""`psa-sync init [DIR]`: a commented config and default mapping to start from, never over a file.

The config (``psa-sync.yaml`` here) reads every secret from a ``${VAR}``; the mapping is the default
one (``mappings/opportunity_to_project.yaml``, which this folder links to, so there is one copy)
with ``start_date`` set to today: the runs follow what changes from today on, and the deals won
before come in once through ``adopt`` and ``backfill`` (README.md, "First day"). Beside it go the
two example project templates (``mappings/templates/``) that the mapping's commented ``structure:``
section names, so uncommenting it is all a first project structure takes (README.md, "Project
structure").
"""

from __future__ import annotations

import re
from datetime import date
from importlib import resources
from pathlib import Path

from sync.common.errors import ConfigError

CONFIG = "psa-sync.yaml"
MAPPING = Path("mappings") / "opportunity_to_project.yaml"
#: The example project templates the mapping's commented ``structure:`` section names (README
#: "Project structure").
TEMPLATES = ("implementation.yaml", "standard.yaml")
_START_DATE = re.compile(r"^(\s*start_date:\s*)\d{4}-\d{2}-\d{2}", re.M)


def template(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def init(directory: Path, today: date | None = None) -> tuple[Path, Path]:
    """Write the config and the mapping into ``directory``; refuse (exit 2, nothing written) if
    either exists."""
    config, mapping = directory / CONFIG, directory / MAPPING
    templates = [mapping.parent / "templates" / name for name in TEMPLATES]
    existing = [path for path in (config, mapping, *templates) if path.exists()]
    if existing:
        raise ConfigError(
            [
                f"{path}: already exists; psa-sync init never overwrites a file (move it away, or "
                "give another directory)"
                for path in existing
            ]
        )
    text = _START_DATE.sub(
        lambda m: m.group(1) + (today or date.today()).isoformat(), template(MAPPING.name), 1
    )
    try:
        mapping.parent.mkdir(parents=True, exist_ok=True)
        with config.open("x", encoding="utf-8") as out:
            out.write(template(CONFIG))
        with mapping.open("x", encoding="utf-8") as out:
            out.write(text)
        templates[0].parent.mkdir(exist_ok=True)
        for path in templates:
            with path.open("x", encoding="utf-8") as out:
                out.write(template(f"templates/{path.name}"))
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot write there: {exc.strerror or exc}") from None
    return config, mapping


def variables() -> list[str]:
    """The environment variables the config reads, in order (comments aside)."""
    code = "\n".join(line.split("#", 1)[0] for line in template(CONFIG).splitlines())
    return list(dict.fromkeys(re.findall(r"\$\{(\w+)\}", code)))


def next_steps(config: Path, mapping: Path) -> str:
    where = f" --config {config}" if config.parent != Path(".") else ""
    since = date(date.today().year - 1, 1, 1).isoformat()
    return "\n".join(
        [
            f"wrote {config} and {mapping} "
            "(start_date: today; the deals won before come in through adopt and backfill)",
            "next:",
            f"  1. set the variables the config reads: {', '.join(variables())}",
            f"  2. psa-sync check{where}                      # both systems, every mapped field",
            f"  3. psa-sync adopt{where}                      "
            "# projects people already made: a report; then --apply",
            f"  4. psa-sync backfill --since {since} --dry-run{where}   "
            "# the deals won before; then without --dry-run",
            "  5. schedule `psa-sync run` every 2 minutes "
            "(scripts/deploy/psa-sync.cron, or the systemd timer)",
        ]
    )
