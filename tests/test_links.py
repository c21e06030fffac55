"""ECS console and CloudWatch Logs links on the task page: resolved for finished runs."""

from __future__ import annotations

import pytest

from fargate_provider.links.ecs import (
    EcsClusterLink,
    EcsServiceLink,
    EcsTaskDefinitionLink,
    EcsTaskLink,
    TaskLogsLink,
    console_log_escape,
)

CONSOLE = "https://console.aws.amazon.com"


def _links(dag_id: str, run_id: str) -> dict[str, dict[str, str]]:
    """task_id -> {link class: URL}, as the worker stored them for the UI (XCom _link_<class>)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    found: dict[str, dict[str, str]] = {}
    with create_session() as session:
        for row in session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == run_id):
            if row.key.startswith("_link_"):
                value = XComModel.deserialize_value(row)
                if value:
                    found.setdefault(row.task_id, {})[row.key.removeprefix("_link_")] = value
    return found


def test_batch_job_links_resolve_after_the_run(user_dags, emulator, capfd):
    result = user_dags.run("fargate_batch_job", capfd)
    assert result.state == "success", result.task_states
    task_id = result.xcom["run_task"][0].rsplit("/", 1)[-1]
    links = _links("fargate_batch_job", result.run_id)
    assert links["create_cluster"] == {
        "EcsClusterLink": f"{CONSOLE}/ecs/v2/clusters/fargate-batch/services?region=us-east-1"
    }
    assert links["register_task_definition"] == {
        "EcsTaskDefinitionLink": f"{CONSOLE}/ecs/v2/task-definitions/batch-job/1/containers?region=us-east-1"
    }
    assert links["run_task"] == {
        "EcsClusterLink": f"{CONSOLE}/ecs/v2/clusters/fargate-batch/services?region=us-east-1",
        "EcsTaskDefinitionLink": f"{CONSOLE}/ecs/v2/task-definitions/batch-job/1/containers?region=us-east-1",
        "EcsTaskLink": f"{CONSOLE}/ecs/v2/clusters/fargate-batch/tasks/{task_id}/configuration?region=us-east-1",
        "TaskLogsLink": f"{CONSOLE}/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/"
        f"$252Fairflow$252Ffargate$252Fbatch-job/log-events/batch$252Fjob$252F{task_id}",
    }
    assert links["deregister_old_revisions"] == {
        "EcsTaskDefinitionLink": f"{CONSOLE}/ecs/v2/task-definitions/batch-job?region=us-east-1"
    }
    from tests.emulator.helpers import client

    ecs = client(emulator)
    ecs.deregister_task_definition(taskDefinition="batch-job:1")
    ecs.delete_cluster(cluster="fargate-batch")


def test_environment_links_resolve_for_service_tasks(user_dags, emulator, capfd):
    result = user_dags.run("fargate_ephemeral_environment", capfd, run_conf={"environment": "linked"})
    assert result.state == "success", result.task_states
    links = _links("fargate_ephemeral_environment", result.run_id)
    assert links["create_service"] == {
        "EcsClusterLink": f"{CONSOLE}/ecs/v2/clusters/env-linked/services?region=us-east-1",
        "EcsServiceLink": f"{CONSOLE}/ecs/v2/clusters/env-linked/services/linked/health?region=us-east-1",
        "EcsTaskDefinitionLink": f"{CONSOLE}/ecs/v2/task-definitions/env-linked/1/containers?region=us-east-1",
    }
    destroyed = user_dags.run(
        "fargate_ephemeral_environment", capfd, run_conf={"environment": "linked", "action": "destroy"}
    )
    links = _links("fargate_ephemeral_environment", destroyed.run_id)
    assert links["destroy_service"]["EcsServiceLink"].endswith(
        "/clusters/env-linked/services/linked/health?region=us-east-1"
    )
    assert links["destroy_cluster"] == {
        "EcsClusterLink": f"{CONSOLE}/ecs/v2/clusters/env-linked/services?region=us-east-1"
    }


@pytest.mark.parametrize(
    ("partition", "region", "console"),
    [
        ("aws", "eu-west-1", "https://console.aws.amazon.com"),
        ("aws-cn", "cn-north-1", "https://console.amazonaws.cn"),
        ("aws-us-gov", "us-gov-west-1", "https://console.amazonaws-us-gov.com"),
    ],
)
def test_links_follow_the_region_and_partition(partition, region, console):
    domain = EcsClusterLink.get_aws_domain(partition)
    fields = {"region_name": region, "aws_domain": domain}
    assert (
        EcsClusterLink().format_link(cluster_name="c", **fields)
        == f"{console}/ecs/v2/clusters/c/services?region={region}"
    )
    assert (
        EcsServiceLink()
        .format_link(cluster_name="c", service_name="s", **fields)
        .startswith(f"{console}/ecs/v2/clusters/c/services/s/")
    )
    assert (
        EcsTaskLink()
        .format_link(cluster_name="c", task_id="t1", **fields)
        .endswith(f"/tasks/t1/configuration?region={region}")
    )
    assert (
        EcsTaskDefinitionLink()
        .format_link(family="f", revision=3, **fields)
        .endswith(f"/task-definitions/f/3/containers?region={region}")
    )
    assert TaskLogsLink().format_link(log_group="/g", log_stream="p/c/t", **fields) == (
        f"{console}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/$252Fg/log-events/p$252Fc$252Ft"
    )


def test_partition_comes_from_the_connection_region(monkeypatch):
    import json

    from fargate_provider.hooks.fargate import FargateHook

    monkeypatch.setenv("AIRFLOW_CONN_AWS_CN", json.dumps({"conn_type": "aws", "extra": {"region_name": "cn-north-1"}}))
    hook = FargateHook(aws_conn_id="aws_cn")
    assert (hook.conn_region_name, hook.conn_partition) == ("cn-north-1", "aws-cn")


def test_console_log_escaping():
    assert console_log_escape("/aws/ecs/my app") == "$252Faws$252Fecs$252Fmy$2520app"
    assert (
        TaskLogsLink().format_link(region_name="us-east-1", aws_domain="aws.amazon.com", log_group="", log_stream="x")
        == ""
    )
