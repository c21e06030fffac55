"""Test harness: a throwaway AIRFLOW_HOME with a real metadata DB, and the local ECS emulator for AWS.

Environment is set at import time, before anything imports airflow, so Airflow reads
this configuration and never the developer's own.
"""

from __future__ import annotations

import json
import os
import shutil
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
    }
)
for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(var, None)

import pytest  # noqa: E402

from tests.helpers import aws  # noqa: E402

pytest_plugins = ["tests.helpers.airflow_runner"]


@pytest.fixture(scope="session")
def local_ecs():
    """The local ECS emulator on a free port; AWS_ENDPOINT_URL and aws_default point at it."""
    from fargate_provider.local.server import LocalEcs

    emulator = LocalEcs(port=0).start()
    os.environ["AWS_ENDPOINT_URL"] = emulator.endpoint
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {"conn_type": "aws", "extra": {"endpoint_url": emulator.endpoint, "region_name": "us-east-1"}}
    )
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
