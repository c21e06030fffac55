"""What is still alive in an ECS endpoint: the one definition of "nothing left behind" that
the tests' leak check and `make demo`'s summary both use."""

from __future__ import annotations

from typing import Any


def _all(ecs: Any, operation: str, key: str, **params: Any) -> list[str]:
    """Every page: ECS pages its lists (ListServices by 10, the others by 100)."""
    return [item for page in ecs.get_paginator(operation).paginate(**params) for item in page[key]]


def ecs_leftovers(ecs: Any) -> dict[str, list[str]]:
    """ACTIVE clusters, their services not INACTIVE, tasks not stopped, ACTIVE task definitions
    (``ecs`` is a boto3 ECS client)."""
    leftovers: dict[str, list[str]] = {}
    cluster_arns = _all(ecs, "list_clusters", "clusterArns")
    clusters = [c for i in range(0, len(cluster_arns), 100) for c in ecs.describe_clusters(clusters=cluster_arns[i : i + 100])["clusters"]]
    active = [c for c in clusters if c["status"] != "INACTIVE"]
    if active:
        leftovers["clusters"] = [c["clusterName"] for c in active]
    for cluster in active:
        services = _all(ecs, "list_services", "serviceArns", cluster=cluster["clusterArn"])
        if services:
            described = [
                s for i in range(0, len(services), 10)
                for s in ecs.describe_services(cluster=cluster["clusterArn"], services=services[i : i + 10])["services"]
            ]
            alive = [s["serviceName"] for s in described if s["status"] != "INACTIVE"]
            if alive:
                leftovers.setdefault("services", []).extend(alive)
        tasks = _all(ecs, "list_tasks", "taskArns", cluster=cluster["clusterArn"], desiredStatus="RUNNING")
        if tasks:
            leftovers.setdefault("tasks", []).extend(tasks)
    task_defs = _all(ecs, "list_task_definitions", "taskDefinitionArns", status="ACTIVE")
    if task_defs:
        leftovers["task_definitions"] = task_defs
    return leftovers
