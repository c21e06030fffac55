"""The List operations page as ECS pages them, forget what was deleted, and DescribeClusters
counts what runs. Sources (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/):
- API_ListServices: "If this parameter isn't used, then ListServices returns up to 10 results and
  a nextToken value if applicable"; maxResults "can be between 1 and 100".
- API_ListClusters, API_ListTaskDefinitions, API_ListTasks: up to 100 results by default, the same
  1-100 range; ListTaskDefinitions "By default, (ASC) task definitions are listed lexicographically
  by family name and in ascending numerical order by revision"; DESC reverses it.
- API_DeleteService: a deleted service goes DRAINING then INACTIVE; "INACTIVE services ... are not
  returned by ListServices" is how the API reference's DescribeServices note and the console behave:
  a deleted service is only found by DescribeServices, for a while.
- API_Cluster: runningTasksCount / pendingTasksCount / activeServicesCount, and ``statistics``
  (runningFargateTasksCount, activeFargateServiceCount, ...) with include STATISTICS.
ECS does not document the wording for a bad ``nextToken`` or ``maxResults``; the tests hold the
emulator to a 400 InvalidParameterException, ECS's error for a bad parameter.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.contract.conftest import CONTRACT_TAG, register_sleeper
from tests.helpers.polling import wait_for

FAST = {"Delay": 0.1, "MaxAttempts": 300}


def _register(ecs, family: str) -> str:
    return register_sleeper(ecs, family)["taskDefinitionArn"]


def _create_service(ecs, cluster: str, name: str, task_definition: str, network: dict, count: int = 0) -> None:
    ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=task_definition,
        desiredCount=count,
        launchType="FARGATE",
        networkConfiguration=network,
        tags=[CONTRACT_TAG],
    )


def _refused(call) -> dict:
    with pytest.raises(ClientError) as refused:
        call()
    return refused.value.response


@pytest.fixture
def twelve_services(aws, cluster, task_network):
    """Twelve services with no tasks (nothing to pay for), deleted afterwards."""
    ecs = aws("ecs")
    arn = _register(ecs, f"{cluster}-svc")
    names = [f"svc-{i:02d}" for i in range(12)]
    try:
        for name in names:
            _create_service(ecs, cluster, name, arn, task_network)
        yield names
    finally:
        for name in names:
            try:
                ecs.delete_service(cluster=cluster, service=name, force=True)
            except ClientError:
                pass
        ecs.get_waiter("services_inactive").wait(cluster=cluster, services=names[:10], WaiterConfig=FAST)
        ecs.get_waiter("services_inactive").wait(cluster=cluster, services=names[10:], WaiterConfig=FAST)
        ecs.deregister_task_definition(taskDefinition=arn)


def test_list_services_pages_by_ten_and_takes_max_results(aws, cluster, twelve_services):
    ecs = aws("ecs")
    first = ecs.list_services(cluster=cluster)
    assert len(first["serviceArns"]) == 10 and first.get("nextToken")
    second = ecs.list_services(cluster=cluster, nextToken=first["nextToken"])
    assert len(second["serviceArns"]) == 2 and not second.get("nextToken")
    listed = {arn.rsplit("/", 1)[-1] for arn in first["serviceArns"] + second["serviceArns"]}
    assert listed == set(twelve_services)
    small = ecs.list_services(cluster=cluster, maxResults=5)
    assert len(small["serviceArns"]) == 5 and small.get("nextToken")
    assert len(ecs.list_services(cluster=cluster, maxResults=100)["serviceArns"]) == 12


@pytest.mark.parametrize("size", [0, 101])
def test_max_results_outside_1_to_100_is_refused(aws, cluster, size):
    response = _refused(lambda: aws("ecs").list_services(cluster=cluster, maxResults=size))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "InvalidParameterException"


@pytest.mark.parametrize("operation", ["list_services", "list_tasks", "list_clusters", "list_task_definitions"])
def test_a_made_up_next_token_is_a_client_error_not_a_500(aws, cluster, operation):
    ecs = aws("ecs")
    params = {"cluster": cluster} if operation in ("list_services", "list_tasks") else {}
    response = _refused(lambda: getattr(ecs, operation)(nextToken="not-a-token-ecs-gave", **params))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "InvalidParameterException"


def test_a_deleted_service_is_no_longer_listed(aws, cluster, task_network):
    ecs = aws("ecs")
    arn = _register(ecs, f"{cluster}-gone")
    try:
        _create_service(ecs, cluster, "gone", arn, task_network)
        assert len(ecs.list_services(cluster=cluster)["serviceArns"]) == 1
        ecs.delete_service(cluster=cluster, service="gone")
        ecs.get_waiter("services_inactive").wait(cluster=cluster, services=["gone"], WaiterConfig=FAST)
        assert ecs.list_services(cluster=cluster)["serviceArns"] == []
        # DescribeServices still finds it, INACTIVE
        [described] = ecs.describe_services(cluster=cluster, services=["gone"])["services"]
        assert described["status"] == "INACTIVE"
    finally:
        ecs.deregister_task_definition(taskDefinition=arn)


def test_list_clusters_and_task_definitions_page_and_sort(aws, cluster):
    ecs = aws("ecs")
    family = f"{cluster}-td"
    arns = [_register(ecs, family) for _ in range(3)]
    try:
        pages = list(
            ecs.get_paginator("list_task_definitions").paginate(familyPrefix=family, PaginationConfig={"PageSize": 2})
        )
        assert [len(p["taskDefinitionArns"]) for p in pages] == [2, 1]
        assert [a for p in pages for a in p["taskDefinitionArns"]] == arns  # newest last
        assert ecs.list_task_definitions(familyPrefix=family, sort="DESC")["taskDefinitionArns"] == arns[::-1]
        first = ecs.list_clusters(maxResults=1)
        assert len(first["clusterArns"]) == 1
        every = [
            a
            for p in ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 1})
            for a in p["clusterArns"]
        ]
        assert any(a.endswith(f"/{cluster}") for a in every)
    finally:
        for arn in arns:
            ecs.deregister_task_definition(taskDefinition=arn)


def test_a_deleted_cluster_is_no_longer_listed(aws):
    ecs = aws("ecs")
    arn = ecs.create_cluster(clusterName=f"contract-deleted-{id(ecs) % 10**6}", tags=[CONTRACT_TAG])["cluster"][
        "clusterArn"
    ]
    ecs.delete_cluster(cluster=arn)
    every = [a for p in ecs.get_paginator("list_clusters").paginate() for a in p["clusterArns"]]
    assert arn not in every


def test_describe_clusters_counts_running_tasks_and_active_services(aws, cluster, task_network):
    ecs = aws("ecs")
    arn = _register(ecs, f"{cluster}-count")
    try:
        _create_service(ecs, cluster, "counted", arn, task_network, count=2)
        ecs.get_waiter("services_stable").wait(cluster=cluster, services=["counted"], WaiterConfig=FAST)

        def counts():
            [described] = ecs.describe_clusters(clusters=[cluster], include=["STATISTICS"])["clusters"]
            return described if described["runningTasksCount"] == 2 else None

        described = wait_for("the cluster to count 2 running tasks", counts, timeout=60)
        assert (described["pendingTasksCount"], described["activeServicesCount"]) == (0, 1)
        statistics = {s["name"]: s["value"] for s in described["statistics"]}
        assert statistics["runningFargateTasksCount"] == "2" and statistics["activeFargateServiceCount"] == "1"
        assert (
            "statistics" not in ecs.describe_clusters(clusters=[cluster])["clusters"][0]
            or ecs.describe_clusters(clusters=[cluster])["clusters"][0]["statistics"] == []
        )
    finally:
        ecs.delete_service(cluster=cluster, service="counted", force=True)
        ecs.get_waiter("services_inactive").wait(cluster=cluster, services=["counted"], WaiterConfig=FAST)
        ecs.deregister_task_definition(taskDefinition=arn)
