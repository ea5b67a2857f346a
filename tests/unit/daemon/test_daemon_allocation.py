"""The org's delivery allocation (issue 24): read from /limits inside the daemon's poll at most
once per safety poll, stored with when, shown by status; an unreadable /limits is a warning, never
a failure, and ``events.daily_allocation`` is the fallback figure."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from types import SimpleNamespace

import pytest

from sync.common.errors import SalesforceUnavailable
from sync.config import ConfigError, load_settings
from sync.config.settings import Events
from sync.daemon import allocation
from sync.ops.status_stream import allocation_text, allocation_view
from sync.state import State
from sync.state import events as stored


class Client:
    """``SalesforceClient.limits`` as the allocation read uses it: one answer, or an error."""

    def __init__(self, answer):
        self.answer, self.calls = answer, 0

    def budget_left(self) -> bool:
        return True

    def limits(self) -> dict:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def state(tmp_path):
    opened = State.open(tmp_path / "state.sqlite")
    yield opened
    opened.close()


def _daemon(now: float = 1000.0, **events):
    path = SimpleNamespace(allocation_read=None)
    settings = SimpleNamespace(events=Events(enabled=True, **events))
    return SimpleNamespace(event_path=path, settings=settings, clock=lambda: now)


def test_read_once_per_safety_poll_and_stored_with_when(state):
    daemon = _daemon(safety_poll=timedelta(hours=1))
    client = Client({"DailyDeliveredPlatformEvents": {"Max": 25_000, "Remaining": 24_810}})
    run = SimpleNamespace(client=client, state=state)
    assert allocation.due(daemon)
    allocation.refresh(daemon, run)
    daemon.clock = lambda: 1000.0 + 30  # the next poll, with the stream unhealthy: every 30 s
    assert not allocation.due(daemon)
    daemon.clock = lambda: 1000.0 + 3600
    assert allocation.due(daemon)
    read = stored.allocation(state)
    assert (client.calls, read.maximum, read.remaining) == (1, 25_000, 24_810)


def test_no_event_path_no_read():
    daemon = _daemon()
    daemon.event_path = None
    assert not allocation.due(daemon)


@pytest.mark.parametrize(
    "answer",
    [
        SalesforceUnavailable("403 INSUFFICIENT_ACCESS on GET /limits"),
        {"DailyApiRequests": {"Max": 15000, "Remaining": 14000}},  # an org without the figure
        {"DailyDeliveredPlatformEvents": {"Max": "lots", "Remaining": None}},
    ],
)
def test_an_unreadable_allocation_is_a_warning_and_stores_nothing(state, answer, caplog):
    daemon = _daemon()
    allocation.refresh(daemon, SimpleNamespace(client=Client(answer), state=state))
    assert stored.allocation(state) is None
    assert "events.daily_allocation" in caplog.text
    assert not allocation.due(daemon)  # not asked again before the next safety poll


def test_status_says_the_allocation_from_limits_else_the_config_else_unknown(state):
    settings = SimpleNamespace(events=Events(enabled=True, daily_allocation=50_000))
    shown = allocation_view(state, settings)
    assert allocation_text({"events_today": 7, "allocation": shown}) == (
        "events today 7 of the allocation 50000 (events.daily_allocation)"
    )
    assert "unknown allocation" in allocation_text({"events_today": 7, "allocation": None})
    daemon = _daemon()
    body = {"DailyDeliveredPlatformEvents": {"Max": 25_000, "Remaining": 24_000}}
    allocation.refresh(daemon, SimpleNamespace(client=Client(body), state=state))
    shown = allocation_view(state, settings)  # /limits wins over the config's figure
    text = allocation_text({"events_today": 7, "allocation": shown})
    assert text.startswith("events today 7 of the allocation 25000 (24000 remaining at 20")


ENV = {"SF_SECRET": "s", "KEY": "k"}
BASE = """
salesforce:
  login_url: https://login.salesforce.com
  auth: {flow: client_credentials, client_id: cid, client_secret: "${SF_SECRET}"}
psa: {connector: redmine, url: "http://127.0.0.1:3000", api_key: "${KEY}"}
"""


def test_the_config_figure_is_a_whole_number_of_one_or_more(tmp_path):
    path = tmp_path / "psa-sync.yaml"
    path.write_text(textwrap.dedent(BASE) + "events: {enabled: true, daily_allocation: 25000}\n")
    assert load_settings(path, ENV).events.daily_allocation == 25_000
    path.write_text(textwrap.dedent(BASE) + "events: {enabled: true, daily_allocation: 0}\n")
    with pytest.raises(ConfigError, match="events.daily_allocation"):
        load_settings(path, ENV)
