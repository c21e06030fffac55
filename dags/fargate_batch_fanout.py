"""A batch job fanned out into shards: one task definition, N one-off Fargate tasks, cheapest first.

Find the network and the roles → create the cluster when missing (FARGATE and FARGATE_SPOT) →
register the task definition (``task_definitions/batch-job.json5``, as ``fargate_batch_job``) →
plan the shards → run each shard as a mapped ``FargateRunTaskOperator`` task (its own command and
``SHARD_INDEX``/``SHARD_COUNT`` environment; started once across retries; on Fargate Spot with
on-demand fallback by default) → summary: shards succeeded/skipped/failed, the capacity each
attempt ran on, total cost and the saving against on-demand. A failed shard fails the run.

Configure without editing code: the Variable ``fargate_batch_fanout`` (JSON), read when the file is
parsed, sets ``max_parallel`` (shards running at once, default 20: Airflow fixes a mapped task's
``max_active_tis_per_dagrun`` at parse time, so the form cannot change it; the account's vCPU
quota is waited out either way) and the form's defaults, e.g.
``{"max_parallel": 50, "image": "…/score:3", "command": ["score", "--part", "{shard}/{shards}"], "shards": 200}``.
Roles as in ``fargate_batch_job``.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, Param, get_current_context, task

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
from fargate_provider.operators.run_task import FargateRunTaskOperator
from fargate_provider.operators.task_definition import FargateRegisterTaskDefinitionOperator
from fargate_provider.settings import BATCH_FANOUT
from fargate_provider.utils.fanout import MAX_SHARDS
from fargate_rules.capacity import CAPACITY_MODES, SPOT_THEN_ON_DEMAND

settings = BATCH_FANOUT.get()  # one Variable read at parse time; no AWS call here

with DAG(
    dag_id="fargate_batch_fanout",
    description="Run N shards of one task definition on Fargate (Spot first); states, capacity and cost summed.",
    schedule=settings.get("schedule"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    default_args={
        "aws_conn_id": AWS_CONN_ID,
        "retries": settings.get("retries", 2),
        "retry_delay": dt.timedelta(seconds=settings.get("retry_delay_seconds", 60)),
    },
    tags=["fargate", "batch"],
    doc_md=__doc__,
    params={
        "image": image_param(
            settings.get("image", "public.ecr.aws/docker/library/busybox:1.36"), "Image every shard runs."
        ),
        "command": command_param(
            settings.get("command", ["sh", "-c", "echo shard {shard} of {shards}"]),
            "The container command, one argument per line; {shard} (0-based) and {shards} become the "
            "shard's numbers, also in the environment as SHARD_INDEX and SHARD_COUNT.",
        ),
        "shards": Param(
            settings.get("shards", 4),
            type="integer",
            minimum=1,
            maximum=MAX_SHARDS,
            title="Shards",
            description=f"How many one-off tasks (1-{MAX_SHARDS}); at most {settings.get('max_parallel', 20)} run at "
            "once (the fargate_batch_fanout Variable's max_parallel).",
        ),
        "capacity": Param(
            settings.get("capacity", SPOT_THEN_ON_DEMAND),
            type="string",
            enum=list(CAPACITY_MODES),
            values_display={
                "on_demand": "Fargate on-demand",
                "spot": "Fargate Spot only (an interrupted shard fails after one re-run)",
                "spot_then_on_demand": "Fargate Spot, on-demand when Spot is short or interrupts twice",
            },
            title="Capacity",
            description="Where the shards run. Fargate Spot costs about 70 % less and may be interrupted "
            "(two-minute warning); interruptions are run again and never spend an Airflow retry.",
        ),
        "size": size_param(settings.get("size", "256/512"), "vCPU and memory of each shard's task."),
        "family": ecs_name_param(
            settings.get("family", "batch-fanout"),
            "Task definition family",
            "Name the shards' task definition is registered under.",
        ),
        "cluster": ecs_name_param(
            settings.get("cluster", "fargate-batch"),
            "Cluster",
            "ECS cluster the shards run in; created with FARGATE and FARGATE_SPOT when missing, kept.",
        ),
        "subnet_kind": subnet_kind_param(settings.get("subnet_kind", "private")),
        "task_role": task_role_param(settings.get("task_role")),
    },
) as dag:

    @task
    @fail_fast_on_input_errors
    def plan_shards(params: dict) -> list[dict]:
        """Each shard's RunTask overrides: its command and SHARD_INDEX / SHARD_COUNT."""
        from fargate_provider.utils.fanout import shard_overrides

        return shard_overrides("job", params["command"], params["shards"])

    @task(trigger_rule="all_done")
    def summary() -> dict:
        """Shards succeeded/skipped/failed, the capacity each attempt ran on, cost and saving; a
        failed shard fails this task, so the run is failed too."""
        from airflow.sdk.exceptions import AirflowFailException

        from fargate_provider.utils.fanout import summarize_shards

        ti = get_current_context()["ti"]
        found = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=["run_shard"]).get(ti.run_id, {})
        states = {int(key.rsplit("_", 1)[1]): str(state) for key, state in found.items() if key != "run_shard"}
        costs = {i: ti.xcom_pull(task_ids="run_shard", key="cost", map_indexes=i) for i in states}
        result = summarize_shards(states, costs)
        for line in result.lines():
            print(line)
        if result.failed:
            raise AirflowFailException(f"{len(result.failed)} of {len(states)} shard(s) failed: {result.failed}")
        return result.as_dict()

    found = task(multiple_outputs=True)(fail_fast_on_input_errors(find_network_and_roles))()
    create_cluster = FargateCreateClusterOperator(task_id="create_cluster", cluster_name="{{ params.cluster }}")
    register = FargateRegisterTaskDefinitionOperator(
        task_id="register_task_definition",
        task_definition="task_definitions/batch-job.json5",
        skip_if_unchanged=True,
        execution_role_arn=found["execution_role_arn"],
        task_role_arn=found["task_role_arn"],
    )
    shards = plan_shards()
    run = FargateRunTaskOperator.partial(
        task_id="run_shard",
        cluster="{{ params.cluster }}",
        task_definition=register.output,
        subnets=found["subnets"],
        security_groups=found["security_groups"],
        assign_public_ip=found["assign_public_ip"],
        capacity="{{ params.capacity }}",
        poll_interval=settings.get("poll_interval", 10),
        deferrable=settings.get("deferrable"),
        execution_timeout=dt.timedelta(hours=6),
        max_active_tis_per_dagrun=settings.get("max_parallel", 20),
    ).expand(overrides=shards)
    found >> create_cluster >> register >> run
    run >> summary()
