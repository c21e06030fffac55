"""docker-compose.yaml's Airflow, run for real: PostgreSQL, Redis, airflow-init, the api-server,
scheduler, dag-processor, triggerer, a Celery worker and the local ECS emulator, each a process
with exactly its compose environment (see compose_stack.py for what stands in for Docker).

Everything is driven through the REST API, as a user of the team deployment would: sign in
with the password from .env, unpause, trigger, read task states and logs. A compose change
that breaks the stack (a missing shared secret, a wrong host name, a broken init) fails here.

One setting differs from the compose file, on purpose: the task heartbeat timeout is 20 s
instead of 300 s, so that recovery from a killed worker is seen in this test's time (the README
names the setting).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
import pytest
from dotenv import dotenv_values

from fargate_local.client import LocalEcsClient
from fargate_provider.environments.naming import EXPIRES_AT_TAG
from tests.helpers.airflow_api import AirflowApi
from tests.helpers.aws import ecs_leftovers
from tests.topology.compose_stack import PORTS, ROOT, ComposeStack, load_compose, wait_for

pytestmark = pytest.mark.topology

ENVIRONMENT_DAG = "fargate_ephemeral_environment"
BATCH_DAG = "fargate_batch_job"
JANITOR_DAG = "fargate_environment_janitor"
EMULATOR = f"http://127.0.0.1:{PORTS['fargate-local']}"
HEARTBEAT_TIMEOUT = 20
# What a team sets once with `airflow variables set` (docker compose run): the batch job waits in
# its worker slot (so a worker loss is what interrupts it), one retry, one second apart.
BATCH_SETTINGS = {"deferrable": False, "retries": 1, "retry_delay_seconds": 1}


def write_env_file(path: Path) -> None:
    """`make compose-env`, then the local-profile lines docker-compose.yaml's header shows."""
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compose_env.py"), str(path)], check=True, capture_output=True
    )
    connection = {
        "conn_type": "aws",
        "extra": {"endpoint_url": "http://fargate-local:5000", "region_name": "us-east-1"},
    }
    with path.open("a") as env:
        env.write(
            f"AIRFLOW_CONN_AWS_DEFAULT='{json.dumps(connection)}'\nAWS_ACCESS_KEY_ID=local\nAWS_SECRET_ACCESS_KEY=local\n"
        )


@pytest.fixture(scope="module")
def stack():
    workdir = Path(tempfile.mkdtemp(prefix="fargate-topology-"))
    env_file = workdir / ".env"
    write_env_file(env_file)
    services = load_compose(ROOT / "docker-compose.yaml", env_file, profiles=("local",))
    compose = ComposeStack(
        services,
        workdir,
        overrides={
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            # The create's wait deferred at once, as one that takes minutes on AWS is: the test follows it
            # through the triggerer (the emulator's service is stable within the 15 s waited in the worker).
            "AIRFLOW__FARGATE__WAIT_IN_WORKER_SECONDS": "0",
        },
    )

    def configure_batch_job() -> None:
        done = compose.run("airflow-scheduler", "airflow", "variables", "set", BATCH_DAG, json.dumps(BATCH_SETTINGS))
        assert done.returncode == 0, done.stdout + done.stderr

    try:
        compose.up(timeout=300, after={"airflow-init": configure_batch_job})
        api = AirflowApi(f"http://127.0.0.1:{PORTS['airflow-apiserver']}")
        api.sign_in("admin", dotenv_values(env_file)["AIRFLOW_ADMIN_PASSWORD"])
        yield compose, api
    except BaseException:
        print(compose.logs())
        raise
    finally:
        compose.down()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def emulator(stack):
    return LocalEcsClient(EMULATOR)


def ecs():
    return boto3.client(
        "ecs", endpoint_url=EMULATOR, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )


def assert_no_error_lines(api: AirflowApi, dag_id: str, run_id: str) -> None:
    _, body = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
    errors = []
    for ti in body["task_instances"]:
        if ti["state"] == "skipped" or not ti["try_number"]:
            continue
        for event in api.log_events(dag_id, run_id, ti["task_id"], ti["try_number"], ti["map_index"]):
            if str(event.get("level", "")).lower() in ("error", "critical"):
                errors.append((ti["task_id"], event.get("event")))
    assert not errors, errors


def test_the_stack_is_healthy_and_runs_on_postgres_redis_and_celery(stack):
    compose, api = stack
    status, health = api.call("GET", "/api/v2/monitor/health")
    assert status == 200, health
    assert {
        part: health[part]["status"] for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
    } == dict.fromkeys(("metadatabase", "scheduler", "triggerer", "dag_processor"), "healthy")
    env = compose.env("airflow-scheduler")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:airflow@127.0.0.1/")
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:@127.0.0.1:6379/0"
    # Every service that is up passed its own compose healthcheck.
    assert {
        "postgres",
        "redis",
        "fargate-local",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
    } <= compose.healthy
    assert compose.completed == {"airflow-init", "fargate-local-variables"}


def test_the_local_profile_gives_airflow_the_emulators_load_balancer_variables(stack, emulator):
    """fargate-local-variables stored the ready-made listener and domain as Airflow Variables; the
    Airflow containers carry no empty AIRFLOW_VAR_ of those names (it would hide them)."""
    compose, api = stack
    network = emulator.network()
    stored = {}
    for key in ("fargate_environments_listener_arn", "fargate_environments_domain"):
        status, variable = api.call("GET", f"/api/v2/variables/{key}")
        assert status == 200, variable
        stored[key] = variable["value"]
    assert stored == {
        "fargate_environments_listener_arn": network["listener_arn"],
        "fargate_environments_domain": network["environments_domain"],
    }
    assert stored["fargate_environments_listener_arn"].startswith("arn:aws:elasticloadbalancing:us-east-1:")
    for name in ("airflow-worker", "airflow-scheduler", "airflow-apiserver"):
        assert not [key for key in compose.env(name) if key.startswith("AIRFLOW_VAR_FARGATE_ENVIRONMENTS_")], name


def test_an_environment_is_created_with_its_wait_deferred_and_no_error_lines(stack, emulator):
    compose, api = stack
    api.unpause(ENVIRONMENT_DAG)
    run_id = api.trigger(
        ENVIRONMENT_DAG, {"environment": "team-a", "desired_count": 2, "subnet_kind": "public", "ttl_hours": 1}
    )
    seen: dict[str, set] = {}
    run = api.wait_for_run(ENVIRONMENT_DAG, run_id, timeout=240, seen=seen)
    assert run["state"] == "success", api.explain(ENVIRONMENT_DAG, run_id)
    assert "deferred" in seen["create_service"], seen["create_service"]
    assert_no_error_lines(api, ENVIRONMENT_DAG, run_id)
    service = ecs().describe_services(cluster="env-team-a", services=["team-a"])["services"][0]
    assert (service["status"], service["runningCount"]) == ("ACTIVE", 2)
    # expose=auto chose the emulator's load balancer: the local profile's Variables reached the worker
    url = f"http://team-a.{emulator.network()['environments_domain']}"
    status, entry = api.call(
        "GET", f"/api/v2/dags/{ENVIRONMENT_DAG}/dagRuns/{run_id}/taskInstances/report/xcomEntries/return_value"
    )
    assert status == 200, entry
    report = json.loads(entry["value"]) if isinstance(entry["value"], str) else entry["value"]  # the raw stored JSON
    assert report["expose"] == "load_balancer" and report["urls"] == [url], report
    assert [b["containerName"] for b in service["loadBalancers"]] == ["app"]
    # the report task's "Environment URL" extra link, as the UI's task view reads it
    status, links = api.call("GET", f"/api/v2/dags/{ENVIRONMENT_DAG}/dagRuns/{run_id}/taskInstances/report/links")
    assert status == 200 and links["extra_links"] == {"Environment URL": url}, links


def test_the_batch_job_succeeds_on_schedule_and_a_failing_container_fails_the_run(stack, emulator):
    compose, api = stack
    emulator.add_behaviour(family="batch-fails", exit_code=3)
    api.unpause(BATCH_DAG)  # starts the latest scheduled interval at once (catchup is off)
    scheduled = api.poll(
        "the scheduled batch run",
        lambda: next(
            (
                r
                for r in api.call("GET", f"/api/v2/dags/{BATCH_DAG}/dagRuns")[1]["dag_runs"]
                if r["run_type"] == "scheduled"
            ),
            None,
        ),
        timeout=120,
    )
    assert scheduled["logical_date"] is not None
    # A manual run without a logical date, as the Trigger form sends it.
    failing = api.trigger(BATCH_DAG, {"family": "batch-fails", "command": ["sh", "-c", "exit 3"]})
    assert api.wait_for_run(BATCH_DAG, scheduled["dag_run_id"], timeout=240)["state"] == "success"
    assert api.wait_for_run(BATCH_DAG, failing, timeout=240)["state"] == "failed"
    states = api.task_states(BATCH_DAG, failing)
    assert states["run_task"] == "failed" and states["deregister_old_revisions"] == "success", states
    assert "exit code 3" in json.dumps(api.log_events(BATCH_DAG, failing, "run_task", try_number=2))


def test_a_triggerer_killed_during_a_wait_is_replaced_and_the_wait_completes(stack, emulator):
    compose, api = stack
    # Tasks of this environment stay PENDING ~20 s, so the stable-wait outlives the triggerer.
    emulator.add_behaviour(family="env-slow", start_delay=2000)
    run_id = api.trigger(ENVIRONMENT_DAG, {"environment": "slow", "desired_count": 1, "ttl_hours": 1})
    api.poll(
        "create_service to defer",
        lambda: api.task_states(ENVIRONMENT_DAG, run_id).get("create_service") == "deferred",
        timeout=180,
        interval=0.5,
    )
    compose.kill("airflow-triggerer")
    assert api.task_states(ENVIRONMENT_DAG, run_id)["create_service"] == "deferred"
    compose.restart("airflow-triggerer")
    run = api.wait_for_run(ENVIRONMENT_DAG, run_id, timeout=300)
    assert run["state"] == "success", api.explain(ENVIRONMENT_DAG, run_id)
    messages = [e.get("event") for e in api.log_events(ENVIRONMENT_DAG, run_id, "create_service")]
    assert "Resumed from the triggerer: the wait succeeded." in messages


def test_a_worker_killed_during_a_run_is_followed_by_a_retry_that_starts_no_second_task(stack, emulator):
    compose, api = stack
    # The container runs ~30 s, in the worker's slot (BATCH_SETTINGS: not deferred).
    emulator.add_behaviour(family="batch-long", run_seconds=3000)
    run_tasks_before = emulator.describe()["calls"].get("RunTask", 0)
    logical_date = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    run_id = api.trigger(BATCH_DAG, {"family": "batch-long"}, logical_date=logical_date)
    api.poll(
        "the batch job's task to start",
        lambda: (
            api.task_states(BATCH_DAG, run_id).get("run_task") == "running"
            and emulator.describe()["calls"].get("RunTask", 0) > run_tasks_before
        ),
        timeout=240,
        interval=0.5,
    )
    compose.kill("airflow-worker")
    compose.restart("airflow-worker")
    run = api.wait_for_run(BATCH_DAG, run_id, timeout=300)
    assert run["state"] == "success", api.explain(BATCH_DAG, run_id)
    _, ti = api.call("GET", f"/api/v2/dags/{BATCH_DAG}/dagRuns/{run_id}/taskInstances/run_task")
    assert ti["try_number"] == 2, ti  # the first try died with the worker
    assert emulator.describe()["calls"]["RunTask"] - run_tasks_before == 1
    messages = [str(e.get("event")) for e in api.log_events(BATCH_DAG, run_id, "run_task", try_number=2)]
    assert any(m.startswith("Following 1 task(s) an earlier try started") for m in messages), messages[-15:]


def test_destroy_and_the_janitor_leave_only_what_the_batch_job_keeps(stack, emulator):
    compose, api = stack
    destroy = api.trigger(ENVIRONMENT_DAG, {"environment": "team-a", "action": "destroy"})
    assert api.wait_for_run(ENVIRONMENT_DAG, destroy, timeout=240)["state"] == "success"
    # "slow" outlived its time to live: what the clock would do in an hour, done to its tag.
    client = ecs()
    cluster = client.describe_clusters(clusters=["env-slow"])["clusters"][0]
    client.tag_resource(
        resourceArn=cluster["clusterArn"], tags=[{"key": EXPIRES_AT_TAG, "value": "2026-01-01T00:00:00Z"}]
    )
    api.unpause(JANITOR_DAG)  # runs the latest hourly interval at once
    janitor = api.poll(
        "the janitor's run",
        lambda: next(iter(api.call("GET", f"/api/v2/dags/{JANITOR_DAG}/dagRuns")[1]["dag_runs"]), None),
        timeout=120,
    )
    assert api.wait_for_run(JANITOR_DAG, janitor["dag_run_id"], timeout=240)["state"] == "success"
    assert api.task_states(JANITOR_DAG, janitor["dag_run_id"])["delete_cluster[0]"] == "success"

    left = wait_for(
        "the emulator to settle",
        lambda: (lambda found: found if "tasks" not in found else None)(ecs_leftovers(EMULATOR)),
        timeout=60,
        interval=0.5,
    )
    assert left.pop("clusters") == ["fargate-batch"]
    families = sorted(arn.rsplit("/", 1)[1].split(":")[0] for arn in left.pop("task_definitions"))
    assert families == ["batch-fails", "batch-job", "batch-long"]
    assert left == {}
