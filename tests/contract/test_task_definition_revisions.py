"""A task definition family named without a revision means its latest ACTIVE revision, and a
deregistered revision says when it was deregistered. Sources
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/):
- API_DescribeTaskDefinition (https://docs.aws.amazon.com/goto/WebAPI/ecs/DescribeTaskDefinition):
  "You can specify a family and revision to find information about a specific task definition, or
  you can simply specify the family to find the latest ACTIVE revision in that family."; the
  ``taskDefinition`` member: "The family for the latest ACTIVE revision, family and revision
  (family:revision) for a specific revision in the family, or full Amazon Resource Name (ARN) of
  the task definition to describe."
- API_RunTask / API_CreateService / API_UpdateService, ``taskDefinition``: "If a revision isn't
  specified, the latest ACTIVE revision is used."
- API_TaskDefinition, ``deregisteredAt``: "The Unix timestamp for the time when the task definition
  was deregistered." (``registeredAt``: "... when the task definition was registered.")
- API_DeregisterTaskDefinition: "Upon deregistration, the task definition is marked as INACTIVE."

Found with a third-party ECS deployment CLI: it resolves a family with DescribeTaskDefinition and
got the newest revision although it was INACTIVE.
"""

from __future__ import annotations

import datetime as dt

from tests.contract.conftest import CONTRACT_TAG, register_sleeper
from tests.helpers.polling import wait_for

FAST = {"Delay": 0.1, "MaxAttempts": 300}


def test_a_family_without_revision_describes_the_latest_active_revision(aws, cluster):
    ecs = aws("ecs")
    family = f"{cluster}-latest"
    first, second = register_sleeper(ecs, family), register_sleeper(ecs, family)
    try:
        assert ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]["revision"] == second["revision"]
        ecs.deregister_task_definition(taskDefinition=second["taskDefinitionArn"])
        described = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        assert (described["taskDefinitionArn"], described["status"]) == (first["taskDefinitionArn"], "ACTIVE")
        # the INACTIVE revision itself is still found by family:revision
        named = ecs.describe_task_definition(taskDefinition=f"{family}:{second['revision']}")["taskDefinition"]
        assert named["status"] == "INACTIVE"
    finally:
        for definition in (first, second):
            ecs.deregister_task_definition(taskDefinition=definition["taskDefinitionArn"])


def test_run_task_and_services_given_a_family_use_its_latest_active_revision(aws, cluster, task_network):
    ecs = aws("ecs")
    family = f"{cluster}-use"
    first, second = register_sleeper(ecs, family), register_sleeper(ecs, family)
    ecs.deregister_task_definition(taskDefinition=second["taskDefinitionArn"])
    task_arn = None
    try:
        [task] = ecs.run_task(
            cluster=cluster,
            taskDefinition=family,
            launchType="FARGATE",
            networkConfiguration=task_network,
            tags=[CONTRACT_TAG],
        )["tasks"]
        task_arn = task["taskArn"]
        assert task["taskDefinitionArn"] == first["taskDefinitionArn"]
        created = ecs.create_service(
            cluster=cluster,
            serviceName="by-family",
            taskDefinition=family,
            desiredCount=0,
            launchType="FARGATE",
            networkConfiguration=task_network,
            tags=[CONTRACT_TAG],
        )["service"]
        assert created["taskDefinition"] == first["taskDefinitionArn"]
        updated = ecs.update_service(cluster=cluster, service="by-family", taskDefinition=family)["service"]
        assert updated["taskDefinition"] == first["taskDefinitionArn"]
    finally:
        if task_arn:
            ecs.stop_task(cluster=cluster, task=task_arn)
            ecs.get_waiter("tasks_stopped").wait(cluster=cluster, tasks=[task_arn], WaiterConfig=FAST)
        try:
            ecs.delete_service(cluster=cluster, service="by-family", force=True)
            ecs.get_waiter("services_inactive").wait(cluster=cluster, services=["by-family"], WaiterConfig=FAST)
        except ecs.exceptions.ClientError:
            pass
        ecs.deregister_task_definition(taskDefinition=first["taskDefinitionArn"])


def test_a_deregistered_task_definition_has_deregistered_at(aws, cluster):
    ecs = aws("ecs")
    registered = register_sleeper(ecs, f"{cluster}-gone")
    assert "deregisteredAt" not in registered
    before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    answered = ecs.deregister_task_definition(taskDefinition=registered["taskDefinitionArn"])["taskDefinition"]
    assert answered["status"] == "INACTIVE"
    assert before <= answered["deregisteredAt"] <= dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    assert answered["deregisteredAt"] >= answered["registeredAt"]

    def described():
        found = ecs.describe_task_definition(taskDefinition=registered["taskDefinitionArn"])["taskDefinition"]
        return found if found["status"] == "INACTIVE" else None

    assert wait_for("the revision to be INACTIVE", described, 60)["deregisteredAt"] == answered["deregisteredAt"]
