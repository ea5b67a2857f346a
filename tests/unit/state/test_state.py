"""The state file: typed round trips, coalescing outbox, quarantine bookkeeping, file mode."""

import sqlite3
import stat
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from sync.common.model import Link
from sync.state import State
from sync.state.codec import dumps, loads


@pytest.fixture
def state(tmp_path):
    state = State.open(tmp_path / "state" / "psa-sync.sqlite")
    yield state
    state.close()


def make_link(oid="006000000000001AAA", **changes):
    values = dict(
        record_id=oid,
        key=oid,
        project_id=7,
        project_identifier="sf-" + oid.lower(),
        project_url="http://redmine/projects/x",
        payload_hash="h",
        payload={"budget": Decimal("1.50")},
        written={},
        backsync={},
        link_state="active",
        sf_status="Won",
        closed_by=None,
        pending={},
        kept_psa=[],
    )
    values.update(changes)
    return Link(**values)


def test_typed_values_survive_the_round_trip():
    value = {
        "amount": Decimal("125000.50"),
        "start": date(2026, 1, 31),
        "at": datetime(2026, 1, 31, 10, 0, 1, 123000, tzinfo=UTC),
        "n": 3,
        "s": "x",
        "none": None,
    }
    assert loads(dumps(value)) == value


def test_the_state_file_is_private(tmp_path):
    path = tmp_path / "s.sqlite"
    State.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_outbox_coalesces_per_deal_and_field_newest_wins(state):
    state.queue("A", {"PSA_Status__c": "active", "PSA_Hours_Spent__c": Decimal("1")})
    state.queue("A", {"PSA_Status__c": "closed"})
    state.queue("B", {"PSA_Status__c": "active"})
    assert state.outbox() == {
        "A": {"PSA_Status__c": "closed", "PSA_Hours_Spent__c": Decimal("1")},
        "B": {"PSA_Status__c": "active"},
    }
    assert state.outbox_count() == 2


def test_settling_keeps_a_value_queued_after_the_send(state):
    state.queue("A", {"PSA_Status__c": "active"})
    sent = state.outbox()["A"]
    state.queue("A", {"PSA_Status__c": "closed"})  # newer value while the call was in flight
    state.settle_outbox("A", sent)
    assert state.outbox() == {"A": {"PSA_Status__c": "closed"}}


def test_outbox_limit_and_exclude(state):
    for n in range(5):
        state.queue(f"D{n}", {"F": n})
    assert list(state.outbox(limit=2)) == ["D0", "D1"]
    assert list(state.outbox(limit=2, exclude={"D0"})) == ["D1", "D2"]


def test_quarantine_counts_attempts_and_release_clears_it(state):
    state.quarantine(
        "A", "transform", "budget: 'abc' is not a decimal", {"Amount": "abc"}, run_id=1
    )
    state.quarantine(
        "A", "transform", "budget: 'abd' is not a decimal", {"Amount": "abd"}, run_id=2
    )
    [row] = state.quarantined("A")
    assert (row["attempts"], row["error"], row["payload"]) == (
        2,
        "budget: 'abd' is not a decimal",
        {"Amount": "abd"},
    )
    state.release("A", ["transform"])
    assert state.quarantined("A") == []


def test_links_round_trip_and_lookup_in_chunks(state):
    links = [make_link(f"006{n:015d}") for n in range(1200)]
    with state.transaction():
        for link in links:
            state.save_link(link)
    found = state.links([link.record_id for link in links])
    assert len(found) == 1200
    assert found[links[5].record_id] == links[5]


def test_a_failed_transaction_leaves_nothing_behind(state):
    with pytest.raises(RuntimeError), state.transaction():
        state.save_link(make_link())
        state.queue("006000000000001AAA", {"PSA_Project_Id__c": "7"})
        raise RuntimeError("crash between the link and the commit")
    assert state.links(["006000000000001AAA"]) == {}
    assert state.outbox() == {}


def test_readonly_open_never_creates_a_file(tmp_path):
    assert State.open_readonly(tmp_path / "missing.sqlite") is None
    assert not (tmp_path / "missing.sqlite").exists()


def test_a_run_that_died_is_marked_so_by_the_next_one(state):
    dead = state.start_run("run")
    assert state.mark_abandoned() == 1
    [row] = state.runs()
    assert (row["id"], row["status"]) == (dead, "died")
    assert "ended without finishing" in row["error"]


def test_links_remember_the_mapping_they_were_made_with(state):
    with state.transaction():
        state.save_link(make_link("006000000000001AAA", mapping="old"))
        state.save_link(make_link("006000000000002AAA", mapping="new"))
        state.save_link(make_link("006000000000003AAA"))
    assert state.older_mapping("new") == ["006000000000001AAA", "006000000000003AAA"]
    state.mark_mapping(["006000000000001AAA"], "new")
    assert state.older_mapping("new") == ["006000000000003AAA"]


def test_an_ignored_deal_is_counted_until_it_is_readmitted(state):
    with state.transaction():
        state.ignore("A", "A", {"unlinked_from": 7}, run_id=1)
    assert state.ignored(["A", "B"])["A"]["detail"] == {"unlinked_from": 7}
    assert state.counts()["ignored"] == 1
    assert state.readmit(["A", "B"], run_id=2, by="retry") == ["A"]
    assert state.ignored() == {} and state.readmit(["A"], 3, "retry") == []
    assert [(e["action"], e["outcome"]) for e in state.events("A")] == [("retry", "readmitted")]


def test_a_state_file_from_before_the_ignored_table_reads_as_none_ignored(tmp_path):
    path = tmp_path / "old.sqlite"
    State.open(path).close()
    with sqlite3.connect(path) as db:  # as the file was before migration m004
        db.execute("DROP TABLE ignored")
        db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm004_ignored'")
    old = State.open_readonly(path)
    assert old.ignored() == {} and old.counts()["ignored"] == 0
    old.close()
    State.open(path).close()  # a writable open migrates it
    assert "ignored" in State.open_readonly(path).db.table_names()


def test_a_transaction_takes_the_write_lock_as_it_begins_so_no_commit_slips_between_read_and_write(
    tmp_path,
):
    """Had another process committed between its read and its write, a deferred transaction would
    fail at the write with "database is locked" (no busy wait): a backfill's end beside a scheduled
    run did that."""
    path = tmp_path / "s.sqlite"
    run, other = State.open(path), State.open(path)
    other.db.execute("PRAGMA busy_timeout=0")
    try:
        with run.transaction():
            run.meta("backfill")  # the read
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.set_meta(
                    "backfill", "finished"
                )  # the other writer waits for the commit instead
            run.set_meta("backfill", "mine")  # the write after the read goes through
        other.set_meta("backfill", "finished")
        assert run.meta("backfill") == "finished"
    finally:
        run.close()
        other.close()


def test_a_failed_write_transaction_rolls_back_and_the_next_one_begins_afresh(state):
    with pytest.raises(RuntimeError), state.transaction():
        state.set_meta("k", "v")
        raise RuntimeError("mid-transaction")
    assert state.meta("k") is None and not state.db.conn.in_transaction
    with state.transaction():
        state.set_meta("k", "w")
    assert state.meta("k") == "w"
