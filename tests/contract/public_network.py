"""awsvpcConfiguration in a public subnet (routed to an internet gateway), for tests about a
task's public IP: the emulator's public subnets, or in AWS mode FARGATE_CONTRACT_PUBLIC_SUBNETS
with FARGATE_CONTRACT_SECURITY_GROUP (the test is skipped when they are not set). As a function
(``public_awsvpc(request)``) or as the fixture ``public_task_network`` imported into a test module."""

from __future__ import annotations

import os

import pytest

from tests.contract.conftest import AGAINST_AWS

# Fargate takes a minute or so to start a task; the emulator a fraction of a second.
TIMEOUT = 300.0 if AGAINST_AWS else 20.0


def public_awsvpc(request: pytest.FixtureRequest) -> dict:
    if AGAINST_AWS:
        subnets, group = os.environ.get("FARGATE_CONTRACT_PUBLIC_SUBNETS"), os.environ.get("FARGATE_CONTRACT_SECURITY_GROUP")
        if not (subnets and group):
            pytest.skip("set FARGATE_CONTRACT_PUBLIC_SUBNETS and FARGATE_CONTRACT_SECURITY_GROUP to start tasks in a public subnet")
        return {"awsvpcConfiguration": {"subnets": subnets.split(","), "securityGroups": [group]}}
    emulator = request.getfixturevalue("emulator")
    return {"awsvpcConfiguration": {"subnets": emulator.network["public_subnets"], "securityGroups": [emulator.network["security_group"]]}}


@pytest.fixture
def public_task_network(request):
    return public_awsvpc(request)
