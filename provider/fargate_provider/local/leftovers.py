"""What is still alive in an ECS endpoint: the one definition of "nothing left behind" that
the tests' leak check and `make demo`'s summary both use."""

from __future__ import annotations

from typing import Any


def ecs_leftovers(ecs: Any) -> dict[str, list[str]]:
    """ACTIVE clusters, their services not INACTIVE, tasks not stopped, ACTIVE task definitions
    (``ecs`` is a boto3 ECS client)."""
    leftovers: dict[str, list[str]] = {}
    cluster_arns = ecs.list_clusters()["clusterArns"]
    clusters = ecs.describe_clusters(clusters=cluster_arns)["clusters"] if cluster_arns else []
    active = [c for c in clusters if c["status"] != "INACTIVE"]
    if active:
        leftovers["clusters"] = [c["clusterName"] for c in active]
    for cluster in active:
        services = ecs.list_services(cluster=cluster["clusterArn"])["serviceArns"]
        if services:
            described = ecs.describe_services(cluster=cluster["clusterArn"], services=services)["services"]
            alive = [s["serviceName"] for s in described if s["status"] != "INACTIVE"]
            if alive:
                leftovers.setdefault("services", []).extend(alive)
        tasks = ecs.list_tasks(cluster=cluster["clusterArn"], desiredStatus="RUNNING")["taskArns"]
        if tasks:
            leftovers.setdefault("tasks", []).extend(tasks)
    task_defs = ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]
    if task_defs:
        leftovers["task_definitions"] = task_defs
    return leftovers
