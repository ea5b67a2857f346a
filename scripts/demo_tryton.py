"""`make demo PSA=tryton`: the same story as `make demo`, Tryton as the PSA (README.md, "Tryton").

Won deals become Tryton projects (party, invoice method, revenue, dates); sales changes a deal and
wins another; a consultant logs hours on a timesheet line and sets the progress, and the hours,
percent complete and cost reach the deal; a deal lost after all gets its project set Done.
Tryton is reset to its pristine database by `scripts/tryton.sh reset` first.

What was sold becomes the plan (README.md, "Project structure"): the demo's mapping is
mappings/tryton.yaml with the `structure:` section of mappings/examples/structure.yaml; a won deal's
line items become child works of its project (phases: type project, tasks: type task, each with its
key in psa_sync_key's salesforce_key), and a line item added after the win becomes a new task.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from rich.tree import Tree  # noqa: E402

# scripts/demo.py: the Redmine demo's helpers
from demo import DEMO, SOLD, console, psa_sync, sell  # noqa: E402
from sync.connectors.psa.tryton.rpc import TrytonRpc  # noqa: E402


def tryton_env() -> dict[str, str]:
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "tryton.sh"), "reset"],
        check=True,
        text=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def write_mapping() -> Path:
    """demo/maps/tryton_structure.yaml: mappings/tryton.yaml plus the example's `structure:`
    section, with a copy of mappings/templates/ beside it (a template is named relative to the
    mapping's folder)."""
    shutil.copytree(ROOT / "mappings" / "templates", DEMO / "templates")
    example = (ROOT / "mappings" / "examples" / "structure.yaml").read_text()
    mapping = DEMO / "maps" / "tryton_structure.yaml"
    mapping.parent.mkdir()
    mapping.write_text(
        (ROOT / "mappings" / "tryton.yaml").read_text() + example[example.index("\nstructure:") :]
    )
    return mapping


def write_config(emu) -> Path:
    config = DEMO / "psa-sync.yaml"
    config.write_text(
        textwrap.dedent(f"""\
        # The demo's config: the emulator stands in for Salesforce, a local Tryton is the PSA.
        salesforce:
          login_url: {emu.url}
          auth:
            flow: jwt
            username: ${{SF_USERNAME}}
            client_id: ${{SF_CLIENT_ID}}
            private_key_file: ${{SF_PRIVATE_KEY_FILE}}
          ca_bundle: {emu.ca_file}
        psa:
          connector: tryton
          url: ${{TRYTON_URL}}
          api_key: ${{TRYTON_PASSWORD}}
          options: {{user: admin, create_parties: true}}
        mapping: {write_mapping()}   # mappings/tryton.yaml + a structure: section
        state: state/psa-sync.sqlite
        schedule: {{interval: 2m, hours_interval: 0, backsync_interval: 0}}
        forecast:
          months: 9
          capacity_by_role: {{Consultant: 120, Project Manager: 40, Trainer: 30}}
    """)
    )
    return config


def projects(rpc: TrytonRpc) -> dict[str, dict]:
    fields = [
        "name",
        "salesforce_key",
        "party.name",
        "project_invoice_method",
        "list_price",
        "revenue",
        "cost",
        "timesheet_start_date",
        "timesheet_end_date",
        "status.name",
        "progress",
        "timesheet_duration",
    ]
    rows = rpc.model(
        "project.work", "search_read", [["salesforce_key", "!=", None]], 0, None, None, fields
    )
    return {row["salesforce_key"]: row for row in rows}


def show(emu, rpc: TrytonRpc, title: str, highlight: set[str] = frozenset()) -> None:
    by_key = projects(rpc)
    table = Table(title=title)
    for column in (
        "deal (Salesforce)",
        "stage",
        "amount",
        "→ Tryton project",
        "party",
        "invoice method",
        "revenue",
        "start → end",
        "status / progress",
        "back on the deal: id / hours / % / cost",
    ):
        table.add_column(column, overflow="fold")
    for deal in emu.query(
        "SELECT Id, Name, StageName, Amount, PSA_Project_Id__c, PSA_Hours_Spent__c, "
        "PSA_Percent_Complete__c, PSA_Cost__c FROM Opportunity ORDER BY Name"
    ):
        p = by_key.get(deal["Id"])
        if p is None and deal["StageName"] != "Closed Won":
            continue
        progress = "" if not p or p["progress"] is None else f"{p['progress']:.0%}"
        table.add_row(
            deal["Name"],
            deal["StageName"],
            f"{deal['Amount']:,.2f}",
            f"#{p['id']} {p['name']}" if p else "(none yet)",
            ((p or {}).get("party.") or {}).get("name", ""),
            (p or {}).get("project_invoice_method") or "",
            str((p or {}).get("revenue") or ""),
            f"{p['timesheet_start_date']} → {p['timesheet_end_date']}" if p else "",
            f"{p['status.']['name']} {progress}" if p else "",
            " / ".join(
                str(deal[f] if deal[f] is not None else "-")
                for f in (
                    "PSA_Project_Id__c",
                    "PSA_Hours_Spent__c",
                    "PSA_Percent_Complete__c",
                    "PSA_Cost__c",
                )
            ),
            style="bold green" if deal["Id"] in highlight else None,
        )
    console.print(table)


def show_plan(rpc: TrytonRpc, deal_id: str, title: str) -> None:
    """A deal's project as Tryton holds it: child works (phases, tasks), their effort and role."""
    project = projects(rpc)[deal_id]
    fields = [
        "name",
        "type",
        "parent",
        "salesforce_key",
        "effort_duration",
        "comment",
        "timesheet_end_date",
    ]
    works = rpc.model(
        "project.work",
        "search_read",
        [["parent", "child_of", [project["id"]]], ["id", "!=", project["id"]]],
        0,
        None,
        [["id", "ASC"]],
        fields,
    )
    tree = Tree(f"[bold]{title}[/bold]: project #{project['id']} {project['name']}")
    nodes, roles = {project["id"]: tree}, {}
    for work in sorted(
        works, key=lambda w: (w["type"] != "project", w["id"])
    ):  # phases first: tasks go under
        hours = (work["effort_duration"] or dt.timedelta()).total_seconds() / 3600
        role = next(
            (
                line[6:]
                for line in (work["comment"] or "").splitlines()
                if line.startswith("Role: ")
            ),
            "-",
        )
        if work["type"] == "task":
            roles[role] = roles.get(role, 0) + hours
        sold = f"  {hours:g} h  {role}" if work["type"] == "task" else ""
        label = (
            f"{work['type']} #{work['id']} {work['name']}{sold}  "
            f"due {work['timesheet_end_date'] or '…'}"
            f"  key …/{work['salesforce_key'].split('/', 1)[1]}"
        )
        nodes[work["id"]] = nodes.get(work["parent"], tree).add(label)
    console.print(tree)
    console.print("hours by role: " + ", ".join(f"{r} {h:g} h" for r, h in sorted(roles.items())))


def log_work(rpc: TrytonRpc, env: dict, work_id: int, hours: float, progress: float) -> None:
    """What a consultant does in Tryton: a timesheet line, and the progress of the project."""
    work = rpc.model(
        "project.work", "read", [work_id], ["timesheet_works", "timesheet_start_date"]
    )[0]
    rpc.model(
        "timesheet.line",
        "create",
        [
            {
                "company": int(env["TRYTON_COMPANY_ID"]),
                "employee": int(env["TRYTON_EMPLOYEE_ID"]),
                "work": work["timesheet_works"][0],
                "date": work["timesheet_start_date"] or dt.date.today(),
                "duration": dt.timedelta(hours=hours),
            }
        ],
        idempotent=False,
    )
    rpc.model("project.work", "write", [work_id], {"progress": progress})


def main() -> None:
    import requests

    from sync.emulator import Emulator

    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    console.rule("psa-sync demo: Tryton")
    console.print("Resetting the local Tryton to its pristine database …")
    env_t = tryton_env()
    rpc = TrytonRpc(
        env_t["TRYTON_URL"], env_t["TRYTON_USER"], env_t["TRYTON_PASSWORD"], requests.Session()
    )
    with Emulator(state_file=DEMO / "emulator.sqlite") as emu:
        book = emu.seed_demo()
        console.print(
            f"Salesforce emulator at {emu.url} with {len(book['opportunities'])} deals, "
            f"{len(book['won'])} of them Closed Won."
        )
        env = dict(
            os.environ,
            SF_USERNAME=emu.username,
            SF_CLIENT_ID=emu.client_id,
            SF_PRIVATE_KEY_FILE=str(emu.private_key_file),
            TRYTON_URL=env_t["TRYTON_URL"],
            TRYTON_PASSWORD=env_t["TRYTON_PASSWORD"],
            PYTHONPATH=str(ROOT),
        )
        sold = sell(emu)
        console.print(
            f"Line items: '{SOLD}' (won) sold 20 consulting days, project management and a licence."
        )
        config = write_config(emu)
        psa_sync(config, env, "check")

        console.rule("1. The first run: every won deal becomes one Tryton project")
        psa_sync(config, env, "run")
        show(emu, rpc, "after the first run", set(book["won"]))
        show_plan(rpc, sold["won"], f"what was sold on '{SOLD}' became its plan")

        console.rule("2. Sales changes things; delivery logs time and progress in Tryton")
        won = emu.query(
            "SELECT Id, Name, Amount FROM Opportunity WHERE StageName = 'Closed Won' ORDER BY Name"
        )
        pending = emu.query("SELECT Id, Name FROM Opportunity WHERE IsClosed = false ORDER BY Name")
        raised, newly_won, lost = won[0], pending[0], won[-1]
        emu.update("Opportunity", raised["Id"], Amount=raised["Amount"] + 25000)
        emu.update("Opportunity", newly_won["Id"], StageName="Closed Won")
        emu.update("Opportunity", lost["Id"], StageName="Closed Lost")
        log_work(rpc, env_t, projects(rpc)[raised["Id"]]["id"], 7.5, 0.4)
        emu.add_line_item(sold["won"], sold["TRAIN-DAY"], quantity=3)
        console.print(
            f"• '{raised['Name']}': amount raised by 25,000; 7.5 h logged on a timesheet line, "
            f"progress 40 %\n• '{newly_won['Name']}' moved to Closed Won\n"
            f"• '{lost['Name']}' moved to Closed Lost (on_unwon: close)\n"
            f"• '{SOLD}': 3 training days added after the win (a new line item)"
        )

        console.rule("3. The next run: projects follow, hours, progress and cost reach the deals")
        psa_sync(config, env, "run")
        show(emu, rpc, "after the second run", {raised["Id"], newly_won["Id"], lost["Id"]})
        show_plan(rpc, sold["won"], f"'{SOLD}' after the amendment: a new task")
        psa_sync(config, env, "status")
        console.rule("4. The forecast by role: the sold tasks' hours over their dates")
        psa_sync(config, env, "forecast", "--by", "role")
    console.print(
        f"\nDone. The demo's config and state are in ./demo/; Tryton runs at {env_t['TRYTON_URL']} "
        "(login details in its env file, see scripts/tryton.sh)."
    )


if __name__ == "__main__":
    main()
