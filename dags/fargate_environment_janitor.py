"""Hourly: destroy the ephemeral environments whose time-to-live has passed, and put the others to
sleep outside the awake hours (the Variable ``fargate_environments_awake_hours``, if set).

An environment is found by its cluster's tags: ``managed-by=airflow-provider-fargate``,
``fargate-environment`` and ``fargate-expires-at`` (set by ``fargate_ephemeral_environment``).
Nothing without ``managed-by=airflow-provider-fargate`` is touched: an expired cluster that
also holds someone else's service or standalone task is left alone — said once as a warning
(and the cluster tagged ``fargate-janitor-left-alone-since``), then quietly each hour, never a
failed run — and each delete checks the tags again before it acts. An environment that a run of
``fargate_ephemeral_environment`` is changing right now (it holds the environment's turn) is left
for the next round.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from fargate_provider.environments.form import AWS_CONN_ID, aws_conn_id
from fargate_provider.environments.naming import DAG_ID as ENVIRONMENT_DAG_ID
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

    def changing(ti):
        """The environment DAG's run that holds an environment's turn now (it is being changed), if any."""
        from fargate_provider import settings
        from fargate_provider.environments import turns

        held = settings.ENVIRONMENT_TURNS.get()

        def is_active(run_id: str) -> bool:
            states = list(turns.ACTIVE_RUN_STATES)
            return ti.get_dr_count(dag_id=ENVIRONMENT_DAG_ID, run_ids=[run_id], states=states) > 0

        return lambda name: turns.holder_of(held, name, is_active)

    @task
    def find_expired(ti=None) -> list[dict]:
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
        run_changing = changing(ti)
        busy = {env.environment: run_changing(env.environment) for env in expired}
        for name, run in busy.items():
            if run:
                print(f"Expired, left for the next round: {name} (run {run} of {ENVIRONMENT_DAG_ID} is changing it)")
        expired = [env for env in expired if not busy[env.environment]]
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
        from fargate_provider import settings
        from fargate_provider.environments import exposure

        # The listener too: a sleeping environment's rule answers "asleep" and forwards to nothing.
        return exposure.delete_route(
            aws_conn_id=aws_conn_id(),
            environment=env["environment"],
            listener_arn=settings.ENVIRONMENTS_LISTENER_ARN.get(),
        )

    delete_routes = delete_route.expand(env=expired)
    delete_services >> delete_routes >> deregister >> delete_clusters

    @task
    def sleep_outside_awake_hours(ti=None) -> dict:
        """Outside the Variable fargate_environments_awake_hours (if set): every awake environment to sleep."""
        from fargate_provider import settings
        from fargate_provider.environments import sleep
        from fargate_provider.hooks.fargate import FargateHook

        report = sleep.sleep_outside_awake_hours(
            FargateHook(aws_conn_id=aws_conn_id()),
            aws_conn_id=aws_conn_id(),
            listener_arn=settings.ENVIRONMENTS_LISTENER_ARN.get(),
            spec=settings.ENVIRONMENTS_AWAKE_HOURS.get(),
            now=pendulum.now("UTC"),
            changing=changing(ti),
        )
        if report["awake_hours"] is None:
            print(f"No awake hours set (Variable {settings.ENVIRONMENTS_AWAKE_HOURS.name}): none put to sleep")
        elif "until" not in report:
            print(f"Inside the awake hours ({report['awake_hours']}): none put to sleep")
        else:
            print(
                f"Outside the awake hours ({report['awake_hours']}): put to sleep until {report['until']}: "
                f"{report['slept'] or 'none'}; {report['task_hours_saved']} task-hours saved"
            )
            for why in report["left_awake"]:
                print(f"Left awake: {why}")
        return report

    expired >> sleep_outside_awake_hours()
