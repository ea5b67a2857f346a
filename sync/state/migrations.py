"""The state file's schema, as numbered migrations applied on every open.

A separate module so that a schema change is one new function here, read in order, rather than an
edit buried among the store's queries. Columns are only ever added by a new migration, never by
``alter=True`` on the main path, where a typo would silently become a new column.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("psa_sync")


@migrations()
def m001_initial(db: Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["watermarks"].create({"stream": str, "value": str, "updated_at": str}, pk="stream")
    db["links"].create(
        {
            "opportunity_id": str,
            "key": str,
            "project_id": int,
            "project_identifier": str,
            "project_url": str,
            "payload_hash": str,
            "payload": str,
            "written": str,
            "backsync": str,
            "link_state": str,
            "sf_status": str,
            "closed_by": str,
            "pending": str,
            "kept_psa": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="opportunity_id",
    )
    db["links"].create_index(["project_id"])
    db["intents"].create(
        {
            "opportunity_id": str,
            "key": str,
            "action": str,
            "payload": str,
            "started_at": str,
            "run_id": int,
        },
        pk="opportunity_id",
    )
    db["outbox"].create(
        {
            "opportunity_id": str,
            "field": str,
            "value": str,
            "attempts": int,
            "last_error": str,
            "updated_at": str,
        },
        pk=("opportunity_id", "field"),
    )
    db["quarantine"].create(
        {
            "opportunity_id": str,
            "stage": str,
            "error": str,
            "payload": str,
            "first_seen": str,
            "last_seen": str,
            "attempts": int,
            "run_id": int,
        },
        pk=("opportunity_id", "stage"),
    )
    db["runs"].create(
        {
            "id": int,
            "mode": str,
            "started_at": str,
            "finished_at": str,
            "status": str,
            "exit_code": int,
            "counts": str,
            "api_calls": str,
            "org_usage": str,
            "error": str,
        },
        pk="id",
    )
    db["events"].create(
        {
            "id": int,
            "run_id": int,
            "opportunity_id": str,
            "action": str,
            "outcome": str,
            "detail": str,
            "at": str,
        },
        pk="id",
    )
    db["events"].create_index(["opportunity_id"])


@migrations()
def m002_link_mapping(db: Database) -> None:
    """Which mapping fingerprint made each link's snapshot (reconcile --repair re-applies)."""
    db["links"].add_column("mapping", str)


@migrations()
def m003_service(db: Database) -> None:
    """The PSA calls of each run (status, metrics), and the indexes retention deletes by."""
    db["runs"].add_column("psa_calls", int)
    db["runs"].create_index(["started_at"])
    db["events"].create_index(["at"])


@migrations()
def m004_ignored(db: Database) -> None:
    """Deals unlinked by hand (``psa-sync unlink``): no project is made for them until ``psa-sync
    link`` or ``psa-sync retry --id`` says otherwise. A table of its own, not a link state: the deal
    has no link, and every ``links`` query would otherwise step around it."""
    db["ignored"].create(
        {"opportunity_id": str, "key": str, "detail": str, "since": str, "run_id": int},
        pk="opportunity_id",
    )


@migrations()
def m005_pipeline(db: Database) -> None:
    """Open deals that match the mapping's ``pipeline.criteria`` (the pipeline stream), with what
    the forecast needs: stage, probability, amount, close date and the mapped fields (``payload``,
    the same JSON as ``links.payload``). ``status`` is ``open`` while the deal matches, ``dropped``
    once it no longer does, ``won`` or ``lost`` once it closed. Written by the run, read by
    ``forecast`` without any API call."""
    db["pipeline"].create(
        {
            "opportunity_id": str,
            "stage": str,
            "probability": float,
            "amount": float,
            "close_date": str,
            "owner_id": str,
            "payload": str,
            "status": str,
            "first_seen": str,
            "updated_at": str,
            "run_id": int,
        },
        pk="opportunity_id",
    )
    db["pipeline"].create_index(["status"])


#: The tables keyed by a record Id, whose column m006 renames (``ignored`` m004, ``pipeline`` m005).
RECORD_TABLES = ("links", "intents", "outbox", "quarantine", "events", "ignored", "pipeline")


@migrations()
def m006_record_id(db: Database) -> None:
    """``opportunity_id`` becomes ``record_id`` in every table: the code always called it the record
    Id (the mapping may read another object than Opportunity), and one thing has one name. SQLite
    renames the column in place, its primary keys and indexes with it; the state file was backed up
    before (``<state>.before-m006_record_id.bak``), as before every migration."""
    for table in RECORD_TABLES:
        if table in db.table_names() and "opportunity_id" in db[table].columns_dict:
            db.execute(f"ALTER TABLE [{table}] RENAME COLUMN opportunity_id TO record_id")


def read_as_current(db: Database) -> None:
    """A file opened read-only is never migrated (`status`, `explain`, `plan` on a file an older
    psa-sync wrote): in this connection alone, each table still keyed by ``opportunity_id`` is read
    through a temporary view that names the column ``record_id``, so the store's queries read it as
    a migrated file. Nothing is written to the file: TEMP objects live in the connection."""
    for table in RECORD_TABLES:
        if table not in db.table_names():
            continue
        columns = [row[1] for row in db.execute(f"PRAGMA main.table_info([{table}])").fetchall()]
        if "opportunity_id" in columns:
            shown = ", ".join(
                "opportunity_id AS record_id" if c == "opportunity_id" else f"[{c}]"
                for c in columns
            )
            db.execute(f"CREATE TEMP VIEW [{table}] AS SELECT {shown} FROM main.[{table}]")


@migrations()
def m007_structure(db: Database) -> None:
    """A project's plan (mapping ``structure:``): ``structures`` marks each deal whose project
    psa-sync gives a plan (written before the project is created, so a crash cannot leave a project
    that never gets it; ``complete`` once every child of the first plan is made), and ``children``
    holds one row per phase or task by its key: an intent (``child_id`` null) before the create, the
    link after it, with what was sold (hours, role, dates, the line item and its quantity) for
    amendments, ``explain`` and ``forecast --by role``. Number 006 is the record id's rename."""
    db["structures"].create(
        {"record_id": str, "template": str, "state": str, "run_id": int, "at": str}, pk="record_id"
    )
    db["children"].create(
        {
            "key": str,
            "record_id": str,
            "project_id": int,
            "kind": str,
            "child_id": int,
            "status": str,
            "name": str,
            "phase": str,
            "hours": str,
            "role": str,
            "start": str,
            "due": str,
            "line_item": str,
            "quantity": str,
            "note": str,
            "run_id": int,
            "updated_at": str,
        },
        pk="key",
    )
    db["children"].create_index(["record_id"])
