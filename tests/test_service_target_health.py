"""Behind a load balancer, stable means reachable (issue 16): the service operators' wait, in the
worker and deferred, through Airflow (dag.test, real metadata DB) against the emulator.

- The wait ends only once every target of the service is ``healthy`` in ELBv2's
  DescribeTargetHealth (ELB API_TargetHealth; application/check-target-health.html), not when ECS
  counts the tasks RUNNING: without the circuit breaker, ECS's own counts say nothing of health.
- A task ECS stops because it failed the load balancer's health checks (stoppedReason "Task failed
  ELB health checks in (target-group …)", boltops-tools/ufo#171; the service event "(task t) (port
  p) is unhealthy in (target-group tg) due to (reason r)", service-unhealthy-event-messages.html)
  fails the wait at once, with the reason: ECS has already waited out the grace period
  (healthCheckGracePeriodSeconds, API_CreateService), and the deployment circuit breaker counts
  such tasks as failed (deployment-circuit-breaker.html).
"""

from __future__ import annotations

import uuid

import pytest

from tests.emulator.helpers import FAST, client, register

DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.service import FargateCreateServiceOperator, FargateDeleteServiceOperator

with DAG(
    DAG_ID, schedule=None, render_template_as_native_obj=True,
    params={"subnets": [], "groups": [], "target_group": ""},
):
    create = FargateCreateServiceOperator(
        task_id="create", cluster="c", service_name="web", task_definition="web", desired_count=2,
        subnets="{{ params.subnets }}", security_groups="{{ params.groups }}", deployment_circuit_breaker=False,
        load_balancers=[{"targetGroupArn": "{{ params.target_group }}", "containerName": "app", "containerPort": 80}],
        deferrable=DEFERRABLE, poll_interval=0.1, timeout=120,
    )
"""


@pytest.fixture
def target_group(emulator, ecs):
    """An ``ip`` target group behind the emulator's ready-made ALB (a host-header rule on its
    listener), health-checked every 300 emulated seconds (3 s at the fixture's pace): long enough that a wait
    which did not look at target health would end while the targets are still ``initial``.
    The service, rule and target group are deleted afterwards (the emulator fixture checks)."""
    elbv2 = client(emulator, "elbv2")
    vpc = client(emulator, "ec2").describe_subnets(SubnetIds=emulator.network["private_subnets"][:1])["Subnets"][0][
        "VpcId"
    ]
    arn = elbv2.create_target_group(
        Name=f"th-{uuid.uuid4().hex[:8]}",
        Protocol="HTTP",
        Port=80,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckIntervalSeconds=300,
        HealthCheckTimeoutSeconds=5,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}]
    )
    rule = elbv2.create_rule(
        ListenerArn=emulator.network["listener_arn"],
        Priority=4000,
        Conditions=[{"Field": "host-header", "Values": ["health.example"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": arn}],
    )["Rules"][0]["RuleArn"]
    register(
        ecs, family="web", image="nginx:1.27", container={"portMappings": [{"containerPort": 80, "protocol": "tcp"}]}
    )
    try:
        yield arn
    finally:
        if any(s["status"] == "ACTIVE" for s in ecs.describe_services(cluster="c", services=["web"])["services"]):
            ecs.delete_service(cluster="c", service="web", force=True)
            ecs.get_waiter("services_inactive").wait(cluster="c", services=["web"], WaiterConfig=FAST)
        elbv2.delete_rule(RuleArn=rule)
        elbv2.delete_target_group(TargetGroupArn=arn)


def _run(airflow, emulator, capfd, target_group: str, deferrable: bool):
    dag_id = airflow.write_dag(DAG.replace("DEFERRABLE", str(deferrable)))
    conf = {
        "subnets": emulator.network["private_subnets"],
        "groups": [emulator.network["security_group"]],
        "target_group": target_group,
    }
    return airflow.run(dag_id, capfd, run_conf=conf)


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferred"])
def test_stable_waits_until_every_target_is_healthy(airflow, emulator, ecs, capfd, target_group, deferrable):
    # Targets turn healthy one health-check interval after registration: at the fixture's 100x pace
    # 3 s, which a loaded machine can spend between the wait's round that sees the tasks RUNNING and
    # the next (creating its ELBv2 client reads ELBv2's model), so it never saw them `initial`. At 25x
    # the interval is 12 s.
    emulator.set_timing(speed=25)
    result = _run(airflow, emulator, capfd, target_group, deferrable)
    assert result.task_states == {"create": "success"}, result.log[-3000:]
    # when the wait ended, both tasks' targets answered the load balancer's health checks
    health = client(emulator, "elbv2").describe_target_health(TargetGroupArn=target_group)["TargetHealthDescriptions"]
    assert [t["TargetHealth"]["State"] for t in health] == ["healthy", "healthy"]
    # and it said what it waited for while ECS already counted them RUNNING
    assert "web: waiting for healthy targets: target group " in result.log
    assert "initial (Elb.InitialHealthChecking" in result.log or "initial (Elb.RegistrationInProgress" in result.log
    assert "[error" not in result.log


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferred"])
def test_a_task_failing_health_checks_fails_the_wait_at_once_with_the_reason(
    airflow, emulator, ecs, capfd, target_group, deferrable
):
    elbv2 = client(emulator, "elbv2")
    elbv2.modify_target_group(TargetGroupArn=target_group, HealthCheckIntervalSeconds=10)
    emulator.add_behaviour(family="web", unhealthy_targets=True)
    result = _run(airflow, emulator, capfd, target_group, deferrable)
    assert result.task_states == {"create": "failed"}
    assert "RolloutFailedError: service web: " in result.log
    # the first task ECS stopped for it fails the wait, not the third (max_failed_tasks)
    assert "failed the load balancer's health checks (reason Health checks failed). Stopped tasks: task " in result.log
    assert "Task failed ELB health checks in (target-group " in result.log
    # (Without this check the wait fails only once max_failed_tasks tasks have stopped, saying
    # "3 task(s) of deployment … stopped", or, the breaker off, succeeds while targets are unhealthy.)
