"""DescribeTasks and DescribeServices: their per-call limits and how they answer for what is not
there. Sources:
- API_DescribeTasks / API_DescribeServices (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/):
  ``tasks`` "up to 100", ``services`` "up to 10"; unknown resources come back in ``failures``.
- ECS's wording of the limits, as users quote it: "taskIds can have at most 100 items."
  (gchq/sleeper#555, sil-org/ecs-deploy#266), "service names can have at most 10 items."
  (structurely/ecs-autoscale#32), both InvalidParameterException.
- Failure reasons (api_failures_messages.html): MISSING, "The resource couldn't be found".
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.contract.conftest import CONTRACT_TAG


def test_describe_tasks_takes_at_most_100(aws, cluster):
    arns = [f"arn:aws:ecs:us-east-1:123456789012:task/{cluster}/{i:032x}" for i in range(101)]
    with pytest.raises(ClientError) as refused:
        aws("ecs").describe_tasks(cluster=cluster, tasks=arns)
    error = refused.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("InvalidParameterException", "taskIds can have at most 100 items.")


def test_describe_services_takes_at_most_10(aws, cluster):
    with pytest.raises(ClientError) as refused:
        aws("ecs").describe_services(cluster=cluster, services=[f"s{i}" for i in range(11)])
    error = refused.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterException",
        "service names can have at most 10 items.",
    )


def test_unknown_tasks_and_services_come_back_as_missing_failures(aws, cluster):
    ecs = aws("ecs")
    unknown = f"arn:aws:ecs:us-east-1:123456789012:task/{cluster}/{'0' * 32}"
    answer = ecs.describe_tasks(cluster=cluster, tasks=[unknown])
    assert answer["tasks"] == [] and answer["failures"] == [{"arn": unknown, "reason": "MISSING"}]
    answer = ecs.describe_services(cluster=cluster, services=["nowhere"])
    assert answer["services"] == [] and [f["reason"] for f in answer["failures"]] == ["MISSING"]


def test_a_task_of_another_cluster_is_missing_here(aws, task_network, cluster):
    """DescribeTasks looks in the cluster it is given: another cluster's task is MISSING."""
    from tests.emulator.helpers import register

    ecs = aws("ecs")
    other = f"{cluster}-other"
    ecs.create_cluster(clusterName=other, tags=[CONTRACT_TAG])
    register(ecs, family="contract-job")
    arn = None
    try:
        arn = ecs.run_task(
            cluster=other, taskDefinition="contract-job", launchType="FARGATE", networkConfiguration=task_network
        )["tasks"][0]["taskArn"]
        answer = ecs.describe_tasks(cluster=cluster, tasks=[arn])
        assert answer["tasks"] == [] and answer["failures"] == [{"arn": arn, "reason": "MISSING"}]
        assert [t["taskArn"] for t in ecs.describe_tasks(cluster=other, tasks=[arn])["tasks"]] == [arn]
    finally:
        if arn:
            ecs.stop_task(cluster=other, task=arn)
            ecs.get_waiter("tasks_stopped").wait(
                cluster=other, tasks=[arn], WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
            )
        ecs.deregister_task_definition(taskDefinition="contract-job:1")
        ecs.delete_cluster(cluster=other)
