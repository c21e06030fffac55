"""FargateRunTaskOperator's capacity policy through Airflow (dag.test) against the emulator's
Fargate Spot market, vCPU quotas and RunTask rate: infrastructure outcomes never spend an Airflow
retry, and one try never has two tasks running at once."""

from __future__ import annotations

import threading

import pytest

from fargate_rules.capacity import SPOT_ARCHITECTURE_MESSAGE
from tests.emulator.helpers import network, register, wait
from tests.test_run_task_operator import cost_of

DAG = """
from datetime import timedelta
from airflow.sdk import DAG
from fargate_provider.operators.run_task import FargateRunTaskOperator
with DAG(DAG_ID, schedule=None, render_template_as_native_obj=True, params={"subnets": [], "groups": []}):
    FargateRunTaskOperator(
        task_id="run", cluster="c", task_definition="job",
        subnets="{{ params.subnets }}", security_groups="{{ params.groups }}",
        deferrable=DEFERRABLE, poll_interval=0.2, retries=2, retry_delay=timedelta(seconds=0),
        launch_retry_max_delay=0.5, EXTRA
    )
"""


@pytest.fixture
def spot_cluster(ecs):
    ecs.put_cluster_capacity_providers(
        cluster="c", capacityProviders=["FARGATE", "FARGATE_SPOT"], defaultCapacityProviderStrategy=[]
    )
    return ecs


def run(airflow, emulator, capfd, extra: str, deferrable: bool = False):
    dag_id = airflow.write_dag(DAG.replace("DEFERRABLE", str(deferrable)).replace("EXTRA", extra))
    conf = {"subnets": emulator.network["private_subnets"], "groups": [emulator.network["security_group"]]}
    return airflow.run(dag_id, capfd, run_conf=conf)


def tasks_of(ecs) -> list[dict]:
    arns = ecs.list_tasks(cluster="c", desiredStatus="STOPPED")["taskArns"]
    tasks = ecs.describe_tasks(cluster="c", tasks=arns)["tasks"] if arns else []
    return sorted(tasks, key=lambda t: t["createdAt"])


def never_two_at_once(tasks: list[dict]) -> bool:
    return all(later["createdAt"] >= earlier["stoppedAt"] for earlier, later in zip(tasks, tasks[1:], strict=False))


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferred"])
def test_interrupted_twice_on_spot_finishes_on_demand_in_one_try(airflow, emulator, spot_cluster, capfd, deferrable):
    emulator.add_behaviour(family="job", run_seconds=60, output=["working"])
    emulator.set_spot(interruptions=2, interrupt_after=20)
    register(spot_cluster)
    result = run(airflow, emulator, capfd, 'capacity="spot_then_on_demand", spot_interruptions=1,', deferrable)
    assert result.task_states == {"run": "success"}, result.log[-3000:]
    assert result.extra["tries"]["run"] == 1  # no Airflow retry spent on Spot
    tasks = tasks_of(spot_cluster)
    assert [(t["capacityProviderName"], t["stopCode"]) for t in tasks] == [
        ("FARGATE_SPOT", "SpotInterruption"),
        ("FARGATE_SPOT", "SpotInterruption"),
        ("FARGATE", "EssentialContainerExited"),
    ]
    assert never_two_at_once(tasks)
    assert result.log.count("was interrupted (SpotInterruption: Your Spot Task was interrupted.)") == 2
    assert "running it again on Fargate on-demand" in result.log
    cost = cost_of(result)
    assert cost["tasks"] == 3 and cost["spot_tasks"] == 2
    assert cost["capacity"] == ["FARGATE_SPOT", "FARGATE_SPOT", "FARGATE"]
    assert cost["usd"] < cost["on_demand_usd"] and cost["saving_usd"] > 0


def test_spot_only_fails_without_retry_when_interrupted_too_often(airflow, emulator, spot_cluster, capfd):
    emulator.add_behaviour(family="job", run_seconds=60)
    emulator.set_spot(interruptions=5, interrupt_after=10)
    register(spot_cluster)
    result = run(airflow, emulator, capfd, 'capacity="spot", spot_interruptions=1,')
    assert result.task_states == {"run": "failed"}
    assert result.extra["tries"]["run"] == 1  # SpotInterruptedError: not retried
    assert "SpotInterruptedError" in result.log and "2 interruption(s) in this try" in result.log
    assert [t["stopCode"] for t in tasks_of(spot_cluster)] == ["SpotInterruption", "SpotInterruption"]


def test_no_spot_capacity_for_spot_wait_runs_on_demand(airflow, emulator, spot_cluster, capfd):
    emulator.add_behaviour(family="job", run_seconds=5)
    emulator.set_spot(capacity_missing_for=3600)
    register(spot_cluster)
    result = run(airflow, emulator, capfd, 'capacity="spot_then_on_demand", spot_wait=1,')
    assert result.task_states == {"run": "success"}, result.log[-3000:]
    assert result.extra["tries"]["run"] == 1
    assert [t["capacityProviderName"] for t in tasks_of(spot_cluster)] == ["FARGATE"]
    assert result.log.count("FARGATE_SPOT has no capacity now") == 1  # said once, however many attempts
    assert "Fargate Spot had no capacity for 1 s (spot_wait): running on Fargate on-demand" in result.log


def test_capacity_that_never_comes_fails_at_launch_timeout_without_retry(airflow, emulator, spot_cluster, capfd):
    emulator.set_spot(capacity_missing_for=3600)
    register(spot_cluster)
    result = run(airflow, emulator, capfd, 'capacity="spot", launch_timeout=2,')
    assert result.task_states == {"run": "failed"}
    assert result.extra["tries"]["run"] == 1
    assert "CapacityUnavailableError: FARGATE_SPOT had no capacity for" in result.log
    assert "Capacity is unavailable at this time" in result.log
    assert emulator.calls["RunTask"] >= 2
    assert tasks_of(spot_cluster) == []


def test_arm64_on_spot_is_refused_before_run_task(airflow, emulator, spot_cluster, capfd):
    register(spot_cluster, runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"})
    result = run(airflow, emulator, capfd, 'capacity="spot_then_on_demand",')
    assert result.task_states == {"run": "failed"}
    assert result.extra["tries"]["run"] == 1
    assert SPOT_ARCHITECTURE_MESSAGE in result.log and "capacity: task definition job is ARM64" in result.log
    assert emulator.calls["RunTask"] == 0


def test_a_full_vcpu_quota_is_waited_out_not_retried(airflow, emulator, spot_cluster, capfd):
    emulator.add_behaviour(family="job", run_seconds=5)
    emulator.add_behaviour(family="blocker", run_seconds=100000)
    register(spot_cluster)
    register(spot_cluster, family="blocker")
    emulator.set_vcpu_quota(on_demand=0.25)
    [blocker] = spot_cluster.run_task(
        cluster="c", taskDefinition="blocker", launchType="FARGATE", networkConfiguration=network(emulator)
    )["tasks"]

    def free_the_quota_once_refused() -> None:
        wait("the operator's RunTask refused for the quota", lambda: emulator.calls["RunTask"] >= 3, timeout=60)
        spot_cluster.stop_task(cluster="c", task=blocker["taskArn"])

    freeing = threading.Thread(target=free_the_quota_once_refused)
    freeing.start()
    result = run(airflow, emulator, capfd, "")
    freeing.join()
    assert result.task_states == {"run": "success"}, result.log[-3000:]
    assert result.extra["tries"]["run"] == 1
    assert result.log.count("vCPU quota is full") == 1
    assert "You've reached the limit on the number of vCPUs you can run concurrently" in result.log


def test_exit_codes_skip_or_run_again_within_the_try(airflow, emulator, spot_cluster, capfd):
    emulator.add_behaviour(family="job", exit_code=3)
    register(spot_cluster)
    result = run(airflow, emulator, capfd, "retry_on_exit_codes=[3], exit_code_retries=2,")
    assert result.task_states == {"run": "failed"}
    assert result.extra["tries"]["run"] == 3  # the re-runs did not spend Airflow retries
    assert "exit code 3 is in retry_on_exit_codes: running it again (1 of 2)" in result.log
    assert "retry_on_exit_codes: 2 re-run(s) used" in result.log
    # 3 tasks in the first try (2 re-runs); the re-runs are counted over the task instance, so
    # each Airflow retry after it runs the task once
    assert len(tasks_of(spot_cluster)) == 3 + 1 + 1

    skipped = run(airflow, emulator, capfd, "skip_on_exit_codes=[3],")
    assert skipped.task_states == {"run": "skipped"}
    assert "exit code 3 is in skip_on_exit_codes: skipped" in skipped.log


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('capacity="cheap",', "capacity: 'cheap' is not a capacity mode; allowed: on_demand, spot, spot_then_on"),
        ('capacity="spot", count=2,', "count: must be 1 with capacity='spot'"),
        ("retry_on_exit_codes=[256],", "retry_on_exit_codes: 256 is not an exit code"),
        ("skip_on_exit_codes=[0],", "0 is success, not allowed"),
        ("spot_wait=0,", "spot_wait: must be a number of seconds above 0"),
        (
            'capacity="spot", capacity_provider_strategy=[{"capacityProvider": "FARGATE", "weight": 1}],',
            "capacity: give capacity or capacity_provider_strategy, not both",
        ),
    ],
)
def test_bad_capacity_input_fails_at_once(airflow, emulator, spot_cluster, capfd, extra, message):
    register(spot_cluster)
    result = run(airflow, emulator, capfd, extra)
    assert result.task_states == {"run": "failed"}
    assert result.extra["tries"]["run"] == 1
    assert message in result.log
    assert emulator.calls["RunTask"] == 0
