"""A real deployment CLI nobody here wrote against the emulator: fabfuel's ecs-deploy (PyPI ecs-deploy,
pinned in the test extra). Its deploy, scale, update and run commands as its README uses them, each ending
as it ends on AWS, and what it leaves (revisions deregistered, the service's tasks) checked through ECS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.emulator.helpers import client
from tests.helpers.polling import wait_for

BIN = Path(sys.executable).parent


def ecs_deploy(emulator, *args: str) -> str:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": emulator.endpoint,  # boto3 reads it: the CLI has no --endpoint-url
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    done = subprocess.run([str(BIN / "ecs"), *args], capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, f"ecs {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


def test_ecs_deploy_deploys_scales_updates_and_runs(emulator):
    ecs = client(emulator)
    subnet, group = emulator.network["private_subnets"][0], emulator.network["security_group"]
    ecs.create_cluster(clusterName="deploy")
    ecs.register_task_definition(
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {"name": "app", "image": "nginx:1.27", "essential": True, "portMappings": [{"containerPort": 80}]}
        ],
    )
    network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}
    ecs.create_service(
        cluster="deploy",
        serviceName="web",
        taskDefinition="web",
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration=network,
    )
    try:
        out = ecs_deploy(emulator, "deploy", "deploy", "web", "--image", "app", "nginx:1.28", "--timeout", "120")
        assert "Deployment successful" in out and "Successfully deregistered revision: 1" in out
        service = ecs.describe_services(cluster="deploy", services=["web"])["services"][0]
        assert service["taskDefinition"].endswith("web:2") and len(service["deployments"]) == 1
        assert ecs.describe_task_definition(taskDefinition="web:1")["taskDefinition"]["status"] == "INACTIVE"

        out = ecs_deploy(emulator, "scale", "deploy", "web", "3", "--timeout", "120")
        assert "Scaling successful" in out
        assert ecs.describe_services(cluster="deploy", services=["web"])["services"][0]["runningCount"] == 3

        # update: a new revision of the family, registered from the latest ACTIVE one (not the deregistered 1).
        out = ecs_deploy(emulator, "update", "web", "--image", "app", "nginx:1.29")
        latest = ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]
        assert latest["revision"] == 3 and latest["containerDefinitions"][0]["image"] == "nginx:1.29"

        out = ecs_deploy(
            emulator,
            "run",
            "deploy",
            "web",
            "--launchtype",
            "FARGATE",
            "--subnet",
            subnet,
            "--securitygroup",
            group,
        )
        assert "Successfully started 1 instances of task: web:" in out, out
        one_off = wait_for(
            "ecs run's task",
            lambda: [  # the one-off task may have ended already: RUNNING or STOPPED
                arn
                for status in ("RUNNING", "STOPPED")
                for arn in ecs.list_tasks(cluster="deploy", startedBy="ECS Deploy", desiredStatus=status)["taskArns"]
            ],
            timeout=30,
        )
        assert len(one_off) == 1
    finally:
        for arn in ecs.list_tasks(cluster="deploy")["taskArns"]:
            ecs.stop_task(cluster="deploy", task=arn)
        ecs.delete_service(cluster="deploy", service="web", force=True)
        wait_for(
            "the service to be INACTIVE",
            lambda: ecs.describe_services(cluster="deploy", services=["web"])["services"][0]["status"] == "INACTIVE",
            timeout=60,
        )
        for arn in ecs.list_task_definitions(familyPrefix="web", status="ACTIVE")["taskDefinitionArns"]:
            ecs.deregister_task_definition(taskDefinition=arn)
        wait_for(
            "the tasks to stop",
            lambda: not ecs.list_tasks(cluster="deploy", desiredStatus="RUNNING")["taskArns"],
            timeout=60,
        )
        ecs.delete_cluster(cluster="deploy")
