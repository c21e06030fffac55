"""A service's deployment history, as ECS keeps it. Sources:
- API reference (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/):
  API_ListServiceDeployments: "If this parameter isn't used, then ListServiceDeployments returns up
  to 20 results and a nextToken value if applicable"; maxResults "can be between 1 and 100";
  errors ServiceNotFoundException and ClusterNotFoundException.
  API_DescribeServiceDeployments / API_DescribeServiceRevisions: "You can specify a maximum of 20
  ARNs"; what is not found comes back in ``failures`` with "the reason set to MISSING".
  API_ServiceDeployment: createdAt, startedAt, finishedAt, stoppedAt, status, statusReason,
  sourceServiceRevisions and targetServiceRevision {arn, requestedTaskCount, runningTaskCount,
  pendingTaskCount}, rollback {reason, startedAt, serviceRevisionArn}, deploymentCircuitBreaker
  {status, failureCount, threshold}.
- Developer guide, "View service history using Amazon ECS service deployments"
  (service-deployment.html): a deployment is created when "A user creates a service" or "updates
  one or more service properties that require a deployment"; "A service deployment starts in
  PENDING state"; SUCCESSFUL "when the service deployment successfully completes"; STOP_REQUESTED
  then STOPPED when "The rollback option is not in use for the failure detection mechanism ... and
  the service does not reach the SUCCESSFUL state"; ROLLBACK_IN_PROGRESS "when the rollback option
  is in use ... and the service fails", then ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED; "Amazon ECS
  deletes the service deployment when you delete a service".
- Developer guide, "Amazon ECS service revisions" (service-revision.html): a revision is created
  "when you create a service, or update a service property that starts a deployment"; "Amazon ECS
  doesn't create a new service revision for a rollback operation"; "Amazon ECS deletes the service
  revision when you delete a service".
- ARN forms from the AWS CLI's examples (describe-service-deployments, describe-service-revisions):
  ``arn:aws:ecs:us-east-1:123456789012:service-deployment/example-cluster/example-service/ejGvqq2ilnbKT9qj0vLJe``
  and ``…:service-revision/example-cluster/example-service/1485800978477494678``.
Against AWS a run starts two or three Fargate tasks for a few minutes: well under a cent.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.contract.conftest import AGAINST_AWS, CONTRACT_TAG, TIMEOUT
from tests.contract.test_deployments import _control
from tests.helpers.polling import wait_for

FAST = {"Delay": 0.1, "MaxAttempts": 300} if not AGAINST_AWS else {}
IMAGE = "public.ecr.aws/docker/library/busybox:1.36"
ROLLOUT_TIMEOUT = 1800 if AGAINST_AWS else 30


@pytest.fixture
def services(aws, cluster, task_network):
    """register(family, image) and create(name, task_definition, desired, breaker); every service is
    deleted and every task definition deregistered afterwards."""
    ecs = aws("ecs")
    registered: list[str] = []
    created: list[str] = []

    def register(family: str, image: str = IMAGE, cpu: str = "256", memory: str = "512") -> str:
        arn = ecs.register_task_definition(
            family=f"{cluster}-{family}",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu=cpu,
            memory=memory,
            containerDefinitions=[{"name": "app", "image": image, "essential": True, "command": ["sleep", "3600"]}],
            tags=[CONTRACT_TAG],
        )["taskDefinition"]["taskDefinitionArn"]
        registered.append(arn)
        return arn

    def create(name: str, task_definition: str, desired: int = 1, breaker: dict | None = None) -> dict:
        config = {"deploymentCircuitBreaker": breaker} if breaker else {}
        service = ecs.create_service(
            cluster=cluster,
            serviceName=name,
            taskDefinition=task_definition,
            desiredCount=desired,
            launchType="FARGATE",
            networkConfiguration=task_network,
            deploymentConfiguration=config,
            tags=[CONTRACT_TAG],
        )["service"]
        created.append(name)
        return service

    yield register, create
    live = (
        [
            s["serviceName"]
            for s in ecs.describe_services(cluster=cluster, services=created)["services"]
            if s["status"] == "ACTIVE"
        ]
        if created
        else []
    )
    for name in live:
        ecs.delete_service(cluster=cluster, service=name, force=True)
    if created:
        ecs.get_waiter("services_inactive").wait(cluster=cluster, services=created, WaiterConfig=FAST)
    for arn in registered:
        ecs.deregister_task_definition(taskDefinition=arn)


@pytest.fixture
def unpullable_image(request):
    """An image tag that does not exist: its tasks stop with TaskFailedToStart, never RUNNING."""
    image = f"public.ecr.aws/docker/library/busybox:contract-missing-{uuid.uuid4().hex[:8]}"
    if not AGAINST_AWS:
        _control(request, "behaviours", {"image": image, "pull_failure": True})
    return image


def _listed(ecs, cluster: str, service: str, **filters) -> list[dict]:
    return ecs.list_service_deployments(cluster=cluster, service=service, **filters)["serviceDeployments"]


def _described(ecs, arn: str) -> dict:
    [deployment] = ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
    return deployment


def _newest_in(ecs, cluster: str, service: str, statuses: set[str]):
    def check():
        listed = _listed(ecs, cluster, service)
        return listed[0] if listed and listed[0]["status"] in statuses else None

    return check


def _refused(call) -> dict:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response


def test_create_update_delete_is_the_services_history(aws, cluster, services):
    register, create = services
    ecs = aws("ecs")
    first_definition, second_definition = register("web"), register("web", cpu="512", memory="1024")
    service_arn = create("web", first_definition)["serviceArn"]
    cluster_arn = ecs.describe_clusters(clusters=[cluster])["clusters"][0]["clusterArn"]

    # CreateService: one service deployment, PENDING at first, SUCCESSFUL once the rollout completes.
    [created] = _listed(ecs, cluster, "web")
    assert created["status"] in ("PENDING", "IN_PROGRESS", "SUCCESSFUL")
    first = wait_for(
        "the first deployment to succeed", _newest_in(ecs, cluster, "web", {"SUCCESSFUL"}), ROLLOUT_TIMEOUT
    )
    partition_region_account = service_arn.split(":service/")[0]
    assert re.fullmatch(
        rf"{partition_region_account}:service-deployment/{cluster}/web/[A-Za-z0-9]+", first["serviceDeploymentArn"]
    )
    assert re.fullmatch(
        rf"{partition_region_account}:service-revision/{cluster}/web/[0-9]+", first["targetServiceRevisionArn"]
    )
    assert (first["serviceArn"], first["clusterArn"]) == (service_arn, cluster_arn)
    assert first["createdAt"] <= first["startedAt"] <= first["finishedAt"]

    described = _described(ecs, first["serviceDeploymentArn"])
    assert described["sourceServiceRevisions"] == []
    assert described["targetServiceRevision"] == {
        "arn": first["targetServiceRevisionArn"],
        "requestedTaskCount": 1,
        "runningTaskCount": 1,
        "pendingTaskCount": 0,
    }
    [revision] = ecs.describe_service_revisions(serviceRevisionArns=[first["targetServiceRevisionArn"]])[
        "serviceRevisions"
    ]
    assert (revision["taskDefinition"], revision["launchType"], revision["serviceArn"]) == (
        first_definition,
        "FARGATE",
        service_arn,
    )
    assert revision["containerImages"][0]["image"] == IMAGE

    # UpdateService with another task definition: a second deployment from the first revision.
    ecs.update_service(cluster=cluster, service="web", taskDefinition=second_definition)
    second = wait_for(
        "the second deployment to succeed", _newest_in(ecs, cluster, "web", {"SUCCESSFUL"}), ROLLOUT_TIMEOUT
    )
    assert second["serviceDeploymentArn"] != first["serviceDeploymentArn"]
    described = _described(ecs, second["serviceDeploymentArn"])
    assert [s["arn"] for s in described["sourceServiceRevisions"]] == [first["targetServiceRevisionArn"]]
    assert described["targetServiceRevision"]["requestedTaskCount"] == 1
    [revision] = ecs.describe_service_revisions(serviceRevisionArns=[second["targetServiceRevisionArn"]])[
        "serviceRevisions"
    ]
    assert revision["taskDefinition"] == second_definition
    # The first, finished before, stays as it finished.
    assert _described(ecs, first["serviceDeploymentArn"])["status"] == "SUCCESSFUL"

    # Newest first, one page of 20 by default; maxResults pages; filters narrow.
    listed = _listed(ecs, cluster, "web")
    assert [d["serviceDeploymentArn"] for d in listed] == [
        second["serviceDeploymentArn"],
        first["serviceDeploymentArn"],
    ]
    page = ecs.list_service_deployments(cluster=cluster, service="web", maxResults=1)
    assert [d["serviceDeploymentArn"] for d in page["serviceDeployments"]] == [second["serviceDeploymentArn"]]
    rest = ecs.list_service_deployments(cluster=cluster, service="web", maxResults=1, nextToken=page["nextToken"])
    assert [d["serviceDeploymentArn"] for d in rest["serviceDeployments"]] == [first["serviceDeploymentArn"]]
    assert not rest.get("nextToken")
    assert _listed(ecs, cluster, service_arn, status=["STOPPED", "ROLLBACK_FAILED"]) == []
    assert _listed(ecs, cluster, "web", createdAt={"after": dt.datetime(2024, 10, 25, tzinfo=dt.UTC)}) == listed
    assert _listed(ecs, cluster, "web", createdAt={"before": dt.datetime(2024, 10, 25, tzinfo=dt.UTC)}) == []
    for size in (0, 101):
        response = _refused(
            lambda size=size: ecs.list_service_deployments(cluster=cluster, service="web", maxResults=size)
        )
        assert response["Error"]["Code"] == "InvalidParameterException"

    # What ECS does not know is a failure, not an error; more than 20 ARNs is an error.
    made_up = f"{partition_region_account}:service-deployment/{cluster}/web/{uuid.uuid4().hex[:21]}"
    answer = ecs.describe_service_deployments(serviceDeploymentArns=[first["serviceDeploymentArn"], made_up])
    assert [d["serviceDeploymentArn"] for d in answer["serviceDeployments"]] == [first["serviceDeploymentArn"]]
    assert answer["failures"] == [{"arn": made_up, "reason": "MISSING"}]
    response = _refused(lambda: ecs.describe_service_deployments(serviceDeploymentArns=[made_up] * 21))
    assert response["Error"]["Code"] == "InvalidParameterException"

    # DeleteService: the history goes with the service.
    ecs.delete_service(cluster=cluster, service="web", force=True)
    ecs.get_waiter("services_inactive").wait(cluster=cluster, services=["web"], WaiterConfig=FAST)
    wait_for("the deleted service's history to go", lambda: _listed(ecs, cluster, "web") == [], TIMEOUT)
    arns = [first["serviceDeploymentArn"], second["serviceDeploymentArn"]]
    answer = ecs.describe_service_deployments(serviceDeploymentArns=arns)
    assert answer["serviceDeployments"] == [] and {f["arn"] for f in answer["failures"]} == set(arns)
    revisions = [first["targetServiceRevisionArn"], second["targetServiceRevisionArn"]]
    answer = ecs.describe_service_revisions(serviceRevisionArns=revisions)
    assert answer["serviceRevisions"] == [] and {(f["arn"], f["reason"]) for f in answer["failures"]} == {
        (a, "MISSING") for a in revisions
    }


def test_an_unknown_service_or_cluster_is_refused_in_ecs_words(aws, cluster):
    ecs = aws("ecs")
    response = _refused(lambda: ecs.list_service_deployments(cluster=cluster, service="never-created"))
    assert (response["Error"]["Code"], response["Error"]["Message"]) == (
        "ServiceNotFoundException",
        "Service not found.",
    )
    response = _refused(lambda: ecs.list_service_deployments(cluster=f"{cluster}-never-created", service="web"))
    assert (response["Error"]["Code"], response["Error"]["Message"]) == (
        "ClusterNotFoundException",
        "Cluster not found.",
    )


def test_a_rollback_is_recorded_on_the_failed_deployment_not_as_a_new_one(aws, cluster, services, unpullable_image):
    register, create = services
    ecs = aws("ecs")
    create("web", register("web"), breaker={"enable": True, "rollback": True})
    good = wait_for("the first deployment to succeed", _newest_in(ecs, cluster, "web", {"SUCCESSFUL"}), ROLLOUT_TIMEOUT)
    ecs.update_service(cluster=cluster, service="web", taskDefinition=register("web", unpullable_image))

    failed = wait_for(
        "the rollback to succeed", _newest_in(ecs, cluster, "web", {"ROLLBACK_SUCCESSFUL"}), ROLLOUT_TIMEOUT
    )
    assert len(_listed(ecs, cluster, "web")) == 2  # no deployment of its own for the rollback
    described = _described(ecs, failed["serviceDeploymentArn"])
    assert described["rollback"]["serviceRevisionArn"] == good["targetServiceRevisionArn"]
    assert described["startedAt"] <= described["rollback"]["startedAt"] <= described["finishedAt"]
    assert described["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert described["deploymentCircuitBreaker"]["failureCount"] >= 1
    assert [s["arn"] for s in described["sourceServiceRevisions"]] == [good["targetServiceRevisionArn"]]


def test_a_breaker_without_rollback_stops_the_deployment(aws, cluster, services, unpullable_image):
    register, create = services
    ecs = aws("ecs")
    create(
        "web",
        register("broken", unpullable_image),
        breaker={"enable": True, "rollback": False, "thresholdConfiguration": {"type": "COUNT", "value": 1}},
    )
    stopped = wait_for("the deployment to stop", _newest_in(ecs, cluster, "web", {"STOPPED"}), ROLLOUT_TIMEOUT)
    described = _described(ecs, stopped["serviceDeploymentArn"])
    assert described["stoppedAt"] >= described["startedAt"]
    breaker = described["deploymentCircuitBreaker"]
    assert (breaker["status"], breaker["threshold"]) == ("TRIGGERED", 1) and breaker["failureCount"] >= 1
    assert described["statusReason"]
