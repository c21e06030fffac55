"""Looking at the fake AWS from tests (boto3 straight at the endpoint: this is the test's view)."""

from __future__ import annotations

import threading
import urllib.request
from collections import Counter
from contextlib import contextmanager

import boto3
import botocore.endpoint

from fargate_local import leftovers


def ecs(endpoint: str):
    return boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1")


def reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).read()


def ecs_leftovers(endpoint: str) -> dict[str, list[str]]:
    """Every ECS resource still alive, the ELBv2 load balancers and target groups services are
    put behind, and ENIs tasks left (see fargate_local.leftovers)."""
    elbv2 = boto3.client("elbv2", endpoint_url=endpoint, region_name="us-east-1")
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1")
    return {
        **leftovers.ecs_leftovers(ecs(endpoint)),
        **leftovers.elbv2_leftovers(elbv2),
        **leftovers.network_interface_leftovers(ec2),
    }


class AwsCallRecorder:
    """Records every request botocore sends, to prove that bad input makes no AWS call."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def record(self, operation_name: str) -> None:
        with self._lock:
            self.calls.append(operation_name)


@contextmanager
def record_aws_calls():
    recorder = AwsCallRecorder()
    original = botocore.endpoint.Endpoint.make_request

    def make_request(self, operation_model, request_dict):
        recorder.record(operation_model.name)
        return original(self, operation_model, request_dict)

    botocore.endpoint.Endpoint.make_request = make_request
    try:
        yield recorder
    finally:
        botocore.endpoint.Endpoint.make_request = original


READ_PREFIXES = ("Describe", "List", "Get")


def mutating_calls(emulator, before: Counter) -> list[str]:
    """AWS calls the emulator answered since ``before`` (a copy of ``emulator.actions``) that are not read-only."""
    new = emulator.actions - before
    return sorted(a for a in new if not a.split(":", 1)[1].startswith(READ_PREFIXES))
