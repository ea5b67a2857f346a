"""The wheel is the product: built from the tree, installed into a fresh venv, it runs without the
checkout (no PYTHONPATH, another directory) and carries everything a user installs from it,
psa-sync's Tryton module included (tryton.cfg and message.xml are not Python: only package-data puts
them in the wheel)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "sync" / "connectors" / "psa" / "tryton" / "module"
#: README "Tryton": the one-liner that names the module's directory in psa-sync's installed package
MODULE_DIR_OF_INSTALL = (
    "import os, sync.connectors.psa.tryton.module as m; print(os.path.dirname(m.__file__))"
)
_JUNK = shutil.ignore_patterns(
    ".git",
    ".venv",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "*.sqlite*",
)


def junk(directory: str, names: list[str]) -> set[str]:
    """What the copy of the tree leaves out: caches everywhere; the checkout's own runs (build/,
    state/, demo/) at its top only (``sync/state`` is the package)."""
    top = {"build", "state", "demo"} if Path(directory) == ROOT else set()
    return set(_JUNK(directory, names)) | (top & set(names))


def sh(
    *args, cwd: Path, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, (
        f"{args}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding this tree's wheel and its dependencies (from the configured index)."""
    tmp = tmp_path_factory.mktemp("wheel")
    shutil.copytree(
        ROOT, tmp / "src", ignore=junk, symlinks=True
    )  # the build's leftovers stay out of the tree
    env = (
        clean_env()
    )  # a checkout on PYTHONPATH would pass for an installed psa-sync, and pip would skip it
    sh(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        tmp / "dist",
        tmp / "src",
        cwd=tmp,
        env=env,
    )
    wheel = next((tmp / "dist").glob("psa_sync-*.whl"))
    sh(sys.executable, "-m", "venv", tmp / "venv", cwd=tmp, env=env)
    sh(tmp / "venv" / "bin" / "pip", "install", "-q", wheel, cwd=tmp, env=env, timeout=1800)
    return tmp / "venv"


def clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PSA_SYNC_CONFIG", "VIRTUAL_ENV")
    }


def outside_the_checkout(tmp: Path) -> dict[str, str]:
    env = clean_env()
    key = tmp / "sf.key"
    key.write_text("not a key: `check --offline` contacts nothing\n")
    return {
        **env,
        "SF_USERNAME": "integration@example.com",
        "SF_CLIENT_ID": "id",
        "SF_PRIVATE_KEY_FILE": str(key),
        "REDMINE_URL": "https://redmine.example.com",
        "REDMINE_API_KEY": "k",
    }


def test_the_installed_wheel_runs_version_init_and_an_offline_check_without_the_checkout(
    installed, tmp_path
):
    env = outside_the_checkout(tmp_path)
    where = sh(
        installed / "bin" / "python",
        "-c",
        "import sync; print(sync.__file__)",
        cwd=tmp_path,
        env=env,
    )
    assert Path(where.stdout.strip()).is_relative_to(
        installed
    )  # the installed package, not the checkout

    assert sh(installed / "bin" / "psa-sync", "--version", cwd=tmp_path, env=env).stdout.startswith(
        "psa-sync"
    )
    sh(installed / "bin" / "psa-sync", "init", cwd=tmp_path, env=env)
    assert (tmp_path / "psa-sync.yaml").is_file() and (
        tmp_path / "mappings" / "opportunity_to_project.yaml"
    ).is_file()
    checked = sh(installed / "bin" / "psa-sync", "check", "--offline", cwd=tmp_path, env=env)
    assert "offline" in checked.stdout + checked.stderr


def test_the_readme_route_installs_the_same_tryton_module_from_the_installed_package(
    installed, tmp_path
):
    """README "Tryton": the module's directory, named by psa-sync's python, copied into trytond's
    modules as psa_sync_key gives the files scripts/tryton.sh installs and activates in the Tryton
    the tests run."""
    env = outside_the_checkout(tmp_path)
    shipped = Path(
        sh(
            installed / "bin" / "python", "-c", MODULE_DIR_OF_INSTALL, cwd=tmp_path, env=env
        ).stdout.strip()
    )
    assert shipped.is_relative_to(installed)
    modules = tmp_path / "trytond" / "modules"
    modules.mkdir(parents=True)
    sh("cp", "-r", shipped, modules / "psa_sync_key", cwd=tmp_path)

    copied = modules / "psa_sync_key"
    wanted = {
        p.name for p in MODULE.iterdir() if p.suffix in (".py", ".xml", ".cfg")
    }  # tryton.sh's `cp`
    assert {"tryton.cfg", "message.xml", "work.py", "__init__.py"} <= wanted
    for name in wanted:
        assert (copied / name).read_bytes() == (MODULE / name).read_bytes(), name
    listed = (copied / "tryton.cfg").read_text().split("xml:")[1].split()
    assert listed and all((copied / name).is_file() for name in listed)

    from sync.connectors.psa.tryton import site

    message = sh(
        installed / "bin" / "python",
        "-c",
        "from sync.connectors.psa.tryton.site import MODULE_DIR; print(MODULE_DIR)",
        cwd=tmp_path,
        env=env,
    ).stdout.strip()
    assert (
        Path(message) == shipped and site.MODULE_DIR == MODULE
    )  # the error names the installed copy
