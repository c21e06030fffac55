"""A rollout the deployment circuit breaker fails, with rollback off, leaves the service as it was:
the previous deployment's tasks keep running; only the failed deployment stops launching tasks.
Sources:
- API_DeploymentCircuitBreaker
  (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentCircuitBreaker.html):
  "The deployment circuit breaker determines whether a service deployment will fail if the service
  can't reach a steady state. If it is turned on, a service deployment will transition to a failed
  state and stop launching new tasks. You can also configure Amazon ECS to roll back your service
  to the last completed deployment after a failure."; ``rollback``: "If rollback is on, when a
  service deployment fails, the service is rolled back to the last deployment that completed
  successfully." Nothing stops the tasks of the deployment being replaced: a rolling update stops
  old tasks only as new ones become healthy (developer guide, deployment-type-ecs.html), and no new
  one ever does here.
- ECS's words for the failure (as in test_deployments.py): rolloutStateReason "ECS deployment
  circuit breaker: tasks failed to start." (aws/containers-roadmap#1488).

Found with a third-party ECS deployment CLI: a bad image with the breaker on and rollback off left
the emulated service with 0 running tasks, where ECS keeps the old ones serving.
A task that cannot start is an image tag that does not exist (on the emulator a behaviour rule
fails its pull the same way). Against AWS this takes minutes and starts a few Fargate tasks.
"""

from __future__ import annotations

import json
import urllib.request
import uuid

from tests.contract.conftest import AGAINST_AWS, CONTRACT_TAG, SLEEPER_IMAGE, register_sleeper
from tests.helpers.polling import wait_for

FAST = {"Delay": 0.1, "MaxAttempts": 300}
TIMEOUT = 1800 if AGAINST_AWS else 30


def _register(ecs, family: str, image: str) -> str:
    return register_sleeper(ecs, family, image)["taskDefinitionArn"]


def _unpullable_image(request) -> str:
    image = f"public.ecr.aws/docker/library/busybox:contract-missing-{uuid.uuid4().hex[:8]}"
    if not AGAINST_AWS:
        endpoint = request.getfixturevalue("emulator").endpoint
        call = urllib.request.Request(
            f"{endpoint}/_fargate_local/behaviours",
            data=json.dumps({"image": image, "pull_failure": True}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(call, timeout=10).read()
    return image


def test_a_failed_rollout_without_rollback_keeps_the_old_tasks_running(request, aws, cluster, task_network):
    ecs = aws("ecs")
    good = _register(ecs, f"{cluster}-web", SLEEPER_IMAGE)
    bad = _register(ecs, f"{cluster}-web", _unpullable_image(request))
    created = False
    try:
        ecs.create_service(
            cluster=cluster,
            serviceName="web",
            taskDefinition=good,
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration=task_network,
            deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
            tags=[CONTRACT_TAG],
        )
        created = True

        def service():
            return ecs.describe_services(cluster=cluster, services=["web"])["services"][0]

        def completed():
            primary = service()["deployments"][0]
            return primary if primary["rolloutState"] == "COMPLETED" and primary["runningCount"] == 2 else None

        old_id = wait_for("the first rollout to complete", completed, TIMEOUT)["id"]
        old_tasks = set(ecs.list_tasks(cluster=cluster, serviceName="web")["taskArns"])
        assert len(old_tasks) == 2
        failing_id = ecs.update_service(cluster=cluster, service="web", taskDefinition=bad)["service"]["deployments"][
            0
        ]["id"]

        def failed():
            described = service()
            return described if described["deployments"][0]["rolloutState"] == "FAILED" else None

        described = wait_for("the circuit breaker to fail the rollout", failed, TIMEOUT)
        primary = described["deployments"][0]
        assert (primary["id"], primary["taskDefinition"]) == (failing_id, bad)
        assert primary["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
        # No rollback: the old deployment is still there, with its tasks running.
        [old] = [d for d in described["deployments"] if d["id"] == old_id]
        assert (old["status"], old["taskDefinition"], old["runningCount"]) == ("ACTIVE", good, 2)
        assert described["runningCount"] == 2
        # (the failed deployment's last launches may still be on their way to failing)
        running = ecs.list_tasks(cluster=cluster, serviceName="web", desiredStatus="RUNNING")["taskArns"]
        assert old_tasks <= set(running)
        tasks = ecs.describe_tasks(cluster=cluster, tasks=sorted(old_tasks))["tasks"]
        assert {(t["lastStatus"], t["desiredStatus"]) for t in tasks} == {("RUNNING", "RUNNING")}
        assert not any("rolling back" in e["message"] for e in described["events"])
    finally:
        if created:
            ecs.delete_service(cluster=cluster, service="web", force=True)
            ecs.get_waiter("services_inactive").wait(
                cluster=cluster, services=["web"], WaiterConfig=FAST if not AGAINST_AWS else {}
            )
        for arn in (good, bad):
            ecs.deregister_task_definition(taskDefinition=arn)
