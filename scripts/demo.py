"""`make demo`: watch psa-sync turn won deals into Redmine projects, and follow a deal's changes.

It starts the project's Salesforce emulator with the demo book (in this process), uses the real
Redmine started by `scripts/redmine.sh` (reset to a clean database first), writes a config under
./demo/, and runs the real `psa-sync` command twice, the way cron would. Between the runs it edits
deals through the emulator's control API, as a salesperson would in Salesforce.

What was sold becomes the plan (README.md, "Project structure"): a won deal and a tentative one
(60 %) carry line items; each project gets phases (Redmine versions) and tasks (issues) with the
hours sold by role, the tentative one before the close, and a line item added after the win becomes
a new task.
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
from rich.tree import Tree

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo"
PSA_SYNC = [sys.executable, "-m", "sync"]
console = Console(width=max(132, shutil.get_terminal_size().columns))


def redmine_env() -> dict[str, str]:
    """Reset Redmine to its pristine database; its URL and key from the env file it writes."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "redmine.sh"), "reset"],
        check=True,
        text=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def write_config(emu) -> Path:
    config = DEMO / "psa-sync.yaml"
    config.write_text(
        textwrap.dedent(f"""\
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
        mapping: {ROOT / "mappings" / "examples" / "pipeline.yaml"}  # default + open deals at 50%+
        state: state/psa-sync.sqlite
        schedule: {{interval: 2m, hours_interval: 0}}
        forecast:                                   # psa-sync forecast (README "Forecast")
          months: 6
          by: billing_type
          rates: {{Fixed Fee: 150, Time & Materials: 125, Retainer: 110}}     # blended, per hour
          capacity_hours_per_month: {{Fixed Fee: 1000, Time & Materials: 600, Retainer: 300}}
          capacity_by_role: {{Consultant: 120, Project Manager: 40, Trainer: 30}}  # --by role
    """)
    )
    return config


# (name, ProductCode, Family, list price): the demo org's price book; the mapping's products table
# gives each service its hours per unit and role (mappings/examples/pipeline.yaml, `structure:`)
PRODUCTS = (
    ("Consulting day", "CONS-DAY", "Services", 1200.0),
    ("Training day", "TRAIN-DAY", "Services", 1100.0),
    ("Project management", "PM-FLAT", "Services", 4500.0),
    ("Enterprise licence", "LIC-ENT", "Software", 20000.0),
)
SOLD = "Grid Monitoring Platform"  # Closed Won, New Customer: the Implementation template
TENTATIVE = (
    "Warehouse Robotics Pilot"  # open at 60 %: a tentative project with its plan before the close
)


def sell(emu) -> dict[str, str]:
    """What sales sold, as line items: on a won deal and a tentative one (Amount follows them)."""
    entries = {
        code: emu.add_product(name, code=code, family=family, list_price=price)
        for name, code, family, price in PRODUCTS
    }
    deals = {d["Name"]: d["Id"] for d in emu.query("SELECT Id, Name FROM Opportunity")}
    for deal, code, quantity in (
        (SOLD, "CONS-DAY", 20),
        (SOLD, "PM-FLAT", 1),
        (SOLD, "LIC-ENT", 1),
        (TENTATIVE, "CONS-DAY", 5),
        (TENTATIVE, "TRAIN-DAY", 2),
    ):
        emu.add_line_item(deals[deal], entries[code], quantity=quantity)
    return {"won": deals[SOLD], "tentative": deals[TENTATIVE], **entries}


def psa_sync(config: Path, env: dict, *args: str) -> int:
    console.print(f"\n[bold]$ psa-sync {' '.join(args)}[/bold]")
    result = subprocess.run(
        [*PSA_SYNC, "--config", str(config), *args],
        env=env,
        cwd=DEMO,
        text=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    console.print(result.stdout.rstrip(), markup=False, highlight=False)
    if result.returncode not in (0, 1):
        console.print(result.stderr, markup=False)
        raise SystemExit(f"psa-sync {' '.join(args)} exited {result.returncode}")
    return result.returncode


def show(emu, redmine: dict, title: str, highlight: set[str] = frozenset()) -> None:
    """Each won deal beside its Redmine project and the link written back to it."""
    headers = {"X-Redmine-API-Key": redmine["REDMINE_API_KEY"]}
    listing = requests.get(
        f"{redmine['REDMINE_URL']}/projects.json",
        params={"limit": 100, "status": "1|5"},
        headers=headers,
        timeout=30,
    ).json()["projects"]
    by_key = {}
    for project in listing:
        values = {cf["name"]: cf.get("value") for cf in project.get("custom_fields", [])}
        by_key[values.get("Salesforce Opportunity Id")] = (project, values)
    table = Table(title=title, show_lines=False)
    for column in (
        "deal (Salesforce)",
        "stage",
        "amount",
        "→ Redmine project",
        "budget",
        "billing type",
        "start → end",
        "written back: project id / status",
    ):
        table.add_column(column, overflow="fold")
    for deal in emu.query(
        "SELECT Id, Name, StageName, Amount, PSA_Project_Id__c, PSA_Status__c "
        "FROM Opportunity ORDER BY Name"
    ):
        project, values = by_key.get(deal["Id"], (None, {}))
        if project is None and deal["StageName"] != "Closed Won":
            continue
        style = "bold green" if deal["Id"] in highlight else None
        table.add_row(
            deal["Name"],
            deal["StageName"],
            f"{deal['Amount']:,.2f}",
            f"#{project['id']} {project['name']}" if project else "(none yet)",
            values.get("Budget") or "",
            values.get("Billing type") or "",
            f"{values.get('Start date')} → {values.get('End date')}" if project else "",
            f"{deal['PSA_Project_Id__c'] or '-'} / {deal['PSA_Status__c'] or '-'}",
            style=style,
        )
    console.print(table)


def show_plan(redmine: dict, deal_id: str, title: str) -> None:
    """A deal's project as Redmine holds it: versions (phases), issues (tasks), hours by role."""
    headers = {"X-Redmine-API-Key": redmine["REDMINE_API_KEY"]}

    def get(path: str, **params) -> dict:
        return requests.get(
            f"{redmine['REDMINE_URL']}{path}", params=params, headers=headers, timeout=30
        ).json()

    def field(item: dict, name: str):
        return next(
            (cf.get("value") for cf in item.get("custom_fields", []) if cf["name"] == name), None
        )

    project = next(
        p
        for p in get("/projects.json", limit=100, status="1|5")["projects"]
        if field(p, "Salesforce Opportunity Id") == deal_id
    )
    versions = get(f"/projects/{project['id']}/versions.json")["versions"]
    issues = get("/issues.json", project_id=project["id"], status_id="*", limit=100, sort="id")[
        "issues"
    ]
    tree = Tree(
        f"[bold]{title}[/bold]: project #{project['id']} {project['name']} "
        f"(Stage {field(project, 'Stage') or '-'})"
    )
    nodes = {
        v["id"]: tree.add(f"version {v['name']}  due {v.get('due_date')}")
        for v in sorted(versions, key=lambda v: (v.get("due_date") or "9999", v["id"]))
    }
    roles: dict[str, float] = {}
    for issue in sorted(
        issues, key=lambda i: (i.get("start_date") or i.get("due_date") or "", i["id"])
    ):
        role, hours = field(issue, "Role") or "-", issue.get("estimated_hours") or 0
        roles[role] = roles.get(role, 0) + hours
        parent = nodes.get((issue.get("fixed_version") or {}).get("id"), tree)
        parent.add(
            f"#{issue['id']} {issue['subject']}  {hours:g} h  {role}  "
            f"{issue.get('start_date') or '…'} → {issue.get('due_date') or '…'}"
        )
    console.print(tree)
    console.print("hours by role: " + ", ".join(f"{r} {h:g} h" for r, h in sorted(roles.items())))


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
        console.print(
            f"Salesforce emulator at {emu.url} (org {emu.org_id}) with "
            f"{len(book['opportunities'])} deals, {len(book['won'])} of them Closed Won."
        )
        env = dict(
            os.environ,
            SF_USERNAME=emu.username,
            SF_CLIENT_ID=emu.client_id,
            SF_PRIVATE_KEY_FILE=str(emu.private_key_file),
            REDMINE_URL=redmine["REDMINE_URL"],
            REDMINE_API_KEY=redmine["REDMINE_API_KEY"],
            PYTHONPATH=str(ROOT),
        )
        sold = sell(emu)
        console.print(
            f"Line items: '{SOLD}' (won) sold 20 consulting days, "
            "project management and a licence; "
            f"'{TENTATIVE}' (open, 60 %) 5 consulting and 2 training days."
        )
        config = write_config(emu)

        console.rule(
            "1. The first run: every won deal becomes one project, "
            "an open one at 50%+ a tentative one"
        )
        psa_sync(config, env, "run")
        show(emu, redmine, "after the first run", set(book["won"]))
        show_plan(redmine, sold["won"], f"what was sold on '{SOLD}' became its plan")
        show_plan(
            redmine, sold["tentative"], f"'{TENTATIVE}' is tentative, and planned before the close"
        )

        console.rule("2. Sales changes things")
        won = [
            d
            for d in emu.query(
                "SELECT Id, Name, Amount FROM Opportunity WHERE StageName = 'Closed Won' "
                "ORDER BY Name"
            )
        ]
        pending = [
            d
            for d in emu.query(
                "SELECT Id, Name FROM Opportunity WHERE IsClosed = false ORDER BY Name"
            )
        ]
        raised, newly_won = won[0], next(d for d in pending if d["Id"] == sold["tentative"])
        emu.update("Opportunity", raised["Id"], Amount=raised["Amount"] + 25000)
        emu.update("Opportunity", newly_won["Id"], StageName="Closed Won")
        emu.add_line_item(sold["won"], sold["TRAIN-DAY"], quantity=3)
        console.print(
            f"• '{raised['Name']}': amount raised by 25,000"
            f"\n• '{newly_won['Name']}' moved to Closed Won"
            f"\n• '{SOLD}': 3 training days added after the win (a new line item)"
        )

        console.rule(
            "3. The next run: the project follows, the tentative one is won with the same plan, "
            "the new line item is a new task"
        )
        psa_sync(config, env, "run")
        show(emu, redmine, "after the second run", {raised["Id"], newly_won["Id"]})
        show_plan(redmine, sold["won"], f"'{SOLD}' after the amendment")
        show_plan(redmine, sold["tentative"], f"'{TENTATIVE}' won: the same phases and tasks")
        psa_sync(config, env, "explain", raised["Id"])

        console.rule("4. status")
        psa_sync(config, env, "status")

        console.rule(
            "5. The forecast: upcoming delivery hours per month, from the state file alone"
        )
        psa_sync(config, env, "forecast", "--format", "png", "--out", str(DEMO / "forecast.png"))
        psa_sync(config, env, "forecast")
        console.rule(
            "6. The forecast by role: the sold tasks' hours over their dates "
            "(won, and tentative weighted)"
        )
        psa_sync(config, env, "forecast", "--by", "role")
    console.print(
        f"\nDone. The demo's config, state and forecast.png are in ./demo/; Redmine runs at "
        f"{redmine['REDMINE_URL']} (login details in its env file, see scripts/redmine.sh)."
    )


if __name__ == "__main__":
    main()
