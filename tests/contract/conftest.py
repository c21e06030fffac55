"""The ECS contract: tests written against AWS's APIs only (boto3, no emulator internals).

By default they run against the local emulator. With ``FARGATE_CONTRACT_AWS=1`` and AWS
credentials in the environment they run against that account instead: everything they create
is named with a run prefix, tagged ``managed-by=airflow-provider-fargate-contract`` and deleted in
a finalizer (clusters without tasks or services cost nothing; a Fargate task is billed by the
second, one minute at least: well under a cent per run).
"""

from __future__ import annotations

import os
import uuid

import boto3
import pytest

AGAINST_AWS = os.environ.get("FARGATE_CONTRACT_AWS") == "1"
CONTRACT_TAG = {"key": "managed-by", "value": "airflow-provider-fargate-contract"}


@pytest.fixture
def aws(request):
    """``aws("ecs")`` → a boto3 client of the account under test (the emulator by default)."""
    if AGAINST_AWS:
        region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        return lambda service: boto3.client(service, region_name=region)
    emulator = request.getfixturevalue("emulator")
    return lambda service: boto3.client(service, endpoint_url=emulator.endpoint, region_name="us-east-1")


@pytest.fixture
def cluster(aws):
    """A fresh, tagged cluster for one test; deleted afterwards, whatever happened."""
    ecs = aws("ecs")
    name = f"contract-{uuid.uuid4().hex[:10]}"
    ecs.create_cluster(clusterName=name, tags=[CONTRACT_TAG])
    yield name
    ecs.delete_cluster(cluster=name)


# Fargate takes a minute or so to start a task; the emulator a fraction of a second.
TIMEOUT = 300.0 if AGAINST_AWS else 20.0
_SUBNETS = {"private": "FARGATE_CONTRACT_SUBNETS", "public": "FARGATE_CONTRACT_PUBLIC_SUBNETS"}


def awsvpc(request: pytest.FixtureRequest, kind: str = "private") -> dict:
    """A task's networkConfiguration in the emulator's ``kind`` subnets, or in AWS mode the
    subnets in FARGATE_CONTRACT_SUBNETS (private) / FARGATE_CONTRACT_PUBLIC_SUBNETS (public, routed
    to an internet gateway) with FARGATE_CONTRACT_SECURITY_GROUP; skipped when they are not set."""
    if AGAINST_AWS:
        subnets, group = os.environ.get(_SUBNETS[kind]), os.environ.get("FARGATE_CONTRACT_SECURITY_GROUP")
        if not (subnets and group):
            pytest.skip(f"set {_SUBNETS[kind]} and FARGATE_CONTRACT_SECURITY_GROUP to start tasks in the account")
        return {"awsvpcConfiguration": {"subnets": subnets.split(","), "securityGroups": [group]}}
    emulator = request.getfixturevalue("emulator")
    return {
        "awsvpcConfiguration": {
            "subnets": emulator.network[f"{kind}_subnets"],
            "securityGroups": [emulator.network["security_group"]],
        }
    }


@pytest.fixture
def task_network(request):
    """awsvpcConfiguration for a task in private subnets (see ``awsvpc``)."""
    return awsvpc(request, "private")


@pytest.fixture
def public_task_network(request):
    """awsvpcConfiguration for a task in public subnets (see ``awsvpc``)."""
    return awsvpc(request, "public")


SLEEPER_IMAGE = "public.ecr.aws/docker/library/busybox:1.36"


def register_sleeper(ecs, family: str, image: str = SLEEPER_IMAGE) -> dict:
    """A Fargate task definition of one essential container that sleeps an hour, tagged as the contract
    tests' own; returns ECS's taskDefinition."""
    return ecs.register_task_definition(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": image, "essential": True, "command": ["sleep", "3600"]}],
        tags=[CONTRACT_TAG],
    )["taskDefinition"]
