"""Operator extra links to the AWS console: cluster, service, task, task definition and a
task's CloudWatch Logs stream, for the connection's region and partition.

Built on the amazon provider's BaseAwsLink: the operator stores the link's fields in XCom
(``persist``) and Airflow turns them into the URL shown on the task's page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.providers.amazon.aws.links.base_aws import (
    BASE_AWS_CONSOLE_LINK,
    BaseAwsLink,
)

from fargate_rules.arns import name_from_arn

ECS_CONSOLE = BASE_AWS_CONSOLE_LINK + "/ecs/v2"


class EcsClusterLink(BaseAwsLink):
    name = "ECS cluster"
    key = "fargate_ecs_cluster"
    format_str = ECS_CONSOLE + "/clusters/{cluster_name}/services?region={region_name}"


class EcsServiceLink(BaseAwsLink):
    name = "ECS service"
    key = "fargate_ecs_service"
    format_str = ECS_CONSOLE + "/clusters/{cluster_name}/services/{service_name}/health?region={region_name}"


class EcsTaskLink(BaseAwsLink):
    name = "ECS task"
    key = "fargate_ecs_task"
    format_str = ECS_CONSOLE + "/clusters/{cluster_name}/tasks/{task_id}/configuration?region={region_name}"


class EcsTaskDefinitionLink(BaseAwsLink):
    name = "ECS task definition"
    key = "fargate_ecs_task_definition"
    format_str = ECS_CONSOLE + "/task-definitions/{family}/{revision}/containers?region={region_name}"

    def format_link(self, **kwargs: Any) -> str:
        if kwargs.get("revision") is None:  # a whole family (deregistering all of it)
            return (ECS_CONSOLE + "/task-definitions/{family}?region={region_name}").format(**kwargs)
        return super().format_link(**kwargs)


def console_log_escape(value: str) -> str:
    """The CloudWatch console's escaping in its #logsV2 fragment: URL-encode twice, then
    write "%" as "$" ("/" becomes "$252F"); single encoding opens the wrong page."""
    return quote(quote(value, safe=""), safe="").replace("%", "$")


class TaskLogsLink(BaseAwsLink):
    name = "Task logs (CloudWatch)"
    key = "fargate_task_logs"
    format_str = (
        BASE_AWS_CONSOLE_LINK
        + "/cloudwatch/home?region={region_name}#logsV2:log-groups/log-group/{log_group}/log-events/{log_stream}"
    )

    def format_link(self, **kwargs: Any) -> str:
        if not kwargs.get("log_group") or not kwargs.get("log_stream"):
            return ""
        kwargs = {
            **kwargs,
            "log_group": console_log_escape(kwargs["log_group"]),
            "log_stream": console_log_escape(kwargs["log_stream"]),
        }
        return super().format_link(**kwargs)


def persist_link(context: Any, operator: Any, link: type[BaseAwsLink], **fields: Any) -> None:
    """Store a link's fields for this task instance, with the hook's region and partition."""
    hook = operator.hook
    link.persist(
        context=context,
        operator=operator,
        region_name=fields.pop("region_name", None) or hook.conn_region_name,
        aws_partition=hook.conn_partition,
        **fields,
    )


def task_definition_fields(task_definition: str) -> dict[str, Any]:
    """family and revision from an ARN, ``family:revision`` or a family (revision None)."""
    name = task_definition.rsplit("/", 1)[-1]
    family, _, revision = name.partition(":")
    return {"family": family, "revision": int(revision) if revision.isdigit() else None}


def persist_service_links(context: Any, operator: Any, cluster: str, service: str | None = None) -> None:
    """The cluster and, when there is one service, the service (names or ARNs)."""
    persist_link(context, operator, EcsClusterLink, cluster_name=name_from_arn(cluster))
    if service:
        persist_link(
            context, operator, EcsServiceLink, cluster_name=name_from_arn(cluster), service_name=name_from_arn(service)
        )


def persist_task_links(
    context: Any, operator: Any, cluster: str, task_definition: dict[str, Any] | None, task_arns: list[str]
) -> None:
    """Cluster, task definition, the first task and its first awslogs stream (the last two
    need the task definition; a sensor that only knows task ARNs links cluster and task)."""
    from fargate_provider.state.task import log_streams

    persist_service_links(context, operator, cluster)
    if task_definition:
        persist_link(
            context, operator, EcsTaskDefinitionLink, **task_definition_fields(task_definition["taskDefinitionArn"])
        )
    if not task_arns:
        return
    persist_link(
        context, operator, EcsTaskLink, cluster_name=name_from_arn(cluster), task_id=name_from_arn(task_arns[0])
    )
    if not task_definition:
        return
    streams = log_streams(task_definition, task_arns[:1])
    if streams:
        persist_link(
            context,
            operator,
            TaskLogsLink,
            region_name=streams[0].region,
            log_group=streams[0].group,
            log_stream=streams[0].stream,
        )
