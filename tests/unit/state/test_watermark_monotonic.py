"""The watermark only moves forward (issue 6: re-read lookback pages must not pull it back)."""

from datetime import UTC, datetime, timedelta

from sync.state import State

T = datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)


def test_a_page_older_than_the_watermark_does_not_move_it_back(tmp_path):
    state = State.open(tmp_path / "s.sqlite")
    with state.transaction():
        state.commit_page("records", T)
    with state.transaction():
        state.commit_page("records", T - timedelta(minutes=9))  # a lookback page re-read
    assert state.watermark("records") == T
    with state.transaction():
        state.commit_page("records", T + timedelta(seconds=1))
    assert state.watermark("records") == T + timedelta(seconds=1)


def test_a_page_without_stamps_changes_nothing(tmp_path):
    state = State.open(tmp_path / "s.sqlite")
    with state.transaction():
        state.commit_page("records", None)
    assert state.watermark("records") is None
