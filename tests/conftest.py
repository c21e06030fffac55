"""Test harness: a throwaway AIRFLOW_HOME with a real metadata DB, and a moto server for AWS.

Environment is set at import time, before anything imports airflow, so Airflow reads
this configuration and never the developer's own.
"""

from __future__ import annotations

import json
import logging
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
    }
)
for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(var, None)

import pytest  # noqa: E402

from tests.helpers import aws  # noqa: E402

pytest_plugins = ["tests.helpers.airflow_runner"]


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server on a free port; AWS_ENDPOINT_URL and aws_default point at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {"conn_type": "aws", "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    )
    yield endpoint
    server.stop()


@pytest.fixture
def moto(moto_endpoint):
    """A clean moto for one test; afterwards, fail the test if it left ECS resources behind."""
    aws.reset(moto_endpoint)
    yield moto_endpoint
    leftovers = aws.ecs_leftovers(moto_endpoint)
    aws.reset(moto_endpoint)
    assert not leftovers, f"test left resources behind: {leftovers}"


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)
