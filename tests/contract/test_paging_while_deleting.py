"""Deleting what a page listed does not make the next page skip anything: ECS's ``nextToken`` says
where the listing goes on, not how many items to skip. The loop every cleanup tool runs ("list a
page, delete each item on it, go on with nextToken") must leave nothing behind. Sources
(https://docs.aws.amazon.com/AmazonECS/latest/APIReference/):
- API_ListServices, ``nextToken``: "The nextToken value returned from a ListServices request
  indicating that more results are available to fulfill the request and further calls will be
  needed." (the same wording for ListTasks, ListTaskDefinitions, ListTaskDefinitionFamilies,
  ListClusters): the token continues the listing, it is no offset the caller could compute.
- API_DeleteService (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteService.html):
  "When you delete a service, if there are still running tasks that require cleanup, the service
  status moves from ACTIVE to DRAINING, and the service is no longer visible in the console or in
  the ListServices API operation. After all tasks have transitioned to either STOPPING or STOPPED
  status, the service status moves from DRAINING to INACTIVE. Services in the DRAINING or INACTIVE
  status can still be viewed with the DescribeServices API operation."
- API_DeregisterTaskDefinition: "Upon deregistration, the task definition is marked as INACTIVE."
  (ListTaskDefinitions lists ACTIVE ones by default.)
- API_StopTask: a stopped task's desiredStatus is STOPPED (ListTasks lists RUNNING by default).

Found with a third-party ECS deployment CLI: its "delete every service" loop (ListServices with a
small maxResults, DeleteService for each one) left 2 of 12 services ACTIVE on the emulator, whose
tokens were positions.
"""

from __future__ import annotations

import uuid

from botocore.exceptions import ClientError

from tests.contract.conftest import CONTRACT_TAG, TIMEOUT, register_sleeper
from tests.helpers.polling import wait_for

FAST = {"Delay": 0.1, "MaxAttempts": 300}


def _register(ecs, family: str) -> str:
    return register_sleeper(ecs, family)["taskDefinitionArn"]


def _delete_while_paging(list_page, delete_each) -> int:
    """The cleanup loop: list a page, delete what it holds, go on with its nextToken. Returns the
    number of pages read."""
    token, pages = None, 0
    while True:
        answer = list_page(token)
        pages += 1
        delete_each(answer)
        token = answer.get("nextToken")
        if not token:
            return pages


def test_deleting_each_page_of_services_leaves_none(aws, cluster, task_network):
    ecs = aws("ecs")
    arn = _register(ecs, f"{cluster}-paged")
    names = [f"svc-{i:02d}" for i in range(12)]
    try:
        for name in names:
            ecs.create_service(
                cluster=cluster,
                serviceName=name,
                taskDefinition=arn,
                desiredCount=0,
                launchType="FARGATE",
                networkConfiguration=task_network,
                tags=[CONTRACT_TAG],
            )

        def list_page(token):
            return ecs.list_services(cluster=cluster, maxResults=5, **({"nextToken": token} if token else {}))

        def delete_each(answer):
            for service in answer["serviceArns"]:
                ecs.delete_service(cluster=cluster, service=service)

        _delete_while_paging(list_page, delete_each)
        described = [
            s for i in (0, 10) for s in ecs.describe_services(cluster=cluster, services=names[i : i + 10])["services"]
        ]
        left = sorted(s["serviceName"] for s in described if s["status"] == "ACTIVE")
        assert left == [], f"{len(left)} of 12 services left ACTIVE: {left}"
        assert ecs.list_services(cluster=cluster)["serviceArns"] == []
    finally:
        for name in names:
            try:
                ecs.delete_service(cluster=cluster, service=name, force=True)
            except ClientError:
                pass  # deleted by the loop (or never created)
        for i in (0, 10):
            ecs.get_waiter("services_inactive").wait(cluster=cluster, services=names[i : i + 10], WaiterConfig=FAST)
        ecs.deregister_task_definition(taskDefinition=arn)


def test_a_draining_service_is_not_listed(aws, cluster, task_network):
    ecs = aws("ecs")
    arn = _register(ecs, f"{cluster}-draining")
    try:
        ecs.create_service(
            cluster=cluster,
            serviceName="draining",
            taskDefinition=arn,
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=task_network,
            tags=[CONTRACT_TAG],
        )
        ecs.get_waiter("services_stable").wait(
            cluster=cluster, services=["draining"], WaiterConfig=FAST if TIMEOUT < 60 else {}
        )
        assert ecs.delete_service(cluster=cluster, service="draining", force=True)["service"]["status"] == "DRAINING"
        # While its task stops the service is DRAINING, found by DescribeServices only.
        listed = ecs.list_services(cluster=cluster)["serviceArns"]
        [described] = ecs.describe_services(cluster=cluster, services=["draining"])["services"]
        assert listed == []
        assert described["status"] in ("DRAINING", "INACTIVE")
    finally:
        try:
            ecs.delete_service(cluster=cluster, service="draining", force=True)
        except ClientError:
            pass
        ecs.get_waiter("services_inactive").wait(
            cluster=cluster, services=["draining"], WaiterConfig=FAST if TIMEOUT < 60 else {}
        )
        ecs.deregister_task_definition(taskDefinition=arn)


def test_deregistering_each_page_of_task_definitions_leaves_none_active(aws, cluster):
    ecs = aws("ecs")
    family = f"{cluster}-revisions"
    arns = [_register(ecs, family) for _ in range(5)]
    try:

        def list_page(token):
            return ecs.list_task_definitions(
                familyPrefix=family, status="ACTIVE", maxResults=2, **({"nextToken": token} if token else {})
            )

        def deregister_each(answer):
            for arn in answer["taskDefinitionArns"]:
                ecs.deregister_task_definition(taskDefinition=arn)

        _delete_while_paging(list_page, deregister_each)
        assert ecs.list_task_definitions(familyPrefix=family, status="ACTIVE")["taskDefinitionArns"] == []
    finally:
        for arn in arns:
            ecs.deregister_task_definition(taskDefinition=arn)


def test_deregistering_each_page_of_families_leaves_none_active(aws, cluster):
    ecs = aws("ecs")
    prefix = f"{cluster}-fam"
    families = [f"{prefix}-{i}" for i in range(4)]
    arns = [_register(ecs, family) for family in families]
    by_family = dict(zip(families, arns, strict=True))
    try:

        def list_page(token):
            return ecs.list_task_definition_families(
                familyPrefix=prefix, status="ACTIVE", maxResults=1, **({"nextToken": token} if token else {})
            )

        def deregister_each(answer):
            for family in answer["families"]:
                ecs.deregister_task_definition(taskDefinition=by_family[family])

        _delete_while_paging(list_page, deregister_each)
        assert ecs.list_task_definition_families(familyPrefix=prefix, status="ACTIVE")["families"] == []
    finally:
        for arn in arns:
            ecs.deregister_task_definition(taskDefinition=arn)


def test_stopping_each_page_of_tasks_leaves_none_running(aws, cluster, task_network):
    ecs = aws("ecs")
    arn = _register(ecs, f"{cluster}-stopped")
    started: list[str] = []
    try:
        started = [
            t["taskArn"]
            for t in ecs.run_task(
                cluster=cluster,
                taskDefinition=arn,
                count=4,
                launchType="FARGATE",
                networkConfiguration=task_network,
                tags=[CONTRACT_TAG],
            )["tasks"]
        ]

        def list_page(token):
            return ecs.list_tasks(cluster=cluster, maxResults=2, **({"nextToken": token} if token else {}))

        def stop_each(answer):
            for task in answer["taskArns"]:
                ecs.stop_task(cluster=cluster, task=task)

        _delete_while_paging(list_page, stop_each)
        assert ecs.list_tasks(cluster=cluster)["taskArns"] == []
    finally:
        for task in started:
            ecs.stop_task(cluster=cluster, task=task)
        if started:
            ecs.get_waiter("tasks_stopped").wait(
                cluster=cluster, tasks=started, WaiterConfig=FAST if TIMEOUT < 60 else {}
            )
        ecs.deregister_task_definition(taskDefinition=arn)


def test_deleting_each_page_of_clusters_leaves_none_of_ours(aws):
    ecs = aws("ecs")
    prefix = f"contract-paged-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-{i}" for i in range(3)]
    for name in names:
        ecs.create_cluster(clusterName=name, tags=[CONTRACT_TAG])
    try:

        def list_page(token):
            return ecs.list_clusters(maxResults=1, **({"nextToken": token} if token else {}))

        def delete_ours(answer):
            for arn in answer["clusterArns"]:
                if arn.rsplit("/", 1)[-1].startswith(prefix):
                    ecs.delete_cluster(cluster=arn)

        _delete_while_paging(list_page, delete_ours)

        def active():
            return [
                c["clusterName"] for c in ecs.describe_clusters(clusters=names)["clusters"] if c["status"] == "ACTIVE"
            ]

        left = active()
        assert left == [], f"{len(left)} of 3 clusters left ACTIVE: {left}"
    finally:
        for name in names:
            try:
                ecs.delete_cluster(cluster=name)
            except ClientError:
                pass
        wait_for(
            "the clusters to be gone",
            lambda: not [c for c in ecs.describe_clusters(clusters=names)["clusters"] if c["status"] == "ACTIVE"],
            TIMEOUT,
        )
