"""Never touch what is not ours: create does not adopt (unless told to), never overwrites another
tool's managed-by, and the janitor leaves clusters holding someone else's tasks alone — saying so
once, not failing every hour."""

from __future__ import annotations

import datetime as dt

from tests.emulator.helpers import FAST, client
from tests.test_dags import _cluster_tags, _environment_conf

CLUSTER_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.cluster import FargateCreateClusterOperator, FargateDeleteClusterOperator
with DAG(DAG_ID, schedule=None):
    FargateCreateClusterOperator(task_id="create", cluster_name="shared", adopt={adopt!r}) >> \\
        FargateDeleteClusterOperator(
            task_id="delete", cluster_name="shared", require_tags={{"managed-by": "airflow-provider-fargate"}}
        )
"""


def _network(emulator) -> dict:
    return {
        "awsvpcConfiguration": {
            "subnets": emulator.network["private_subnets"],
            "securityGroups": [emulator.network["security_group"]],
        }
    }


def test_create_cluster_refuses_a_foreign_cluster_and_adopt_never_overwrites_its_managed_by(airflow, emulator, capfd):
    ecs = client(emulator)
    ecs.create_cluster(
        clusterName="shared", tags=[{"key": "managed-by", "value": "terraform"}, {"key": "team", "value": "payments"}]
    )
    refused = airflow.run(airflow.write_dag(CLUSTER_DAG.format(adopt=False)), capfd)
    assert refused.task_states == {"create": "failed", "delete": "upstream_failed"}
    assert (
        "NotOursError: Cluster shared already exists and is not ours: it lacks managed-by=airflow-provider-fargate "
        "(its tags: managed-by=terraform, team=payments). Nothing was changed."
    ) in refused.log
    assert _cluster_tags(ecs, "shared") == {"managed-by": "terraform", "team": "payments"}

    adopted = airflow.run(airflow.write_dag(CLUSTER_DAG.format(adopt=True)), capfd)
    assert adopted.task_states["create"] == "success"
    assert "Adopting Cluster shared (adopt=True); its tags were: managed-by=terraform, team=payments" in adopted.log
    tags = _cluster_tags(ecs, "shared")
    assert tags["managed-by"] == "terraform" and tags["airflow-run-id"] == adopted.run_id  # ours added, theirs kept
    # ... and delete does not reach past the tag: still terraform's.
    assert adopted.task_states["delete"] == "failed" and "left alone (require_tags)" in adopted.log
    assert ecs.describe_clusters(clusters=["shared"])["clusters"][0]["status"] == "ACTIVE"
    ecs.delete_cluster(cluster="shared")


def test_environment_create_does_not_take_over_a_foreign_service(user_dags, emulator, capfd):
    """A cluster env-foo with a service foo made by plain boto3: create foo fails and changes nothing."""
    ecs = client(emulator)
    ecs.create_cluster(clusterName="env-foo")
    theirs = ecs.register_task_definition(
        family="theirs",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "theirs:1"}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster="env-foo",
        serviceName="foo",
        taskDefinition=theirs,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=_network(emulator),
    )
    result = user_dags.run("fargate_ephemeral_environment", capfd, run_conf=_environment_conf("foo"))
    assert result.state == "failed" and result.task_states["create_cluster"] == "failed"
    assert "Cluster env-foo already exists and is not ours" in result.log
    assert {result.task_states[t] for t in ("cleanup_service", "cleanup_task_definition", "cleanup_cluster")} <= {
        "skipped",
        "upstream_failed",
    }
    service = ecs.describe_services(cluster="env-foo", services=["foo"])["services"][0]
    assert service["status"] == "ACTIVE" and service["taskDefinition"] == theirs  # still runs their image
    assert _cluster_tags(ecs, "env-foo") == {}

    # Even inside one of our environments' clusters, a foreign service of the name is not updated.
    ecs.delete_service(cluster="env-foo", service="foo", force=True)
    ecs.get_waiter("services_inactive").wait(cluster="env-foo", services=["foo"], WaiterConfig=FAST)
    ecs.delete_cluster(cluster="env-foo")
    assert (
        user_dags.run("fargate_ephemeral_environment", capfd, run_conf=_environment_conf("bar", desired_count=1)).state
        == "success"
    )
    ecs.delete_service(cluster="env-bar", service="bar", force=True)
    ecs.get_waiter("services_inactive").wait(cluster="env-bar", services=["bar"], WaiterConfig=FAST)
    ecs.create_service(
        cluster="env-bar",
        serviceName="bar",
        taskDefinition=theirs,
        desiredCount=0,
        launchType="FARGATE",
        networkConfiguration=_network(emulator),
    )
    again = user_dags.run("fargate_ephemeral_environment", capfd, run_conf=_environment_conf("bar", desired_count=1))
    assert again.state == "failed" and again.task_states["create_service"] == "failed"
    assert "Service bar in cluster env-bar already exists and is not ours" in again.log
    assert ecs.describe_services(cluster="env-bar", services=["bar"])["services"][0]["taskDefinition"] == theirs
    ecs.delete_service(cluster="env-bar", service="bar", force=True)
    ecs.get_waiter("services_inactive").wait(cluster="env-bar", services=["bar"], WaiterConfig=FAST)
    assert (
        user_dags.run(
            "fargate_ephemeral_environment", capfd, run_conf={"environment": "bar", "action": "destroy"}
        ).state
        == "success"
    )
    ecs.deregister_task_definition(taskDefinition=theirs)


def test_environment_create_refuses_another_environments_cluster(user_dags, emulator, capfd):
    """Ours, but another environment's (its fargate-environment tag differs): not reused."""
    ecs = client(emulator)
    ecs.create_cluster(
        clusterName="env-adopt",
        tags=[
            {"key": "managed-by", "value": "airflow-provider-fargate"},
            {"key": "fargate-environment", "value": "someone-else"},
        ],
    )
    created = user_dags.run("fargate_ephemeral_environment", capfd, run_conf=_environment_conf("adopt"))
    assert created.state == "failed" and "lacks fargate-environment=adopt" in created.log
    destroyed = user_dags.run(
        "fargate_ephemeral_environment", capfd, run_conf={"environment": "adopt", "action": "destroy"}
    )
    assert destroyed.task_states["destroy_cluster"] == "failed" and "Deleted cluster env-adopt" not in destroyed.log
    assert ecs.describe_clusters(clusters=["env-adopt"])["clusters"][0]["status"] == "ACTIVE"
    ecs.delete_cluster(cluster="env-adopt")


def test_janitor_leaves_a_cluster_with_a_foreign_task_alone_and_says_so_once(user_dags, emulator, capfd, caplog):
    ecs = client(emulator)
    assert (
        user_dags.run("fargate_ephemeral_environment", capfd, run_conf=_environment_conf("busy", desired_count=1)).state
        == "success"
    )
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    arn = ecs.describe_clusters(clusters=["env-busy"])["clusters"][0]["clusterArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "fargate-expires-at", "value": past}])
    emulator.add_behaviour(family="their-job", run_seconds=3600)
    their = ecs.register_task_definition(
        family="their-job",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "theirs:1"}],
    )["taskDefinition"]["taskDefinitionArn"]
    task = ecs.run_task(
        cluster="env-busy", taskDefinition=their, launchType="FARGATE", networkConfiguration=_network(emulator)
    )["tasks"][0]

    first = user_dags.run("fargate_environment_janitor", capfd)
    assert first.state == "success", first.task_states
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "Left alone" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith(
        "Left alone: env-busy: holds tasks not managed by the provider"
    )
    assert "Expired environments: none" in first.log
    caplog.clear()
    second = user_dags.run("fargate_environment_janitor", capfd)
    assert second.state == "success" and "Still left alone (reported " in second.log
    assert not [r for r in caplog.records if r.levelname == "WARNING" and "Left alone" in r.getMessage()]
    assert ecs.describe_clusters(clusters=["env-busy"])["clusters"][0]["status"] == "ACTIVE"
    assert ecs.describe_tasks(cluster="env-busy", tasks=[task["taskArn"]])["tasks"][0]["desiredStatus"] == "RUNNING"
    # Someone extended it after that note and its new time passed too: that is news, said once more.
    now = dt.datetime.now(dt.UTC)
    ecs.tag_resource(
        resourceArn=arn,
        tags=[
            {
                "key": "fargate-janitor-left-alone-since",
                "value": (now - dt.timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            {"key": "fargate-expires-at", "value": (now - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")},
        ],
    )
    caplog.clear()
    again = user_dags.run("fargate_environment_janitor", capfd)
    assert again.state == "success"
    assert (
        len([r for r in caplog.records if r.levelname == "WARNING" and "Left alone: env-busy" in r.getMessage()]) == 1
    )

    ecs.stop_task(cluster="env-busy", task=task["taskArn"])
    ecs.get_waiter("tasks_stopped").wait(cluster="env-busy", tasks=[task["taskArn"]], WaiterConfig=FAST)
    # A standalone task of ours does not keep the environment: the janitor stops it.
    ours = ecs.run_task(
        cluster="env-busy",
        taskDefinition=their,
        launchType="FARGATE",
        networkConfiguration=_network(emulator),
        tags=[{"key": "managed-by", "value": "airflow-provider-fargate"}],
    )["tasks"][0]
    third = user_dags.run("fargate_environment_janitor", capfd)
    assert third.state == "success", third.log[-3000:]
    assert "Expired environments: ['busy']" in third.log and "Stopping 1 task(s) of ours in env-busy" in third.log
    assert ecs.describe_tasks(cluster="env-busy", tasks=[ours["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED"
    ecs.deregister_task_definition(taskDefinition=their)
