"""Shared bits of the emulator tests: clients, a task definition, the network, polling."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from tests.helpers.polling import wait_for


def client(emulator, service: str = "ecs", retries: int | None = None, region: str = "us-east-1"):
    config = Config(retries={"mode": "standard", "total_max_attempts": retries}) if retries else None
    return boto3.client(service, endpoint_url=emulator.endpoint, region_name=region, config=config)


def register(
    ecs, family: str = "job", image: str = "busybox:1.36", *, logs_group: str | None = None, **extra: Any
) -> str:
    container: dict[str, Any] = {"name": "app", "image": image, "essential": True}
    if logs_group:
        # ECS refuses awslogs on Fargate without an execution role: the emulator's ready-made one.
        extra.setdefault("executionRoleArn", EXECUTION_ROLE)
        container["logConfiguration"] = {
            "logDriver": "awslogs",
            "options": {"awslogs-group": logs_group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"},
        }
    container.update(extra.pop("container", {}))
    spec = {
        "family": family,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [container],
    }
    spec.update(extra)
    return ecs.register_task_definition(**spec)["taskDefinition"]["taskDefinitionArn"]


EXECUTION_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"


def create_service(ecs, emulator, name: str, family: str, *, cluster: str = "c", desired: int = 1) -> dict[str, Any]:
    """A Fargate service of ``family`` in the emulator's private subnets; CreateService's ``service``."""
    return ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=family,
        desiredCount=desired,
        launchType="FARGATE",
        networkConfiguration=network(emulator),
    )["service"]


def network(emulator, kind: str = "private", **extra: Any) -> dict[str, Any]:
    return {
        "awsvpcConfiguration": {
            "subnets": emulator.network[f"{kind}_subnets"],
            "securityGroups": [emulator.network["security_group"]],
            **extra,
        }
    }


def wait(description: str, condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll until ``condition()`` is truthy; fail with ``description`` after ``timeout`` seconds."""
    return wait_for(description, condition, timeout, interval)


FAST = {"Delay": 0.1, "MaxAttempts": 300}


def cleanup(ecs, cluster: str = "c") -> None:
    """Delete services (force) and stop tasks, deregister task definitions, delete the cluster."""
    services = [
        arn for page in ecs.get_paginator("list_services").paginate(cluster=cluster) for arn in page["serviceArns"]
    ]
    for start in range(0, len(services), 10):  # DescribeServices takes ten at a time
        batch = services[start : start + 10]
        described = ecs.describe_services(cluster=cluster, services=batch)["services"]
        for arn in [s["serviceArn"] for s in described if s["status"] == "ACTIVE"]:
            ecs.delete_service(cluster=cluster, service=arn, force=True)
        # (botocore's services_inactive waiter succeeds once ANY of them is INACTIVE: all must be)
        going = [s["serviceArn"] for s in described if s["status"] != "INACTIVE"]
        if going:
            wait_for(
                f"services of {cluster} INACTIVE",
                lambda going=going: all(
                    s["status"] == "INACTIVE"
                    for s in ecs.describe_services(cluster=cluster, services=going)["services"]
                ),
                60,
            )
    tasks = ecs.list_tasks(cluster=cluster)["taskArns"]
    for arn in tasks:
        ecs.stop_task(cluster=cluster, task=arn)
    # and tasks already told to stop that are still on their way
    tasks += ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"]
    for start in range(0, len(tasks), 100):
        ecs.get_waiter("tasks_stopped").wait(cluster=cluster, tasks=tasks[start : start + 100], WaiterConfig=FAST)
    for arn in ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]:
        ecs.deregister_task_definition(taskDefinition=arn)
    ecs.delete_cluster(cluster=cluster)


# A role ECS tasks may assume, and an image manifest ECR takes (PutImage), for task-start tests.
ECS_TASKS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1470,
            "digest": "sha256:" + "a" * 64,
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 2811478,
                "digest": "sha256:" + "b" * 64,
            }
        ],
    }
)
