"""Test harness: a throwaway AIRFLOW_HOME with a real metadata DB, and the local ECS emulator for AWS.

Environment is set at import time, before anything imports airflow, so Airflow reads
this configuration and never the developer's own.

Tiers: every test is marked by what it needs (``pytest_collection_modifyitems``): ``emulator``,
``airflow`` (the metadata DB or a real Airflow), ``browser``, ``topology``. When the ``-m``
selection leaves out every test of a tier (``make test-fast`` leaves out all four), what that tier
needs is made unusable, so that a test using it without its marker fails instead of passing by the
grace of a neighbour (see ``pytest_configure``).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="fargate-test-airflow-"))
(_HOME / "dags").mkdir()
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(_HOME / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME / 'airflow.db'}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # In-process runs (dag.test) have no executor, so none of Airflow's stale-event race the
        # resume guard works around (triggers/base.py); the real stacks keep the default.
        "AIRFLOW__FARGATE__RESUME_NOT_BEFORE_SECONDS": "0",
        # Deferrable waits defer at once, so the tests of the trigger path follow it; the tests of
        # waiting in the worker first say so (test_service_operators.py).
        "AIRFLOW__FARGATE__WAIT_IN_WORKER_SECONDS": "0",
    }
)
for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(var, None)

import pytest  # noqa: E402

from tests.helpers import aws  # noqa: E402
from tests.helpers.tiers import excluded, heaviest_files_first, refuse_unless_selected, tiers_of  # noqa: E402

pytest_plugins = ["tests.helpers.airflow_runner"]

# Where the metadata DB points when no selected test may use it: a file inside a regular file.
NO_AIRFLOW_DB = _HOME / "the-selection-excludes-tests-marked-airflow"
CLOSED_PORT = "http://127.0.0.1:9"


def pytest_collection_modifyitems(config, items):
    for item in items:
        for tier in sorted(tiers_of(item) - {mark.name for mark in item.iter_markers()}):
            item.add_marker(tier)
    heaviest_files_first(items)


def _refuse_to_start(self):
    raise AssertionError(
        "this test starts the local emulator, but the -m selection excludes tests marked emulator: "
        "mark it (tests/helpers/tiers.py: TIER_FIXTURES, TIER_PATHS) or make it need no emulator"
    )


class _LocalEcsRefused(importlib.abc.MetaPathFinder):
    """Imports fargate_local.server as usual, with a LocalEcs that refuses to start."""

    MODULE = "fargate_local.server"

    def find_spec(self, name, path=None, target=None):
        if name != self.MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            load = spec.loader.exec_module

            def exec_module(module):
                load(module)
                module.LocalEcs.start = _refuse_to_start

            spec.loader.exec_module = exec_module
        return spec


def pytest_configure(config):
    if excluded(config, "emulator"):
        # Any AWS call a test makes goes to a closed port (never to a real account, nor to an
        # emulator an earlier test left in the environment), and no LocalEcs starts.
        os.environ["AWS_ENDPOINT_URL"] = CLOSED_PORT
        if _LocalEcsRefused.MODULE in sys.modules:
            sys.modules[_LocalEcsRefused.MODULE].LocalEcs.start = _refuse_to_start
        else:
            sys.meta_path.insert(0, _LocalEcsRefused())
    if excluded(config, "airflow"):
        assert "airflow.settings" not in sys.modules, "airflow was imported before the test harness configured it"
        NO_AIRFLOW_DB.write_text("Not a directory: the metadata DB inside it cannot be opened.\n")
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{NO_AIRFLOW_DB / 'airflow.db'}"
        # Airflow swallows some failures to reach its DB (Variable.get falls through to its default):
        # every attempt is noted, and fails the test that made it (_fail_if_the_db_was_touched).
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "do_connect", _note_db_connect)


_DB_CONNECTS: list[str] = []


def _note_db_connect(dialect, connection_record, cargs, cparams):
    _DB_CONNECTS.append(f"{dialect.name} {cargs[0] if cargs else ''}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    return _fail_if_the_db_was_touched((yield))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return _fail_if_the_db_was_touched((yield))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    return _fail_if_the_db_was_touched((yield))


def _fail_if_the_db_was_touched(result):
    touched, _DB_CONNECTS[:] = list(_DB_CONNECTS), []
    if touched:
        raise AssertionError(
            f"this test opened Airflow's metadata DB ({touched[0]}; {len(touched)} attempt(s)), but the -m "
            "selection excludes tests marked airflow: mark it airflow (tests/helpers/tiers.py) or keep it off the DB"
        )
    return result


@pytest.fixture(scope="session")
def local_ecs(request):
    """The local ECS emulator on a free port; AWS_ENDPOINT_URL and aws_default point at it."""
    refuse_unless_selected(request, "emulator")
    from fargate_local.process import aws_connection
    from fargate_local.server import LocalEcs

    emulator = LocalEcs(port=0).start()
    os.environ["AWS_ENDPOINT_URL"] = emulator.endpoint
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection(emulator.endpoint)
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(local_ecs):
    """A clean emulator for one test; afterwards, fail the test if it left ECS resources behind."""
    local_ecs.reset()
    yield local_ecs
    leftovers = aws.ecs_leftovers(local_ecs.endpoint)
    local_ecs.reset()
    assert not leftovers, f"test left resources behind: {leftovers}"


@pytest.fixture
def aws_endpoint(emulator):
    """The endpoint URL of a clean emulator, for tests that only need "an AWS"."""
    return emulator.endpoint


@pytest.fixture
def ecs(emulator):
    """An ECS client on a clean emulator with cluster "c"; everything in it is removed afterwards."""
    from tests.emulator.helpers import cleanup, client

    ecs = client(emulator)
    ecs.create_cluster(clusterName="c")
    yield ecs
    cleanup(ecs)


@pytest.fixture
def no_aws(monkeypatch):
    """For tests that must make no AWS call: any call that slips through goes to a closed port."""
    closed = "http://127.0.0.1:9"
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed)
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {
                "conn_type": "aws",
                "extra": {
                    "endpoint_url": closed,
                    "region_name": "us-east-1",
                    "config_kwargs": {"retries": {"total_max_attempts": 1}},
                },
            }
        ),
    )


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture
def load_balancer_variables(emulator, monkeypatch):
    """The two Variables the platform team sets once: the emulator's ready-made ALB listener and domain."""
    monkeypatch.setenv("AIRFLOW_VAR_FARGATE_ENVIRONMENTS_LISTENER_ARN", emulator.network["listener_arn"])
    monkeypatch.setenv("AIRFLOW_VAR_FARGATE_ENVIRONMENTS_DOMAIN", emulator.network["environments_domain"])
    return emulator.network
