"""Run a container once as a Fargate task: register its task definition, run it, follow its
logs, fail if it fails, report its cost; then deregister it and delete the cluster
(teardown tasks: they run even when the container fails).

Give the cluster, subnets and security groups of your VPC in the trigger form (``make demo``
passes the local emulator's).
"""

from __future__ import annotations

import pendulum

from airflow.sdk import DAG, Param

from fargate_provider.dag_params import network_params
from fargate_provider.operators.cluster import FargateCreateClusterOperator, FargateDeleteClusterOperator
from fargate_provider.operators.run_task import FargateRunTaskOperator
from fargate_provider.operators.task_definition import (
    FargateDeregisterTaskDefinitionOperator,
    FargateRegisterTaskDefinitionOperator,
)

with DAG(
    dag_id="fargate_example_batch",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["fargate", "example"],
    render_template_as_native_obj=True,
    params={
        "cluster": Param("fargate-batch", type="string", pattern="^[A-Za-z0-9_-]{1,255}$", title="Cluster",
                         description="ECS cluster to create for the run (and delete after it)."),
        **network_params("task"),
    },
) as dag:
    create_cluster = FargateCreateClusterOperator(task_id="create_cluster", cluster_name="{{ params.cluster }}")
    register = FargateRegisterTaskDefinitionOperator(
        task_id="register_task_definition", task_definition="task_definitions/batch-job.json5"
    )
    run = FargateRunTaskOperator(
        task_id="run_task",
        cluster="{{ params.cluster }}",
        task_definition="{{ ti.xcom_pull(task_ids='register_task_definition') }}",
        subnets="{{ params.subnets }}",
        security_groups="{{ params.security_groups }}",
        poll_interval=2,
        retries=2,
    )
    deregister = FargateDeregisterTaskDefinitionOperator(
        task_id="deregister_task_definition",
        task_definition="{{ ti.xcom_pull(task_ids='register_task_definition') }}",
        delete=True,
    ).as_teardown(setups=register)
    delete_cluster = FargateDeleteClusterOperator(
        task_id="delete_cluster", cluster_name="{{ params.cluster }}", cascade=True
    ).as_teardown(setups=create_cluster)
    create_cluster >> register >> run >> deregister >> delete_cluster
