"""Fargate Spot, the Fargate vCPU quotas and RunTask's rate as the emulator plays them, in ECS's
words (fargate_rules.capacity cites each source)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from fargate_rules.capacity import (
    CAPACITY_UNAVAILABLE_REASON,
    SPOT_ARCHITECTURE_MESSAGE,
    SPOT_INTERRUPTION_REASON,
    VCPU_LIMIT_REASON,
)
from tests.emulator.helpers import client, network, register, wait

FAST = {"Delay": 0.05, "MaxAttempts": 400}


@pytest.fixture
def spot_cluster(ecs):
    ecs.put_cluster_capacity_providers(
        cluster="c", capacityProviders=["FARGATE", "FARGATE_SPOT"], defaultCapacityProviderStrategy=[]
    )
    return ecs


def run_on(ecs, emulator, provider: str | None, **extra):
    kwargs = {"cluster": "c", "taskDefinition": "job", "networkConfiguration": network(emulator), **extra}
    if provider:
        kwargs["capacityProviderStrategy"] = [{"capacityProvider": provider, "weight": 1}]
    else:
        kwargs["launchType"] = "FARGATE"
    return ecs.run_task(**kwargs)


def test_an_interrupted_spot_task_stops_with_spot_interruption(emulator, spot_cluster):
    ecs = spot_cluster
    emulator.add_behaviour(family="job", run_seconds=600)
    emulator.set_spot(interruptions=1, interrupt_after=10)
    register(ecs)
    [task] = run_on(ecs, emulator, "FARGATE_SPOT")["tasks"]
    assert task["capacityProviderName"] == "FARGATE_SPOT"
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[task["taskArn"]], WaiterConfig=FAST)
    stopped = ecs.describe_tasks(cluster="c", tasks=[task["taskArn"]])["tasks"][0]
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ("SpotInterruption", SPOT_INTERRUPTION_REASON)
    assert stopped["containers"][0]["exitCode"] == 143  # SIGTERM, the two-minute warning
    # the next Spot task (interruptions=1 was used) and on-demand tasks are not interrupted
    [again] = run_on(ecs, emulator, "FARGATE_SPOT", overrides={"containerOverrides": []})["tasks"]
    [on_demand] = run_on(ecs, emulator, None)["tasks"]
    emulator.add_behaviour(family="job", run_seconds=5)
    for arn in (again["taskArn"], on_demand["taskArn"]):
        ecs.stop_task(cluster="c", task=arn)
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[again["taskArn"], on_demand["taskArn"]], WaiterConfig=FAST)
    codes = {
        t["stopCode"] for t in ecs.describe_tasks(cluster="c", tasks=[again["taskArn"], on_demand["taskArn"]])["tasks"]
    }
    assert codes == {"UserInitiated"}


def test_spot_without_capacity_is_a_run_task_failure_and_on_demand_still_runs(emulator, spot_cluster):
    ecs = spot_cluster
    register(ecs)
    emulator.set_spot(capacity_missing_for=3600)
    answer = run_on(ecs, emulator, "FARGATE_SPOT")
    assert answer["tasks"] == [] and answer["failures"][0]["reason"] == CAPACITY_UNAVAILABLE_REASON
    [task] = run_on(ecs, emulator, None)["tasks"]
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[task["taskArn"]], WaiterConfig=FAST)


def test_arm64_is_refused_on_fargate_spot(emulator, spot_cluster):
    ecs = spot_cluster
    register(ecs, runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"})
    with pytest.raises(ClientError) as err:
        run_on(ecs, emulator, "FARGATE_SPOT")
    assert err.value.response["Error"]["Code"] == "ClientException"
    assert err.value.response["Error"]["Message"] == SPOT_ARCHITECTURE_MESSAGE


def test_on_demand_and_spot_vcpu_quotas_are_separate(emulator, spot_cluster):
    ecs = spot_cluster
    emulator.add_behaviour(family="job", run_seconds=600)
    register(ecs, cpu="1024", memory="2048")
    emulator.set_vcpu_quota(on_demand=2, spot=1)
    first = run_on(ecs, emulator, None)["tasks"]
    second = run_on(ecs, emulator, None)["tasks"]
    refused = run_on(ecs, emulator, None)
    assert refused["tasks"] == [] and refused["failures"][0]["reason"] == VCPU_LIMIT_REASON
    spot = run_on(ecs, emulator, "FARGATE_SPOT")["tasks"]  # the Spot quota is its own
    assert run_on(ecs, emulator, "FARGATE_SPOT")["failures"][0]["reason"] == VCPU_LIMIT_REASON
    arns = [t["taskArn"] for t in first + second + spot]
    ecs.stop_task(cluster="c", task=arns[0])
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=arns[:1], WaiterConfig=FAST)
    freed = run_on(ecs, emulator, None)["tasks"]  # a stopped task gives its vCPUs back
    assert len(freed) == 1
    for arn in arns[1:] + [freed[0]["taskArn"]]:
        ecs.stop_task(cluster="c", task=arn)
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=arns[1:] + [freed[0]["taskArn"]], WaiterConfig=FAST)


def test_run_task_is_throttled_by_its_token_bucket(emulator, ecs):
    register(ecs)
    emulator.set_rate_quota("ecs:RunTask", 2)
    plain = client(emulator, retries=1)
    answers = []
    for _ in range(6):
        try:
            answers.append(run_on(plain, emulator, None)["tasks"][0]["taskArn"])
        except ClientError as err:
            answers.append(err.response["Error"]["Code"] + ": " + err.response["Error"]["Message"])
    assert "ThrottlingException: Rate exceeded" in answers
    started = [a for a in answers if a.startswith("arn:")]
    assert 2 <= len(started) < 6
    wait(
        "the started tasks stop",
        lambda: ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=started, WaiterConfig=FAST) or True,
    )


def test_run_task_and_task_launch_buckets_have_fargates_sizes():
    """throttling.html: RunTask 20 calls a second, burst and sustained; task launches a bucket of
    100 refilled 20 a second, one for On-Demand and one for Spot (a RunTask of count n takes n)."""
    from fargate_local.quotas import RateQuotas

    quotas = RateQuotas()
    assert sum(quotas.allow("1", "r", "ecs:RunTask") for _ in range(25)) in (20, 21)  # a token may refill meanwhile
    assert [quotas.allow("1", "r", "fargate:launch:FARGATE", cost=10) for _ in range(11)] == [True] * 10 + [False]
    assert quotas.allow("1", "r", "fargate:launch:FARGATE_SPOT", cost=10)  # Spot's bucket is its own
    assert quotas.allow("2", "r", "fargate:launch:FARGATE", cost=10)  # and each account has its own


def test_a_spent_spot_launch_bucket_throttles_spot_run_task_only(emulator, spot_cluster):
    ecs = spot_cluster
    register(ecs)
    account = ecs.describe_clusters(clusters=["c"])["clusters"][0]["clusterArn"].split(":")[4]
    plain = client(emulator, retries=1)
    # Refilled one launch in 100 s (stricter than Fargate's 20 a second, as a test may make it): at the
    # real rate the bucket gets a token back every 50 ms, and a loaded machine took longer than that to
    # send the next RunTask (CI once saw it go through).
    emulator.set_rate_quota("fargate:launch:FARGATE_SPOT", 0.01)
    assert emulator.quotas.allow(account, "us-east-1", "fargate:launch:FARGATE_SPOT", cost=1)  # the burst, spent
    with pytest.raises(ClientError) as err:
        run_on(plain, emulator, "FARGATE_SPOT")
    assert (err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]) == (
        "ThrottlingException",
        "Rate exceeded",
    )
    [task] = run_on(plain, emulator, None)["tasks"]  # On-Demand launches have their own bucket
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[task["taskArn"]], WaiterConfig=FAST)


def test_the_control_endpoint_sets_the_spot_market_and_the_quotas(emulator):
    """What a separate emulator process (make airflow) is set with: LocalEcsClient → /_fargate_local/…"""
    from fargate_local.client import LocalEcsClient

    control = LocalEcsClient(emulator.endpoint)
    market = control.set_spot(interruption_rate=0.25, interrupt_after=45)
    assert (market["interruption_rate"], market["interrupt_after"]) == (0.25, 45.0)
    assert control.describe()["spot"]["interruption_rate"] == 0.25
    assert control.set_vcpu_quota(on_demand=8, spot=4) == {"FARGATE": 8, "FARGATE_SPOT": 4}
    assert emulator.control_plane.vcpu_quotas.limits == {"FARGATE": 8, "FARGATE_SPOT": 4}
    with pytest.raises(ValueError, match="spot.interruption_rate: must be between 0 and 1"):
        control.set_spot(interruption_rate=2)
    with pytest.raises(ValueError, match="vcpu quota spot: must be a number of vCPUs above 0"):
        control.set_vcpu_quota(spot=-1)
