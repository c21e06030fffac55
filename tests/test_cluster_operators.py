"""Create/delete clusters through Airflow (dag.test, real metadata DB) against the local emulator."""

from __future__ import annotations

import pytest

from fargate_provider.operators.cluster import FargateCreateClusterOperator
from tests.helpers.aws import ecs, record_aws_calls

CREATE_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.cluster import FargateCreateClusterOperator
with DAG(DAG_ID, schedule=None):
    FargateCreateClusterOperator(
        task_id="create",
        cluster_name="batch",
        default_capacity_provider_strategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 3},
                                            {"capacityProvider": "FARGATE", "weight": 1, "base": 1}],
        container_insights=True,
        tags={"team": "data"},
    )
"""

DELETE_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.cluster import FargateDeleteClusterOperator
with DAG(DAG_ID, schedule=None):
    FargateDeleteClusterOperator(task_id="delete", cluster_name="batch", cascade={cascade})
"""


def cluster(endpoint, name="batch"):
    found = ecs(endpoint).describe_clusters(clusters=[name], include=["TAGS", "SETTINGS"])["clusters"]
    return found[0] if found else None


def test_create_is_idempotent_and_delete_of_missing_is_success(airflow, aws_endpoint, capfd):
    create = airflow.write_dag(CREATE_DAG)
    first = airflow.run(create, capfd)
    assert first.task_states == {"create": "success"}
    assert first.xcom["create"].endswith(":cluster/batch")
    assert "Created cluster batch" in first.log and "Cluster batch is ACTIVE" in first.log

    created = cluster(aws_endpoint)
    assert created["status"] == "ACTIVE"
    assert created["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert created["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
    ]
    assert {"name": "containerInsights", "value": "enabled"} in created["settings"]
    assert {t["key"]: t["value"] for t in created["tags"]} == {
        "team": "data",
        "managed-by": "airflow-provider-fargate",
        "airflow-dag-id": create,
        "airflow-run-id": first.run_id,
    }

    second = airflow.run(create, capfd)
    assert second.xcom["create"] == first.xcom["create"]
    assert "Cluster batch already exists (ACTIVE); reusing it" in second.log
    # reused, not recreated (same ARN, one cluster); its tags brought up to date (they carry state, e.g. expiry)
    assert {t["key"]: t["value"] for t in cluster(aws_endpoint)["tags"]}["airflow-run-id"] == second.run_id
    assert "Updated the tags of cluster batch." in second.log
    assert len(ecs(aws_endpoint).list_clusters()["clusterArns"]) == 1

    delete = airflow.write_dag(DELETE_DAG.replace("{cascade}", "False"))
    deleted = airflow.run(delete, capfd)
    assert deleted.task_states == {"delete": "success"}
    assert cluster(aws_endpoint)["status"] == "INACTIVE"
    assert "Deleted cluster batch" in deleted.log

    again = airflow.run(delete, capfd)
    assert again.task_states == {"delete": "success"} and again.xcom.get("delete") is None
    assert "Cluster batch does not exist (or is already INACTIVE); nothing to delete" in again.log


def _populate(emulator):
    """Two Fargate services and one running one-off task in cluster 'batch'."""
    client = ecs(emulator.endpoint)
    client.create_cluster(clusterName="batch")
    client.register_task_definition(
        family="svc",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "nginx"}],
    )
    network = {
        "awsvpcConfiguration": {
            "subnets": emulator.network["private_subnets"],
            "securityGroups": [emulator.network["security_group"]],
        }
    }
    for name in ("api", "worker"):
        client.create_service(
            cluster="batch",
            serviceName=name,
            taskDefinition="svc",
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=network,
        )
    emulator.add_behaviour(family="job", run_seconds=3600)  # a one-off task that is still running
    client.register_task_definition(
        family="job",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "job", "image": "busybox"}],
    )
    task = client.run_task(cluster="batch", taskDefinition="job", launchType="FARGATE", networkConfiguration=network)
    task_arn = task["tasks"][0]["taskArn"]
    client.get_waiter("tasks_running").wait(
        cluster="batch", tasks=[task_arn], WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    return task_arn


def _deregister_all(endpoint):
    client = ecs(endpoint)
    for arn in client.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]:
        client.deregister_task_definition(taskDefinition=arn)


def test_delete_refuses_a_cluster_in_use_and_names_what_is_in_it(airflow, emulator, capfd):
    task = _populate(emulator)
    delete = airflow.write_dag(DELETE_DAG.replace("{cascade}", "False"))
    result = airflow.run(delete, capfd)
    assert result.task_states == {"delete": "failed"}
    assert "Cluster batch still has 2 service(s) ['api', 'worker'] and " in result.log
    assert task.rsplit("/", 1)[1] in result.log
    assert "set cascade=True" in result.log
    assert cluster(emulator.endpoint)["status"] == "ACTIVE"

    cascade = airflow.write_dag(DELETE_DAG.replace("{cascade}", "True"))
    result = airflow.run(cascade, capfd)
    assert result.task_states == {"delete": "success"}
    client = ecs(emulator.endpoint)
    services = client.describe_services(cluster="batch", services=["api", "worker"])["services"]
    assert {s["status"] for s in services} == {"INACTIVE"}
    stopped = client.describe_tasks(cluster="batch", tasks=[task])["tasks"][0]
    assert (stopped["lastStatus"], stopped["stopCode"]) == ("STOPPED", "UserInitiated")
    assert cluster(emulator.endpoint)["status"] == "INACTIVE"
    assert "Deleting 2 service(s) in batch" in result.log and "Stopping 1 task(s) in batch" in result.log
    _deregister_all(emulator.endpoint)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cluster_name": "my cluster"}, "cluster_name: must be 1-255 letters"),
        ({"cluster_name": "c", "capacity_providers": ("EC2",)}, "capacity_providers: ['EC2'] not allowed"),
        (
            {
                "cluster_name": "c",
                "capacity_providers": ("FARGATE",),
                "default_capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
            },
            (
                "default_capacity_provider_strategy[0].capacityProvider: 'FARGATE_SPOT' "
                "is not one of the cluster's capacity providers"
            ),
        ),
        (
            {
                "cluster_name": "c",
                "default_capacity_provider_strategy": [{"capacityProvider": "FARGATE", "weight": 2000}],
            },
            "default_capacity_provider_strategy[0].weight: must be an integer 0-1000",
        ),
        (
            {
                "cluster_name": "c",
                "default_capacity_provider_strategy": [
                    {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
                    {"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 2},
                ],
            },
            "only one capacity provider in a strategy can have a base",
        ),
        ({"cluster_name": "c", "tags": {"managed-by": "someone"}}, "tags.managed-by: is set by the provider itself"),
    ],
)
def test_bad_cluster_input_is_refused_before_any_aws_call(no_aws, kwargs, message):
    operator = FargateCreateClusterOperator(task_id="create", **kwargs)
    with record_aws_calls() as recorder, pytest.raises(ValueError) as err:
        operator.execute(context={})
    assert message in str(err.value)
    assert recorder.calls == []
