"""A scheduled batch job: one container run as a one-off Fargate task, daily by default.

Find the network and the roles → preflight (read-only: roles, image, log group, routes; every
problem at once, nothing created) → register the task definition
(``task_definitions/batch-job.json5``; a new revision only when it changed) → run it once
(logs streamed into the task log, fails if the container fails, never started twice, retried
twice) → its cost is logged and pushed to XCom (key ``cost``).
The cluster is created when missing and kept between runs.

Configure without editing code: the Variable ``fargate_batch_job`` (JSON) sets the schedule
and the defaults scheduled runs use, e.g.
``{"schedule": "0 3 * * *", "image": "…/etl:2.1", "command": ["python", "etl.py"], "size": "1024/2048"}``
(also ``retries`` and ``retry_delay_seconds``, default 2 and 120, and ``deferrable``: false
waits in the worker's slot instead of the triggerer; default: ``[operators] default_deferrable``);
a manual run can change any of them in the Trigger form. Roles: the Variable
``fargate_execution_role_arn`` (else the account's ``ecsTaskExecutionRole``; else the run fails
before creating anything, saying how to create it) and, optionally, ``fargate_task_role_arn`` or the
form's task role.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, task

from fargate_provider.environments.form import (
    AWS_CONN_ID,
    command_param,
    ecs_name_param,
    find_network_and_roles,
    image_param,
    size_param,
    subnet_kind_param,
    task_role_param,
)
from fargate_provider.exceptions import fail_fast_on_input_errors
from fargate_provider.operators.cluster import FargateCreateClusterOperator
from fargate_provider.operators.preflight import FargatePreflightOperator
from fargate_provider.operators.run_task import FargateRunTaskOperator
from fargate_provider.operators.task_definition import (
    FargateDeregisterTaskDefinitionOperator,
    FargateRegisterTaskDefinitionOperator,
)
from fargate_provider.settings import BATCH_JOB

# One Variable read when the file is parsed (the schedule cannot come from anywhere else);
# no AWS call happens at parse time.
settings = BATCH_JOB.get()

with DAG(
    dag_id="fargate_batch_job",
    description="Run a container once on Fargate on a schedule; logs, exit code and cost in Airflow.",
    schedule=settings.get("schedule", "@daily"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    default_args={
        "aws_conn_id": AWS_CONN_ID,
        "retries": settings.get("retries", 2),
        "retry_delay": dt.timedelta(seconds=settings.get("retry_delay_seconds", 120)),
    },
    tags=["fargate", "batch"],
    doc_md=__doc__,
    params={
        "image": image_param(
            settings.get("image", "public.ecr.aws/docker/library/busybox:1.36"), "Image the job runs."
        ),
        "command": command_param(
            settings.get("command", ["sh", "-c", "echo processing; echo done"]),
            'The container command, as a JSON list: ["python", "etl.py", "--day", "2026-11-28"].',
        ),
        "size": size_param(settings.get("size", "256/512"), "vCPU and memory of the task."),
        "family": ecs_name_param(
            settings.get("family", "batch-job"),
            "Task definition family",
            "Name the job's task definition is registered under.",
        ),
        "cluster": ecs_name_param(
            settings.get("cluster", "fargate-batch"),
            "Cluster",
            "ECS cluster the task runs in; created when missing, kept between runs.",
        ),
        "subnet_kind": subnet_kind_param(settings.get("subnet_kind", "private")),
        "task_role": task_role_param(settings.get("task_role")),
    },
) as dag:
    found = task(multiple_outputs=True)(fail_fast_on_input_errors(find_network_and_roles))()
    preflight = FargatePreflightOperator(
        task_id="preflight",
        task_definition="task_definitions/batch-job.json5",
        execution_role_arn=found["execution_role_arn"],
        task_role_arn=found["task_role_arn"],
        cluster="{{ params.cluster }}",
        subnets=found["subnets"],
        security_groups=found["security_groups"],
        assign_public_ip=found["assign_public_ip"],
    )
    create_cluster = FargateCreateClusterOperator(task_id="create_cluster", cluster_name="{{ params.cluster }}")
    register = FargateRegisterTaskDefinitionOperator(
        task_id="register_task_definition",
        task_definition="task_definitions/batch-job.json5",
        skip_if_unchanged=True,
        execution_role_arn=found["execution_role_arn"],
        task_role_arn=found["task_role_arn"],
    )
    run = FargateRunTaskOperator(
        task_id="run_task",
        cluster="{{ params.cluster }}",
        task_definition=register.output,
        subnets=found["subnets"],
        security_groups=found["security_groups"],
        assign_public_ip=found["assign_public_ip"],
        poll_interval=5,
        deferrable=settings.get("deferrable"),
        execution_timeout=dt.timedelta(hours=6),
    )
    # Older revisions are history nobody runs: keep the newest two (the one just run and its predecessor).
    # A teardown of the registration: it runs whether the job failed or not, and, unlike an
    # all_done leaf, does not make a failed job's run look successful.
    tidy = FargateDeregisterTaskDefinitionOperator(
        task_id="deregister_old_revisions",
        task_definition="{{ params.family }}",
        keep_latest=2,
        delete=True,
    ).as_teardown(setups=register)
    found >> preflight >> create_cluster >> register >> run >> tidy
