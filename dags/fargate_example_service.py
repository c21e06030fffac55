"""Create a Fargate cluster, register a task definition, run it as a service until stable,
then tear everything down.

The lifecycle of an ephemeral environment, on its own: run it to check a connection
(``aws_default``) and the provider. Give the subnets and security groups of your VPC in the
trigger form (``make demo`` passes the local emulator's). Teardown tasks run even when a
step fails.
"""

from __future__ import annotations

import pendulum

from airflow.sdk import DAG, Param, task

from fargate_provider.dag_params import network_params
from fargate_provider.operators.cluster import FargateCreateClusterOperator, FargateDeleteClusterOperator
from fargate_provider.operators.service import FargateCreateServiceOperator, FargateDeleteServiceOperator
from fargate_provider.operators.task_definition import (
    FargateDeregisterTaskDefinitionOperator,
    FargateRegisterTaskDefinitionOperator,
)

with DAG(
    dag_id="fargate_example_service",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["fargate", "example"],
    render_template_as_native_obj=True,
    params={
        "cluster_name": Param(
            "fargate-cluster",
            type="string",
            pattern="^[A-Za-z0-9_-]{1,255}$",
            title="Cluster name",
            description="Name of the ECS cluster to create (and delete at the end).",
        ),
        **network_params("service's tasks"),
        "desired_count": Param(1, type="integer", minimum=0, maximum=10, title="Tasks", description="How many tasks the service runs."),
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
    create_service = FargateCreateServiceOperator(
        task_id="create_service",
        cluster="{{ params.cluster_name }}",
        service_name="sample-fargate",
        task_definition="{{ ti.xcom_pull(task_ids='register_task_definition') }}",
        desired_count="{{ params.desired_count }}",
        subnets="{{ params.subnets }}",
        security_groups="{{ params.security_groups }}",
        tags={"purpose": "example"},
        poll_interval=2,
        timeout=900,
    )

    @task
    def describe_resources(cluster_arn: str, task_definition_arn: str, service_arn: str) -> dict:
        """Log what now exists in ECS (status, size, counts, tags), and return it for the summary."""
        from fargate_provider.hooks.fargate import FargateHook
        from fargate_provider.tags import from_ecs_tags

        hook = FargateHook(aws_conn_id="aws_default")
        cluster = hook.describe_cluster(cluster_arn) or {}
        task_def = hook.describe_task_definition(task_definition_arn) or {}
        service = hook.describe_service(cluster_arn, service_arn) or {}
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
            "service": {
                "name": service.get("serviceName"),
                "status": service.get("status"),
                "running": f"{service.get('runningCount')}/{service.get('desiredCount')}",
                "rollout": (service.get("deployments") or [{}])[0].get("rolloutState"),
            },
        }
        print(found)
        return found

    described = describe_resources(create_cluster.output, register.output, create_service.output)

    delete_service = FargateDeleteServiceOperator(
        task_id="delete_service",
        cluster="{{ params.cluster_name }}",
        service="sample-fargate",
        poll_interval=2,
        timeout=900,
    ).as_teardown(setups=create_service)
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

    create_cluster >> register >> create_service >> described >> delete_service >> deregister >> delete_cluster
