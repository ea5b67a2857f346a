"""Each pytest-xdist worker reaches a Redmine and a Tryton no other worker cleans."""

from tests.fixtures.workers import instance_env, worker_number


def test_a_run_without_xdist_uses_the_instances_make_started():
    assert instance_env(None, {}) == {}
    assert instance_env("master", {"REDMINE_PORT": "3101"}) == {}


def test_every_worker_gets_its_own_instance_ports_and_state_folders():
    environs = [instance_env(f"gw{n}", {}) for n in (0, 1, 2)]
    for key in ("REDMINE_INSTANCE", "REDMINE_PORT", "REDMINE_STATE_DIR", "TRYTON_PORT"):
        values = [env[key] for env in environs]
        assert len(set(values)) == 3, (key, values)
    for env in environs:  # none is the one make started (Debian's default instance, 3000, 8000)
        assert env["REDMINE_PORT"] != "3000" and env["TRYTON_PORT"] != "8000"
        assert env["REDMINE_INSTANCE"] != "default"
    assert environs[2]["TRYTON_STATE_DIR"] == "/tmp/tryton-psa-gw2"


def test_a_developer_s_own_instances_are_the_base_of_the_workers():
    mine = {
        "REDMINE_INSTANCE": "dev2",
        "REDMINE_PORT": "3002",
        "REDMINE_STATE_DIR": "/tmp/r2",
        "TRYTON_PORT": "8002",
        "TRYTON_STATE_DIR": "/tmp/t2",
    }
    assert instance_env("gw1", mine) == {
        "REDMINE_INSTANCE": "dev2-gw1",
        "REDMINE_PORT": "3202",
        "REDMINE_STATE_DIR": "/tmp/r2-gw1",
        "TRYTON_PORT": "8202",
        "TRYTON_STATE_DIR": "/tmp/t2-gw1",
    }


def test_only_xdist_worker_names_count_as_workers():
    assert [worker_number(w) for w in ("gw12", "gw0", "master", "gw", "gwx", "")] == [
        12,
        0,
        None,
        None,
        None,
        None,
    ]
