"""`fargate-env` (issue 27) against `make airflow`'s stack: the installed console script, talking only to
Airflow's REST API (no AWS credentials in its environment), with its own stack beside the other
standalone module's (the suite's workers run the two side by side)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tests.helpers.airflow_api import AirflowApi
from tests.helpers.aws import ecs_leftovers
from tests.helpers.standalone import DAG_ID, running_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    yield from running_stack(tmp_path_factory)


def fargate_env(api: AirflowApi, *args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    """The installed console script, as CI runs it: Airflow's address and a token in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS"))}  # no AWS credentials
    env.update({"AIRFLOW_URL": api.base, "AIRFLOW_TOKEN": api.token})
    script = Path(sys.executable).parent / "fargate-env"
    return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def destroyed_at_the_end(api: AirflowApi, name: str):
    """A test that fails half-way still takes its environment down, so the next test's leftover
    check judges only what that test made (CI once saw one failure become two)."""
    try:
        yield
    finally:
        listed = fargate_env(api, "list", "--json")
        if listed.returncode == 0 and any(e["environment"] == name for e in json.loads(listed.stdout)):
            fargate_env(api, "down", name, "--wait")


def test_fargate_env_up_sleep_wake_down_through_airflows_rest_api(stack):
    api, emulator, _ = stack
    api.unpause(DAG_ID)
    with destroyed_at_the_end(api, "pr-7"):
        up_sleep_wake_down(api, emulator)


def up_sleep_wake_down(api: AirflowApi, emulator: str) -> None:
    source = "https://github.com/org/app/pull/7 3f2c1ab"
    up = fargate_env(
        api, "up", "pr-7", "--image", "public.ecr.aws/nginx/nginx:1.27", "--subnets", "public",
        "--source", source, "--wait", "--json",
    )  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    result = json.loads(up.stdout)
    assert result["state"] == "success" and result["dag_run_id"].startswith("create-pr-7-")
    assert result["url"].startswith("http://pr-7.")  # `make airflow` sets up the load balancer Variables
    listed = json.loads(fargate_env(api, "list", "--json").stdout)
    [env] = [e for e in listed if e["environment"] == "pr-7"]
    assert env["owner"] == "admin" and env["source"] == source  # the Airflow user who triggered it
    assert env["last_run_id"] == result["dag_run_id"] and env["image"] == "public.ecr.aws/nginx/nginx:1.27"
    assert fargate_env(api, "url", "pr-7").stdout.strip() == result["url"]

    slept = fargate_env(api, "sleep", "pr-7", "--wait", "--json")
    assert slept.returncode == 0, slept.stdout + slept.stderr
    [env] = [e for e in json.loads(fargate_env(api, "list", "--json").stdout) if e["environment"] == "pr-7"]
    assert env["asleep_since"] and (env["running_count"], env["desired_count"]) == (0, 0)
    assert "asleep" in fargate_env(api, "list").stdout
    elbv2 = boto3.client("elbv2", endpoint_url=emulator, region_name="us-east-1")
    [balancer] = elbv2.describe_load_balancers()["LoadBalancers"]
    [listener] = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    [rule] = [r for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]]
    assert rule["Actions"][0]["Type"] == "fixed-response"  # the load balancer itself answers: asleep

    woken = fargate_env(api, "wake", "pr-7", "--wait", "--json")
    assert woken.returncode == 0, woken.stdout + woken.stderr
    assert json.loads(woken.stdout)["url"] == result["url"]
    [env] = [e for e in json.loads(fargate_env(api, "list", "--json").stdout) if e["environment"] == "pr-7"]
    assert env["asleep_since"] is None and (env["running_count"], env["desired_count"]) == (1, 1)

    down = fargate_env(api, "down", "pr-7", "--wait")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "pr-7 is gone" in down.stdout
    assert ecs_leftovers(emulator) == {}


def test_fargate_env_names_bad_input_and_triggers_nothing(stack):
    api, _, _ = stack
    api.unpause(DAG_ID)
    runs_before = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")[1]["total_entries"]
    bad_name = fargate_env(api, "up", "Bad_Name", "--image", "nginx:1.27")
    assert bad_name.returncode == 2
    assert "Environment name (environment): 'Bad_Name' does not match" in bad_name.stderr
    bad_source = fargate_env(api, "up", "ok-name", "--image", "nginx:1.27", "--source", "https://x.example/pr?id=1")
    assert bad_source.returncode == 2 and "Source (source):" in bad_source.stderr
    bad_env = fargate_env(api, "up", "ok-name", "--image", "nginx:1.27", "--env", "NOVALUE")
    assert bad_env.returncode == 2 and "--env 'NOVALUE': give KEY=VALUE" in bad_env.stderr
    assert api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")[1]["total_entries"] == runs_before
    refused = subprocess.run(
        [str(Path(sys.executable).parent / "fargate-env"), "--airflow", api.base, "--token", "not-a-token", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 3 and "Airflow refused GET /fargate/api/environments: HTTP 403" in refused.stderr


def test_fargate_env_exits_1_with_the_failing_tasks_reason(stack):
    from fargate_local.client import LocalEcsClient

    api, emulator, _ = stack
    api.unpause(DAG_ID)
    LocalEcsClient(emulator).add_behaviour(image="registry.example/missing:1", pull_failure=True)
    failed = fargate_env(api, "up", "no-pull", "--image", "registry.example/missing:1", "--wait")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "create no-pull failed" in failed.stdout
    assert "create_service failed" in failed.stdout
    assert "CannotPullContainerError" in failed.stdout
    assert ecs_leftovers(emulator) == {}  # the run's teardown removed what it made
    LocalEcsClient(emulator).clear_behaviours()


def test_a_burst_goes_side_by_side_and_one_environments_runs_take_turns(stack):
    """Three environments and an update of the first, triggered at once through Airflow (issue 27,
    item 8): the three go side by side, the update waits for the first create to end, and the
    listener gets one rule per host at distinct priorities."""
    api, emulator, _ = stack
    api.unpause(DAG_ID)
    names = ("burst-a", "burst-b", "burst-c")

    def start(*args: str) -> str:
        """A run triggered, not waited for (as CI jobs of three pull requests would, at once)."""
        started = fargate_env(api, *args, "--json")
        assert started.returncode == 0, started.stdout + started.stderr
        return json.loads(started.stdout)["dag_run_id"]

    with contextlib.ExitStack() as cleanup:
        for name in names:
            cleanup.enter_context(destroyed_at_the_end(api, name))
        runs = [
            start("up", name, "--image", "public.ecr.aws/nginx/nginx:1.27", "--subnets", "public") for name in names
        ]
        update = start("up", "burst-a", "--image", "public.ecr.aws/nginx/nginx:1.28", "--subnets", "public")
        ended = {run_id: api.wait_for_run(DAG_ID, run_id, timeout=600) for run_id in (*runs, update)}
        assert {run["state"] for run in ended.values()} == {"success"}, ended

        first_end = min(ended[r]["end_date"] for r in runs)
        assert max(ended[r]["start_date"] for r in runs) < first_end  # the three ran at the same time

        def task(run_id: str, task_id: str) -> dict:
            status, tis = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
            return next(ti for ti in tis["task_instances"] if ti["task_id"] == task_id)

        # the update waited for burst-a's create to be done changing it (its report: what follows acts
        # only after a failed step)
        assert task(update, "prepare")["start_date"] >= task(runs[0], "report")["end_date"]

        elbv2 = boto3.client("elbv2", endpoint_url=emulator, region_name="us-east-1")
        [balancer] = elbv2.describe_load_balancers()["LoadBalancers"]
        [listener] = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
        rules = [r for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]]
        hosts = sorted(
            (c.get("HostHeaderConfig") or {}).get("Values", c.get("Values", []))[0].split(".")[0]
            for r in rules
            for c in r["Conditions"]
            if c["Field"] == "host-header"
        )
        assert hosts == sorted(names)  # one rule per host: the update reused burst-a's
        assert len({r["Priority"] for r in rules}) == len(rules)
        [env] = [e for e in json.loads(fargate_env(api, "list", "--json").stdout) if e["environment"] == "burst-a"]
        assert env["image"] == "public.ecr.aws/nginx/nginx:1.28" and env["last_run_id"] == update

        downs = [start("down", name) for name in names]
        assert {api.wait_for_run(DAG_ID, run_id, timeout=600)["state"] for run_id in downs} == {"success"}
    assert ecs_leftovers(emulator) == {}
