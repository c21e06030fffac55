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


@pytest.fixture
def task_network(request):
    """awsvpcConfiguration for a task: the emulator's private subnets, or in AWS mode the
    subnets and group from FARGATE_CONTRACT_SUBNETS / FARGATE_CONTRACT_SECURITY_GROUP."""
    if AGAINST_AWS:
        subnets, group = os.environ.get("FARGATE_CONTRACT_SUBNETS"), os.environ.get("FARGATE_CONTRACT_SECURITY_GROUP")
        if not (subnets and group):
            pytest.skip("set FARGATE_CONTRACT_SUBNETS and FARGATE_CONTRACT_SECURITY_GROUP to start tasks in the account")
        return {"awsvpcConfiguration": {"subnets": subnets.split(","), "securityGroups": [group]}}
    emulator = request.getfixturevalue("emulator")
    return {"awsvpcConfiguration": {"subnets": emulator.network["private_subnets"], "securityGroups": [emulator.network["security_group"]]}}
