"""Services behind an Application Load Balancer: what CreateService checks in ``loadBalancers``,
how ECS registers its tasks in the target group and deregisters them, and how unhealthy targets
fail a deployment. Sources:
- Service load balancing (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb.html,
  service-load-balancing.html): tasks with the awsvpc network mode need target type ``ip``; ECS
  registers each task's private IP and the container port, and deregisters it when the task stops.
- ECS's refusals as users quote them (InvalidParameterException):
  "The target group with targetGroupArn <arn> does not have an associated load balancer."
  (umotif-public/terraform-aws-ecs-fargate#43, cloudposse/terraform-aws-ecs-web-app#226);
  "The provided target group <arn> has target type instance, which is incompatible with the awsvpc
  network mode specified in the task definition." (riboseinc/terraform-aws-ecs-gitlab#5,
  hashicorp/terraform-provider-aws#11723); "The container <name> does not exist in the task
  definition." (aws/amazon-ecs-agent#1276, boltops-tools/ufo#114); "The container <name> did not
  have a container port <port> defined." (pulumi/pulumi-awsx#1172); for a target group ECS cannot
  read: "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS
  service role being passed has the proper permissions." (aws/amazon-ecs-cli#21, Shippable/support#4698).
- Target health (ELB API_TargetHealth, application/check-target-health.html): ``healthy``;
  ``unhealthy`` with Target.FailedHealthChecks; a deregistered target drains, then is no longer listed.
- Service events: service-unhealthy-event-messages.html, Fargate: "(service s) (task t) (port p) is
  unhealthy in (target-group tg) due to (reason r)"; "registered 1 targets in (target-group …)" and
  "deregistered 1 targets in (target-group …)" (quoted in hackforla/CivicTechJobs#436); the stopped
  reason "Task failed ELB health checks in (target-group …)" (boltops-tools/ufo#171).
- deployment-circuit-breaker.html: tasks that fail Elastic Load Balancing health checks count as
  failed tasks of the deployment; healthCheckGracePeriodSeconds (API_CreateService): the scheduler
  ignores unhealthy ELB health checks for that long after a task has started.

The unhealthy-target tests make targets fail through the emulator's control endpoint, so they run
against the emulator only. Cost against AWS: one ALB for a few minutes and two Fargate tasks for a
minute or two (a few cents).
"""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.contract.conftest import AGAINST_AWS, CONTRACT_TAG, TIMEOUT
from tests.helpers.polling import wait_for

WAITER = {"Delay": 6, "MaxAttempts": 100} if AGAINST_AWS else {"Delay": 0.1, "MaxAttempts": 300}
IMAGE = "public.ecr.aws/nginx/nginx:stable-alpine"  # answers the ALB's health check on /
ELB_TAGS = [{"Key": CONTRACT_TAG["key"], "Value": CONTRACT_TAG["value"]}]


@pytest.fixture
def alb(aws, public_task_network):
    """An internet-facing ALB in the public subnets with: an ``ip`` target group (listener :80),
    an ``instance`` target group (listener :8080), an ``ip`` target group no load balancer uses.
    Everything is deleted afterwards, and nothing of it may be left in ELBv2."""
    elbv2, ec2 = aws("elbv2"), aws("ec2")
    subnets = public_task_network["awsvpcConfiguration"]["subnets"]
    vpc = ec2.describe_subnets(SubnetIds=subnets)["Subnets"][0]["VpcId"]
    prefix = f"ct-{uuid.uuid4().hex[:8]}"
    made: dict[str, str] = {}
    listeners: list[str] = []

    def target_group(name: str, target_type: str) -> str:
        arn = elbv2.create_target_group(
            Name=f"{prefix}-{name}",
            Protocol="HTTP",
            Port=80,
            VpcId=vpc,
            TargetType=target_type,
            HealthCheckPath="/",
            HealthCheckIntervalSeconds=5,
            HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=2,
            UnhealthyThresholdCount=2,
            Tags=ELB_TAGS,
        )["TargetGroups"][0]["TargetGroupArn"]
        # Short draining keeps stops quick (ECS waits for the deregistration delay, 300 s by default).
        elbv2.modify_target_group_attributes(
            TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}]
        )
        return arn

    try:
        made["load_balancer"] = elbv2.create_load_balancer(
            Name=prefix,
            Subnets=subnets,
            SecurityGroups=public_task_network["awsvpcConfiguration"]["securityGroups"],
            Scheme="internet-facing",
            Type="application",
            Tags=ELB_TAGS,
        )["LoadBalancers"][0]["LoadBalancerArn"]
        for name, target_type in (("ip", "ip"), ("instance", "instance"), ("unused", "ip")):
            made[name] = target_group(name, target_type)
        for port, name in ((80, "ip"), (8080, "instance")):
            listeners.append(
                elbv2.create_listener(
                    LoadBalancerArn=made["load_balancer"],
                    Protocol="HTTP",
                    Port=port,
                    DefaultActions=[{"Type": "forward", "TargetGroupArn": made[name]}],
                )["Listeners"][0]["ListenerArn"]
            )
        yield made
    finally:
        for arn in listeners:
            elbv2.delete_listener(ListenerArn=arn)
        if "load_balancer" in made:
            elbv2.delete_load_balancer(LoadBalancerArn=made["load_balancer"])
        for name in ("ip", "instance", "unused"):
            if name in made:
                # AWS refuses (ResourceInUse) until the load balancer is fully gone.
                wait_for(
                    f"target group {name} deleted",
                    lambda arn=made[name]: _deleted(elbv2, arn),
                    TIMEOUT,
                    1.0 if AGAINST_AWS else 0.05,
                )
        left = [
            lb["LoadBalancerName"]
            for lb in elbv2.describe_load_balancers()["LoadBalancers"]
            if lb["LoadBalancerName"].startswith(prefix)
        ]
        left += [
            tg["TargetGroupName"]
            for tg in elbv2.describe_target_groups()["TargetGroups"]
            if tg["TargetGroupName"].startswith(prefix)
        ]
        assert not left, f"left in ELBv2: {left}"


def _deleted(elbv2, arn: str) -> bool:
    try:
        elbv2.delete_target_group(TargetGroupArn=arn)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceInUse":
            return False
        raise
    return True


@pytest.fixture
def web(aws):
    """A Fargate task definition with container ``web`` mapping port 80; deregistered afterwards."""
    ecs = aws("ecs")
    family = f"contract-web-{uuid.uuid4().hex[:8]}"
    arn = ecs.register_task_definition(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "web",
                "image": IMAGE,
                "essential": True,
                "portMappings": [{"containerPort": 80, "protocol": "tcp"}],
            }
        ],
        tags=[CONTRACT_TAG],
    )["taskDefinition"]["taskDefinitionArn"]
    yield arn
    ecs.deregister_task_definition(taskDefinition=arn)


def _service(ecs, cluster: str, name: str, task_definition: str, network, load_balancers, **extra):
    return ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=task_definition,
        desiredCount=extra.pop("desiredCount", 1),
        launchType="FARGATE",
        networkConfiguration=network,
        loadBalancers=load_balancers,
        tags=[CONTRACT_TAG],
        **extra,
    )["service"]


def _delete_services(ecs, cluster: str, names: list[str]) -> None:
    live = [
        s["serviceArn"]
        for s in ecs.describe_services(cluster=cluster, services=names)["services"]
        if s["status"] == "ACTIVE"
    ]
    for arn in live:
        ecs.delete_service(cluster=cluster, service=arn, force=True)
    if live:
        ecs.get_waiter("services_inactive").wait(cluster=cluster, services=live, WaiterConfig=WAITER)


def _target_health(elbv2, target_group: str) -> dict[tuple[str, int], dict]:
    found = elbv2.describe_target_health(TargetGroupArn=target_group)["TargetHealthDescriptions"]
    return {(t["Target"]["Id"], t["Target"]["Port"]): t["TargetHealth"] for t in found}


def _task_ips(ecs, cluster: str, service: str) -> set[str]:
    arns = ecs.list_tasks(cluster=cluster, serviceName=service)["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    return {
        d["value"]
        for t in tasks
        if t["lastStatus"] == "RUNNING"
        for a in t["attachments"]
        for d in a["details"]
        if d["name"] == "privateIPv4Address"
    }


def _events(ecs, cluster: str, service: str) -> list[str]:
    return [e["message"] for e in ecs.describe_services(cluster=cluster, services=[service])["services"][0]["events"]]


# ------------------------------------------------------------------ CreateService's checks


def test_create_service_checks_its_load_balancers_as_ecs_does(aws, cluster, task_network, alb, web):
    ecs = aws("ecs")
    missing = alb["ip"].rsplit("/", 1)[0] + "/" + "0" * 16
    refused = {
        "a target group ECS cannot find": (
            [{"targetGroupArn": missing, "containerName": "web", "containerPort": 80}],
            (
                "Unable to assume role and validate the specified targetGroupArn. "
                "Please verify that the ECS service role being passed has the proper permissions."
            ),
        ),
        "a target group no load balancer uses": (
            [{"targetGroupArn": alb["unused"], "containerName": "web", "containerPort": 80}],
            f"The target group with targetGroupArn {alb['unused']} does not have an associated load balancer.",
        ),
        "an instance target group for awsvpc tasks": (
            [{"targetGroupArn": alb["instance"], "containerName": "web", "containerPort": 80}],
            (
                f"The provided target group {alb['instance']} has target type instance, which is incompatible with the "
                "awsvpc network mode specified in the task definition."
            ),
        ),
        "a container not in the task definition": (
            [{"targetGroupArn": alb["ip"], "containerName": "nginx", "containerPort": 80}],
            "The container nginx does not exist in the task definition.",
        ),
        "a container port the container does not map": (
            [{"targetGroupArn": alb["ip"], "containerName": "web", "containerPort": 8080}],
            "The container web did not have a container port 8080 defined.",
        ),
    }
    for case, (load_balancers, message) in refused.items():
        with pytest.raises(ClientError) as error:
            _service(ecs, cluster, "refused", web, task_network, load_balancers)
        got = error.value.response["Error"]
        assert (got["Code"], got["Message"]) == ("InvalidParameterException", message), case
    # Nothing was created by the refused calls.
    assert ecs.list_services(cluster=cluster)["serviceArns"] == []


# ------------------------------------------------------------------ registration and health


def test_service_tasks_are_registered_healthy_and_deregistered(aws, cluster, task_network, alb, web):
    ecs, elbv2 = aws("ecs"), aws("elbv2")
    name = "behind-alb"
    _service(
        ecs,
        cluster,
        name,
        web,
        task_network,
        [{"targetGroupArn": alb["ip"], "containerName": "web", "containerPort": 80}],
        desiredCount=2,
    )
    try:
        # Steady state needs the targets healthy, so once stable both tasks are in service.
        ecs.get_waiter("services_stable").wait(cluster=cluster, services=[name], WaiterConfig=WAITER)
        ips = _task_ips(ecs, cluster, name)
        assert len(ips) == 2
        health = _target_health(elbv2, alb["ip"])
        assert set(health) == {(ip, 80) for ip in ips}
        assert {h["State"] for h in health.values()} == {"healthy"}
        events = _events(ecs, cluster, name)
        assert f"(service {name}) registered 1 targets in (target-group {alb['ip']})" in events or any(
            e.startswith(f"(service {name}) registered 2 targets in (target-group {alb['ip']})") for e in events
        )
        service = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
        assert service["loadBalancers"] == [{"targetGroupArn": alb["ip"], "containerName": "web", "containerPort": 80}]

        ecs.update_service(cluster=cluster, service=name, desiredCount=0)
        # Deregistered: draining for the deregistration delay, then no longer listed.
        wait_for(
            "the targets deregistered",
            lambda: not _target_health(elbv2, alb["ip"]),
            TIMEOUT,
            1.0 if AGAINST_AWS else 0.05,
        )
        ecs.get_waiter("services_stable").wait(cluster=cluster, services=[name], WaiterConfig=WAITER)
        assert any(
            e.startswith(f"(service {name}) deregistered") and alb["ip"] in e for e in _events(ecs, cluster, name)
        )
    finally:
        _delete_services(ecs, cluster, [name])


# ------------------------------------------------------------------ unhealthy targets (emulator only)


def _make_targets_unhealthy(emulator, family: str) -> None:
    """The emulator's control endpoint: the health checks of this family's tasks fail."""
    request = urllib.request.Request(
        f"{emulator.endpoint}/_fargate_local/behaviours",
        method="POST",
        data=json.dumps({"family": family, "unhealthy_targets": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).read()


@pytest.mark.skipif(AGAINST_AWS, reason="makes health checks fail through the emulator's control endpoint")
def test_unhealthy_targets_trip_the_circuit_breaker(request, aws, cluster, task_network, alb, web):
    ecs, elbv2 = aws("ecs"), aws("elbv2")
    _make_targets_unhealthy(request.getfixturevalue("emulator"), web.rsplit("/", 1)[1].split(":")[0])
    name = "failing-health-checks"
    _service(
        ecs,
        cluster,
        name,
        web,
        task_network,
        [{"targetGroupArn": alb["ip"], "containerName": "web", "containerPort": 80}],
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
    )
    try:

        def failed():
            deployment = ecs.describe_services(cluster=cluster, services=[name])["services"][0]["deployments"][0]
            return deployment if deployment["rolloutState"] == "FAILED" else None

        deployment = wait_for("the deployment to fail", failed, TIMEOUT)
        assert deployment["failedTasks"] >= 3  # the circuit breaker's threshold for 1 task: at least 3
        events = _events(ecs, cluster, name)
        unhealthy = [e for e in events if " is unhealthy in " in e]
        assert unhealthy and all(
            e.startswith(f"(service {name}) (task ")
            and e.endswith(
                f"(port 80) is unhealthy in (target-group {alb['ip']}) due to (reason Health checks failed)."
            )
            for e in unhealthy
        )
        stopped = ecs.list_tasks(cluster=cluster, serviceName=name, desiredStatus="STOPPED")["taskArns"]
        reasons = {t["stoppedReason"] for t in ecs.describe_tasks(cluster=cluster, tasks=stopped)["tasks"]}
        assert reasons == {f"Task failed ELB health checks in (target-group {alb['ip']})"}
        # ELB reported them as it does a target whose health checks fail.
        assert any(e.startswith(f"(service {name}) registered 1 targets") for e in events)
    finally:
        _delete_services(ecs, cluster, [name])
    assert not _target_health(elbv2, alb["ip"]) or wait_for(
        "the targets deregistered", lambda: not _target_health(elbv2, alb["ip"]), TIMEOUT
    )


@pytest.mark.skipif(AGAINST_AWS, reason="makes health checks fail through the emulator's control endpoint")
def test_unhealthy_targets_are_replaced_after_the_grace_period(request, aws, cluster, task_network, alb, web):
    """Without circuit breaker ECS keeps replacing tasks that fail health checks; during the
    health check grace period it leaves them running though ELB reports them unhealthy."""
    ecs, elbv2 = aws("ecs"), aws("elbv2")
    _make_targets_unhealthy(request.getfixturevalue("emulator"), web.rsplit("/", 1)[1].split(":")[0])
    target = [{"targetGroupArn": alb["ip"], "containerName": "web", "containerPort": 80}]
    _service(ecs, cluster, "no-grace", web, task_network, target)
    _service(ecs, cluster, "long-grace", web, task_network, target, healthCheckGracePeriodSeconds=3600)
    try:

        def replaced_twice():
            deployment = ecs.describe_services(cluster=cluster, services=["no-grace"])["services"][0]["deployments"][0]
            return deployment["failedTasks"] >= 2

        wait_for("no-grace's tasks to be replaced twice", replaced_twice, TIMEOUT)
        no_grace = ecs.describe_services(cluster=cluster, services=["no-grace"])["services"][0]
        assert no_grace["deployments"][0]["rolloutState"] == "IN_PROGRESS"  # never steady, still trying
        assert no_grace["desiredCount"] == 1
        assert ecs.list_tasks(cluster=cluster, serviceName="no-grace")["taskArns"], "the scheduler keeps starting tasks"

        long_grace = ecs.describe_services(cluster=cluster, services=["long-grace"])["services"][0]
        ips = _task_ips(ecs, cluster, "long-grace")
        assert len(ips) == 1 and long_grace["deployments"][0]["failedTasks"] == 0
        (ip,) = ips
        assert _target_health(elbv2, alb["ip"])[(ip, 80)]["State"] == "unhealthy"
        assert _target_health(elbv2, alb["ip"])[(ip, 80)]["Reason"] == "Target.FailedHealthChecks"
        assert long_grace["deployments"][0]["rolloutState"] == "IN_PROGRESS"  # unhealthy targets: not steady
    finally:
        _delete_services(ecs, cluster, ["no-grace", "long-grace"])
