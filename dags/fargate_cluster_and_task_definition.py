"""Create a Fargate cluster, register a task definition into it, then tear both down.

The first steps of every Fargate workflow, on their own: run it to check a connection
(``aws_default``) and the provider. Teardown tasks run even when a step fails.
"""

from __future__ import annotations

import pendulum

from airflow.sdk import DAG, Param, task

from fargate_provider.operators.cluster import FargateCreateClusterOperator, FargateDeleteClusterOperator
from fargate_provider.operators.task_definition import (
    FargateDeregisterTaskDefinitionOperator,
    FargateRegisterTaskDefinitionOperator,
)

with DAG(
    dag_id="fargate_cluster_and_task_definition",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["fargate", "example"],
    params={
        "cluster_name": Param(
            "fargate-cluster",
            type="string",
            pattern="^[A-Za-z0-9_-]{1,255}$",
            title="Cluster name",
            description="Name of the ECS cluster to create (and delete at the end).",
        ),
    },
) as dag:
    create_cluster = FargateCreateClusterOperator(
        task_id="create_cluster",
        cluster_name="{{ params.cluster_name }}",
        tags={"purpose": "example"},
    )
    register = FargateRegisterTaskDefinitionOperator(
        task_id="register_task_definition",
        task_definition="task_definitions/sample-fargate.json5",
        tags={"purpose": "example"},
    )

    @task
    def describe_resources(cluster_arn: str, task_definition_arn: str) -> dict:
        """Log what now exists in ECS (status, size, tags), and return it for the summary."""
        from fargate_provider.hooks.fargate import FargateHook
        from fargate_provider.tags import from_ecs_tags

        hook = FargateHook(aws_conn_id="aws_default")
        cluster = hook.describe_cluster(cluster_arn) or {}
        task_def = hook.describe_task_definition(task_definition_arn) or {}
        found = {
            "cluster": {
                "name": cluster.get("clusterName"),
                "status": cluster.get("status"),
                "capacityProviders": cluster.get("capacityProviders"),
                "tags": from_ecs_tags(cluster.get("tags")),
            },
            "task_definition": {
                "revision": f"{task_def.get('family')}:{task_def.get('revision')}",
                "status": task_def.get("status"),
                "cpu": task_def.get("cpu"),
                "memory": task_def.get("memory"),
                "containers": [c["name"] + " " + c["image"] for c in task_def.get("containerDefinitions", [])],
                "tags": from_ecs_tags(task_def.get("tags")),
            },
        }
        print(found)
        return found

    described = describe_resources(create_cluster.output, register.output)

    deregister = FargateDeregisterTaskDefinitionOperator(
        task_id="deregister_task_definition",
        task_definition="{{ ti.xcom_pull(task_ids='register_task_definition') }}",
        delete=True,
    ).as_teardown(setups=register)
    delete_cluster = FargateDeleteClusterOperator(
        task_id="delete_cluster",
        cluster_name="{{ params.cluster_name }}",
        cascade=True,
    ).as_teardown(setups=create_cluster)

    create_cluster >> register >> described >> deregister >> delete_cluster
