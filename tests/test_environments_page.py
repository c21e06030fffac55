"""The environments page's JSON endpoint against the emulator (the page itself, sign-in and
Destroy are driven in Chromium in test_airflow_standalone.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from fargate_provider.utils.pricing import fargate_cost


@pytest.fixture
def page_client(airflow_db):
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user

    from fargate_provider.environments.page import app

    create_auth_manager()  # Airflow's default, the simple auth manager: it judges the page's permissions
    # signed in as an admin (sign-in itself: the Chromium test; roles: test_environments_page_security.py)
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="admin", role="admin")
    yield TestClient(app)
    app.dependency_overrides.clear()


def test_json_lists_managed_environments_with_cost_so_far(user_dags, emulator, capfd, page_client):
    from tests.emulator.helpers import client

    created = user_dags.run(
        "fargate_ephemeral_environment", capfd, run_conf={"environment": "priced", "desired_count": 2}
    )
    assert created.state == "success", created.task_states
    ecs = client(emulator)
    ecs.create_cluster(clusterName="env-unmanaged", tags=[{"key": "fargate-environment", "value": "unmanaged"}])
    try:
        response = page_client.get("/api/environments")
    finally:
        ecs.delete_cluster(cluster="env-unmanaged")
    assert response.status_code == 200
    environments = response.json()["environments"]
    assert [e["environment"] for e in environments] == ["priced"]  # the look-alike without managed-by is not listed
    env = environments[0]
    assert (env["cluster"], env["service"], env["task_definition"]) == ("env-priced", "priced", "env-priced:1")
    assert (env["running_count"], env["desired_count"]) == (2, 2)
    assert 7.9 * 3600 < env["ttl_left_seconds"] <= 8 * 3600 and env["expires_at"].endswith("Z")
    assert 0 <= env["age_seconds"] < 600
    # Two running tasks of 0.25 vCPU / 0.5 GB, each billed at least Fargate's one-minute minimum.
    minimum = round(2 * fargate_cost(256, 512, 60).usd, 6)
    assert env["estimated_cost_usd"] >= minimum > 0
    # the larger of the service's history and the listed tasks (environments/cost.py); the note names both
    assert "2 task(s) ECS still lists" in env["cost_note"] and "us-east-1 X86_64 on-demand rates" in env["cost_note"]

    destroyed = user_dags.run(
        "fargate_ephemeral_environment", capfd, run_conf={"environment": "priced", "action": "destroy"}
    )
    assert destroyed.state == "success"
    assert page_client.get("/api/environments").json()["environments"] == []


def test_destroy_needs_the_pages_own_header(page_client, no_aws):
    response = page_client.post("/api/environments/priced/destroy")
    assert response.status_code == 403 and response.json()["detail"] == "missing X-Requested-By header"
    response = page_client.post(
        "/api/environments/Not_A_Name/destroy", headers={"X-Requested-By": "fargate-environments"}
    )
    assert response.status_code == 422
