"""`make demo`: watch psa-sync turn won deals into Redmine projects, and follow a deal as it changes.

It starts the project's Salesforce emulator with the demo book (in this process), uses the real
Redmine started by `scripts/redmine.sh` (reset to a clean database first), writes a config under
./demo/, and runs the real `psa-sync` command twice, the way cron would. Between the runs it edits
deals through the emulator's control API, as a salesperson would in Salesforce.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import requests
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo"
PSA_SYNC = [sys.executable, "-m", "sync"]
console = Console(width=max(132, shutil.get_terminal_size().columns))


def redmine_env() -> dict[str, str]:
    """Reset Redmine to its pristine database and read its URL and key from the env file it writes."""
    out = subprocess.run(["bash", str(ROOT / "scripts" / "redmine.sh"), "reset"], check=True, text=True,
                         capture_output=True, stdin=subprocess.DEVNULL).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def write_config(emu) -> Path:
    config = DEMO / "psa-sync.yaml"
    config.write_text(textwrap.dedent(f"""\
        # The demo's config: the emulator stands in for Salesforce, a local Redmine is the PSA.
        salesforce:
          login_url: {emu.url}
          auth:
            flow: jwt
            username: ${{SF_USERNAME}}
            client_id: ${{SF_CLIENT_ID}}
            private_key_file: ${{SF_PRIVATE_KEY_FILE}}
          ca_bundle: {emu.ca_file}
        psa:
          connector: redmine
          url: ${{REDMINE_URL}}
          api_key: ${{REDMINE_API_KEY}}
        mapping: {ROOT / "mappings" / "examples" / "pipeline.yaml"}   # the default + open deals at 50%+
        state: state/psa-sync.sqlite
        schedule: {{interval: 2m, hours_interval: 0}}
        forecast:                                   # psa-sync forecast (README "Forecast")
          months: 6
          by: billing_type
          rates: {{Fixed Fee: 150, Time & Materials: 125, Retainer: 110}}     # blended, per hour
          capacity_hours_per_month: {{Fixed Fee: 1000, Time & Materials: 600, Retainer: 300}}
    """))
    return config


def psa_sync(config: Path, env: dict, *args: str) -> int:
    console.print(f"\n[bold]$ psa-sync {' '.join(args)}[/bold]")
    result = subprocess.run([*PSA_SYNC, "--config", str(config), *args], env=env, cwd=DEMO, text=True,
                            capture_output=True, stdin=subprocess.DEVNULL)
    console.print(result.stdout.rstrip(), markup=False, highlight=False)
    if result.returncode not in (0, 1):
        console.print(result.stderr, markup=False)
        raise SystemExit(f"psa-sync {' '.join(args)} exited {result.returncode}")
    return result.returncode


def show(emu, redmine: dict, title: str, highlight: set[str] = frozenset()) -> None:
    """Each won deal beside its Redmine project and the link written back to it."""
    headers = {"X-Redmine-API-Key": redmine["REDMINE_API_KEY"]}
    listing = requests.get(f"{redmine['REDMINE_URL']}/projects.json", params={"limit": 100, "status": "1|5"},
                           headers=headers, timeout=30).json()["projects"]
    by_key = {}
    for project in listing:
        values = {cf["name"]: cf.get("value") for cf in project.get("custom_fields", [])}
        by_key[values.get("Salesforce Opportunity Id")] = (project, values)
    table = Table(title=title, show_lines=False)
    for column in ("deal (Salesforce)", "stage", "amount", "→ Redmine project", "budget", "billing type",
                   "start → end", "written back: project id / status"):
        table.add_column(column, overflow="fold")
    for deal in emu.query("SELECT Id, Name, StageName, Amount, PSA_Project_Id__c, PSA_Status__c "
                          "FROM Opportunity ORDER BY Name"):
        project, values = by_key.get(deal["Id"], (None, {}))
        if project is None and deal["StageName"] != "Closed Won":
            continue
        style = "bold green" if deal["Id"] in highlight else None
        table.add_row(deal["Name"], deal["StageName"], f"{deal['Amount']:,.2f}",
                      f"#{project['id']} {project['name']}" if project else "(none yet)",
                      values.get("Budget") or "", values.get("Billing type") or "",
                      f"{values.get('Start date')} → {values.get('End date')}" if project else "",
                      f"{deal['PSA_Project_Id__c'] or '-'} / {deal['PSA_Status__c'] or '-'}", style=style)
    console.print(table)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from sync.emulator import Emulator

    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    console.rule("psa-sync demo")
    console.print("Resetting the local Redmine to a clean database …")
    redmine = redmine_env()
    with Emulator(state_file=DEMO / "emulator.sqlite") as emu:
        book = emu.seed_demo()
        console.print(f"Salesforce emulator at {emu.url} (org {emu.org_id}) with "
                      f"{len(book['opportunities'])} deals, {len(book['won'])} of them Closed Won.")
        env = dict(os.environ, SF_USERNAME=emu.username, SF_CLIENT_ID=emu.client_id,
                   SF_PRIVATE_KEY_FILE=str(emu.private_key_file), REDMINE_URL=redmine["REDMINE_URL"],
                   REDMINE_API_KEY=redmine["REDMINE_API_KEY"], PYTHONPATH=str(ROOT))
        config = write_config(emu)

        console.rule("1. The first run: every won deal becomes one project, an open one at 50%+ a tentative one")
        psa_sync(config, env, "run")
        show(emu, redmine, "after the first run", set(book["won"]))

        console.rule("2. Sales changes things")
        won = [d for d in emu.query("SELECT Id, Name, Amount FROM Opportunity WHERE StageName = 'Closed Won' "
                                    "ORDER BY Name")]
        pending = [d for d in emu.query("SELECT Id, Name FROM Opportunity WHERE IsClosed = false ORDER BY Name")]
        raised, newly_won = won[0], pending[0]
        emu.update("Opportunity", raised["Id"], Amount=raised["Amount"] + 25000)
        emu.update("Opportunity", newly_won["Id"], StageName="Closed Won")
        console.print(f"• '{raised['Name']}': amount raised by 25,000\n• '{newly_won['Name']}' moved to Closed Won")

        console.rule("3. The next run: the project follows, the new deal gets its project")
        psa_sync(config, env, "run")
        show(emu, redmine, "after the second run", {raised["Id"], newly_won["Id"]})
        psa_sync(config, env, "explain", raised["Id"])

        console.rule("4. status")
        psa_sync(config, env, "status")

        console.rule("5. The forecast: upcoming delivery hours per month, from the state file alone")
        psa_sync(config, env, "forecast", "--format", "png", "--out", str(DEMO / "forecast.png"))
        psa_sync(config, env, "forecast")
    console.print(f"\nDone. The demo's config, state and forecast.png are in ./demo/; Redmine runs at "
                  f"{redmine['REDMINE_URL']} (login details in its env file, see scripts/redmine.sh).")


if __name__ == "__main__":
    main()
