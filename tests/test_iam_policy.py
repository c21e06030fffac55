"""iam/airflow-policy.json is exactly what the provider calls: every AWS action the DAGs, operators,
sensors, triggers, preflight and the environments page make against the emulator (all services,
recorded at the emulator) is allowed, and the policy grants nothing that nobody calls.

The iam/ecs-task-execution-role.json file is the role the emulator itself creates at reset (so
make demo runs with exactly it); its shape is checked here too.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tests.emulator.helpers import client

IAM = Path(__file__).resolve().parent.parent / "iam"
# Actions IAM never asks permission for ("No permissions are required to perform this operation",
# STS GetCallerIdentity API reference).
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}
# Not an API call the emulator can see: ECS checks iam:PassRole for the roles a task definition
# names ("your IAM user has permissions to pass this role", ECS's launch error).
IMPLIED = {"iam:PassRole"}
# Tagging a target group while creating it needs AddTags as well as CreateTargetGroup ("tag on
# create": Elastic Load Balancing User Guide, "Resource-level permissions … AddTags").
IMPLIED |= {"elasticloadbalancing:AddTags"}

ECR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0"

OPERATORS_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.cluster import FargateCreateClusterOperator, FargateDeleteClusterOperator
from fargate_provider.operators.preflight import FargatePreflightOperator
from fargate_provider.operators.run_task import FargateRunTaskOperator
from fargate_provider.operators.service import FargateCreateServiceOperator, FargateUpdateServiceOperator
from fargate_provider.operators.task_definition import FargateRegisterTaskDefinitionOperator
from fargate_provider.sensors.service import FargateServiceStableSensor
from fargate_provider.sensors.task import FargateTaskStateSensor
NET = dict(subnets={subnets!r}, security_groups={groups!r})
with DAG(DAG_ID, schedule=None):
    preflight = FargatePreflightOperator(task_id="preflight", task_definition={spec!r}, **NET)
    cluster = FargateCreateClusterOperator(task_id="cluster", cluster_name="policy")
    register = FargateRegisterTaskDefinitionOperator(task_id="register", task_definition={plain!r})
    service = FargateCreateServiceOperator(task_id="service", cluster="policy", service_name="web",
                                           task_definition=register.output, poll_interval=0.5, **NET)
    update = FargateUpdateServiceOperator(task_id="update", cluster="policy", service="web", desired_count=2,
                                          poll_interval=0.5)
    stable = FargateServiceStableSensor(task_id="stable", cluster="policy", services=["web"], poll_interval=0.5)
    run = FargateRunTaskOperator(task_id="run", cluster="policy", task_definition=register.output,
                                 wait_for_completion=False, **NET)
    stopped = FargateTaskStateSensor(task_id="stopped", cluster="policy", tasks=run.output, poll_interval=0.5)
    long = FargateRegisterTaskDefinitionOperator(task_id="long", task_definition={long!r})
    running = FargateRunTaskOperator(task_id="running", cluster="policy", task_definition=long.output,
                                     wait_for_completion=False, **NET)
    # cascade: stops the running task
    delete = FargateDeleteClusterOperator(task_id="delete", cluster_name="policy", cascade=True)
    preflight >> cluster >> register >> service >> update >> stable >> run >> stopped >> long >> running >> delete
"""


def _policy() -> dict:
    return json.loads((IAM / "airflow-policy.json").read_text())


def _granted(policy: dict) -> set[str]:
    return {
        action
        for statement in policy["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }


def _workload(user_dags, airflow, emulator, capfd, monkeypatch) -> set[str]:
    """What a deployment does: both user DAGs (deferred waits included), the janitor, every
    operator and sensor, preflight of an ECR image with secrets, the environments page."""
    from fargate_provider.environments.discovery import describe_environments
    from fargate_provider.hooks.fargate import FargateHook

    ecs = client(emulator)
    conf = {"environment": "policy", "desired_count": 1}
    assert user_dags.run("fargate_ephemeral_environment", capfd, run_conf=conf).state == "success"
    # again, changed: the update path (cluster tags brought up to date, a new deployment)
    assert (
        user_dags.run("fargate_ephemeral_environment", capfd, run_conf={**conf, "desired_count": 2}).state == "success"
    )
    describe_environments(FargateHook(aws_conn_id="aws_default"), dt.datetime.now(dt.UTC))
    # behind the load balancer, and on public IPs; each destroyed again
    monkeypatch.setenv("AIRFLOW_VAR_FARGATE_ENVIRONMENTS_LISTENER_ARN", emulator.network["listener_arn"])
    monkeypatch.setenv("AIRFLOW_VAR_FARGATE_ENVIRONMENTS_DOMAIN", emulator.network["environments_domain"])
    lb = {"environment": "policy-lb"}
    assert user_dags.run("fargate_ephemeral_environment", capfd, run_conf={**conf, **lb}).state == "success"
    # asleep and awake again: its rule answers "asleep" and forwards again, the sleep tags come and go
    for action in ("sleep", "wake"):
        run = user_dags.run("fargate_ephemeral_environment", capfd, run_conf={**lb, "action": action})
        assert run.state == "success", run.task_states
    # updated: the reuse path (its target group's health check, and its rule's host for a new domain)
    monkeypatch.setenv("AIRFLOW_VAR_FARGATE_ENVIRONMENTS_DOMAIN", "moved." + emulator.network["environments_domain"])
    for extra in (
        {**lb, "health_check_path": "/ready"},
        {"environment": "policy-ip", "subnet_kind": "public", "expose": "public_ip"},
    ):
        assert user_dags.run("fargate_ephemeral_environment", capfd, run_conf={**conf, **extra}).state == "success"
        destroy = {"environment": extra["environment"], "action": "destroy"}
        assert user_dags.run("fargate_ephemeral_environment", capfd, run_conf=destroy).state == "success"
    recorded = set(emulator.actions)
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    arn = ecs.describe_clusters(clusters=["env-policy"])["clusters"][0]["clusterArn"]
    emulator.actions.clear()  # the test's own tagging below is not the provider's
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "fargate-expires-at", "value": past}])
    emulator.actions.clear()
    assert user_dags.run("fargate_environment_janitor", capfd).state == "success"
    assert (
        user_dags.run(
            "fargate_ephemeral_environment", capfd, run_conf={"environment": "gone", "action": "destroy"}
        ).state
        == "success"
    )
    assert (
        user_dags.run("fargate_batch_job", capfd, run_conf={"cluster": "policy-batch", "family": "policy-batch"}).state
        == "success"
    )
    recorded |= set(emulator.actions)

    spec = {
        "family": "policy",
        "cpu": "256",
        "memory": "512",
        "executionRoleArn": "ecsTaskExecutionRole",
        "containerDefinitions": [
            {
                "name": "app",
                "image": ECR_IMAGE,
                "secrets": [
                    {"name": "A", "valueFrom": "/fargate/a"},
                    {"name": "B", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:fargate/b-AbCdEf"},
                ],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": "/airflow/fargate/policy",
                        "awslogs-region": "us-east-1",
                        "awslogs-stream-prefix": "p",
                    },
                },
            }
        ],
    }
    plain = {
        "family": "policy-web",
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "nginx:1.27"}],
    }
    long = {**plain, "family": "policy-long"}
    emulator.add_behaviour(family="policy-long", run_seconds=3600)
    dag_id = airflow.write_dag(
        OPERATORS_DAG.format(
            spec=spec,
            plain=plain,
            long=long,
            subnets=emulator.network["private_subnets"],
            groups=[emulator.network["security_group"]],
        )
    )
    emulator.actions.clear()
    result = airflow.run(dag_id, capfd)
    recorded |= set(emulator.actions)
    assert (
        result.state == "failed" and result.task_states["preflight"] == "failed"
    )  # nothing of the spec exists: all checks ran
    # ... and the rest of the operators, without the preflight in front.
    dag_id = airflow.write_dag(
        OPERATORS_DAG.format(
            spec=plain,
            plain=plain,
            long=long,
            subnets=emulator.network["private_subnets"],
            groups=[emulator.network["security_group"]],
        )
    )
    emulator.actions.clear()
    result = airflow.run(dag_id, capfd)
    recorded |= set(emulator.actions)
    assert result.state == "success", result.task_states
    for arn in ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]:
        ecs.deregister_task_definition(taskDefinition=arn)
    ecs.delete_cluster(cluster="policy-batch")
    return recorded


def test_policy_allows_every_call_the_provider_makes_and_nothing_else(user_dags, airflow, emulator, capfd, monkeypatch):
    called = _workload(user_dags, airflow, emulator, capfd, monkeypatch) - NEEDS_NO_PERMISSION
    granted = _granted(_policy())
    print("\nrecorded actions:", json.dumps(sorted(called), indent=1))
    assert called - granted == set(), f"the policy lacks {sorted(called - granted)}"
    assert granted - called - IMPLIED == set(), (
        f"the policy grants what nothing calls: {sorted(granted - called - IMPLIED)}"
    )


def test_pass_role_is_limited_to_task_roles_and_ecs_tasks():
    statements = [
        s
        for s in _policy()["Statement"]
        if "iam:PassRole" in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert len(statements) == 1
    statement = statements[0]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    assert statement["Resource"] != "*" and all(":role/" in r for r in statement["Resource"])


def test_the_execution_role_file_is_the_emulators_role(emulator):
    document = json.loads((IAM / "ecs-task-execution-role.json").read_text())
    iam = client(emulator, "iam")
    role = iam.get_role(RoleName=document["RoleName"])["Role"]
    assert role["AssumeRolePolicyDocument"] == document["AssumeRolePolicyDocument"]
    attached = [
        p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=document["RoleName"])["AttachedPolicies"]
    ]
    assert attached == document["ManagedPolicyArns"]
    assert sorted(iam.list_role_policies(RoleName=document["RoleName"])["PolicyNames"]) == sorted(
        document["InlinePolicies"]
    )
