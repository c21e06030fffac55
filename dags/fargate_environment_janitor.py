"""Hourly: destroy the ephemeral environments whose time-to-live has passed.

An environment is found by its cluster's tags: ``managed-by=airflow-provider-fargate``,
``fargate-environment`` and ``fargate-expires-at`` (set by ``fargate_ephemeral_environment``).
Nothing without ``managed-by=airflow-provider-fargate`` is touched: an expired cluster that
also holds someone else's service or standalone task is left alone — said once as a warning
(and the cluster tagged ``fargate-janitor-left-alone-since``), then quietly each hour, never a
failed run — and each delete checks the tags again before it acts.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from fargate_provider.environments.form import AWS_CONN_ID, aws_conn_id
from fargate_provider.environments.naming import ENVIRONMENT_TAG
from fargate_provider.operators.cluster import FargateDeleteClusterOperator
from fargate_provider.operators.service import FargateDeleteServiceOperator
from fargate_provider.operators.task_definition import FargateDeregisterTaskDefinitionOperator
from fargate_provider.utils.tags import MANAGED_BY_KEY, MANAGED_BY_VALUE

with DAG(
    dag_id="fargate_environment_janitor",
    description="Destroy ephemeral environments whose time-to-live has passed.",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["fargate", "environments"],
    default_args={"aws_conn_id": AWS_CONN_ID},
    doc_md=__doc__,
) as dag:

    @task
    def find_expired() -> list[dict]:
        import logging

        from fargate_provider.environments.discovery import LeftAlone, expired_environments
        from fargate_provider.environments.naming import LEFT_ALONE_TAG
        from fargate_provider.hooks.fargate import FargateHook

        # Wall-clock time, not the run's logical date: a late or re-run janitor judges TTLs as of now.
        hook = FargateHook(aws_conn_id=aws_conn_id())
        now = pendulum.now("UTC")
        expired, left_alone = expired_environments(hook, now)
        for item in left_alone:
            if isinstance(item, LeftAlone) and item.since:
                print(f"Still left alone (reported {item.since}): {item}")
            elif isinstance(item, LeftAlone):
                # Said once, loudly; the tag (on our own cluster) keeps later runs quiet.
                logging.getLogger("fargate_environment_janitor").warning(
                    "Left alone: %s. Remove what is not the provider's, or destroy the environment by hand.", item
                )
                hook.conn.tag_resource(
                    resourceArn=item.cluster_arn,
                    tags=[{"key": LEFT_ALONE_TAG, "value": now.strftime("%Y-%m-%dT%H:%M:%SZ")}],
                )
            else:
                print(f"Left alone: {item}")
        print(f"Expired environments: {[env.environment for env in expired] or 'none'}")
        return [env.as_dict() for env in expired]

    def service_of(env: dict) -> dict:
        return {"cluster": env["cluster"], "service": env["service"], "require_tags": _tags(env)}

    def task_definition_of(env: dict) -> dict:
        return {"task_definition": env["family"], "require_tags": _tags(env)}

    def cluster_of(env: dict) -> dict:
        return {"cluster_name": env["cluster"], "require_tags": _tags(env), "stop_own_tasks": True}

    def _tags(env: dict) -> dict:
        return {MANAGED_BY_KEY: MANAGED_BY_VALUE, ENVIRONMENT_TAG: env["environment"]}

    expired = find_expired()
    delete_services = FargateDeleteServiceOperator.partial(task_id="delete_service", poll_interval=5).expand_kwargs(
        expired.map(service_of)
    )
    # all_done: one environment's failure must not keep the others alive.
    deregister = FargateDeregisterTaskDefinitionOperator.partial(
        task_id="deregister_task_definition", delete=True, trigger_rule="all_done"
    ).expand_kwargs(expired.map(task_definition_of))
    delete_clusters = FargateDeleteClusterOperator.partial(
        task_id="delete_cluster", trigger_rule="all_done"
    ).expand_kwargs(expired.map(cluster_of))

    @task(trigger_rule="all_done")
    def delete_route(env: dict) -> list:
        """The environment's listener rule and target group, if it had a load balancer (ours only)."""
        from fargate_provider.environments import exposure

        return exposure.delete_route(aws_conn_id=aws_conn_id(), environment=env["environment"])

    delete_routes = delete_route.expand(env=expired)
    delete_services >> delete_routes >> deregister >> delete_clusters
