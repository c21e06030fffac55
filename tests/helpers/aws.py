"""Looking at the fake AWS from tests (boto3 straight at the endpoint: this is the test's view)."""

from __future__ import annotations

import threading
import urllib.request
from contextlib import contextmanager

import boto3
import botocore.endpoint


def ecs(endpoint: str):
    return boto3.client("ecs", endpoint_url=endpoint, region_name="us-east-1")


def reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).read()


def ecs_leftovers(endpoint: str) -> dict[str, list[str]]:
    """Every ECS resource still alive: ACTIVE clusters, services, running tasks, ACTIVE task definitions."""
    client = ecs(endpoint)
    leftovers: dict[str, list[str]] = {}
    cluster_arns = client.list_clusters()["clusterArns"]
    clusters = client.describe_clusters(clusters=cluster_arns)["clusters"] if cluster_arns else []
    active = [c for c in clusters if c["status"] != "INACTIVE"]
    if active:
        leftovers["clusters"] = [c["clusterName"] for c in active]
    for cluster in active:
        services = client.list_services(cluster=cluster["clusterArn"])["serviceArns"]
        if services:
            described = client.describe_services(cluster=cluster["clusterArn"], services=services)["services"]
            alive = [s["serviceName"] for s in described if s["status"] != "INACTIVE"]
            if alive:
                leftovers.setdefault("services", []).extend(alive)
        tasks = client.list_tasks(cluster=cluster["clusterArn"], desiredStatus="RUNNING")["taskArns"]
        if tasks:
            leftovers.setdefault("tasks", []).extend(tasks)
    task_defs = client.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]
    if task_defs:
        leftovers["task_definitions"] = task_defs
    return leftovers


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
