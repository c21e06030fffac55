"""What is still alive in an ECS endpoint: the one definition of "nothing left behind" that
the tests' leak check and `make demo`'s summary both use."""

from __future__ import annotations

import time
from typing import Any


def _all(ecs: Any, operation: str, key: str, **params: Any) -> list[str]:
    """Every page: ECS pages its lists (ListServices by 10, the others by 100)."""
    return [item for page in ecs.get_paginator(operation).paginate(**params) for item in page[key]]


def ecs_leftovers(ecs: Any) -> dict[str, list[str]]:
    """ACTIVE clusters, their services not INACTIVE, tasks not stopped, ACTIVE task definitions
    (``ecs`` is a boto3 ECS client)."""
    leftovers: dict[str, list[str]] = {}
    cluster_arns = _all(ecs, "list_clusters", "clusterArns")
    clusters = [
        c
        for i in range(0, len(cluster_arns), 100)
        for c in ecs.describe_clusters(clusters=cluster_arns[i : i + 100])["clusters"]
    ]
    active = [c for c in clusters if c["status"] != "INACTIVE"]
    if active:
        leftovers["clusters"] = [c["clusterName"] for c in active]
    for cluster in active:
        services = _all(ecs, "list_services", "serviceArns", cluster=cluster["clusterArn"])
        if services:
            described = [
                s
                for i in range(0, len(services), 10)
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


# The tag of the emulator's ready-made network (moto_bridge.NETWORK_TAG, not imported: this module runs
# against real AWS too, without moto). Its load balancer and listener are part of the account, not leftovers.
READY_MADE_TAG = "fargate-local"


def elbv2_leftovers(elbv2: Any) -> dict[str, list[str]]:
    """Load balancers and target groups (``elbv2`` is a boto3 ELBv2 client): what services behind
    a load balancer leave when a test forgets them. A ready-made load balancer (tagged READY_MADE_TAG)
    is not one, but a listener someone added to it (untagged) and the rules added to its listeners are."""
    leftovers: dict[str, list[str]] = {}
    balancers = [
        lb for page in elbv2.get_paginator("describe_load_balancers").paginate() for lb in page["LoadBalancers"]
    ]
    ready_made = _tagged(elbv2, [lb["LoadBalancerArn"] for lb in balancers], READY_MADE_TAG)
    others = [lb["LoadBalancerName"] for lb in balancers if lb["LoadBalancerArn"] not in ready_made]
    if others:
        leftovers["load_balancers"] = others
    listeners = [
        li
        for arn in ready_made
        for page in elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=arn)
        for li in page["Listeners"]
    ]
    ready_listeners = _tagged(elbv2, [li["ListenerArn"] for li in listeners], READY_MADE_TAG)
    added = [li["ListenerArn"] for li in listeners if li["ListenerArn"] not in ready_listeners]
    if added:
        leftovers["listeners"] = added
    rules = [rule["RuleArn"] for arn in ready_listeners for rule in _rules(elbv2, arn) if not rule.get("IsDefault")]
    if rules:
        leftovers["listener_rules"] = rules
    groups = [
        tg["TargetGroupName"]
        for page in elbv2.get_paginator("describe_target_groups").paginate()
        for tg in page["TargetGroups"]
    ]
    if groups:
        leftovers["target_groups"] = groups
    return leftovers


def _tagged(elbv2: Any, arns: list[str], key: str) -> set[str]:
    """The ARNs (ELBv2 resources) carrying the tag ``key``; DescribeTags takes 20 at a time."""
    found: set[str] = set()
    for i in range(0, len(arns), 20):
        for description in elbv2.describe_tags(ResourceArns=arns[i : i + 20])["TagDescriptions"]:
            if any(tag["Key"] == key for tag in description.get("Tags", [])):
                found.add(description["ResourceArn"])
    return found


def _rules(elbv2: Any, listener_arn: str) -> list[dict[str, Any]]:
    return [
        rule
        for page in elbv2.get_paginator("describe_rules").paginate(ListenerArn=listener_arn)
        for rule in page["Rules"]
    ]


def network_interface_leftovers(ec2: Any, settle: float = 5.0) -> dict[str, list[str]]:
    """ENIs (``ec2`` is a boto3 EC2 client) other than those of NAT gateways and VPC endpoints, which
    belong to the network: what tasks leave if their ENIs outlive them. A task told to stop releases
    its ENI at STOPPED, a moment later: up to ``settle`` seconds are allowed for that."""
    deadline = time.monotonic() + settle
    while True:
        left = [
            eni["NetworkInterfaceId"]
            for page in ec2.get_paginator("describe_network_interfaces").paginate()
            for eni in page["NetworkInterfaces"]
        ]
        for owners in (_nat_gateway_enis, _vpc_endpoint_enis):
            if left:
                owned = owners(ec2)
                left = [eni for eni in left if eni not in owned]
        if not left or time.monotonic() > deadline:
            return {"network_interfaces": left} if left else {}
        time.sleep(0.05)


def _nat_gateway_enis(ec2: Any) -> set[str]:
    return {
        address.get("NetworkInterfaceId")
        for page in ec2.get_paginator("describe_nat_gateways").paginate()
        for nat in page["NatGateways"]
        for address in nat.get("NatGatewayAddresses", [])
    }


def _vpc_endpoint_enis(ec2: Any) -> set[str]:
    return {
        eni
        for page in ec2.get_paginator("describe_vpc_endpoints").paginate()
        for endpoint in page["VpcEndpoints"]
        for eni in endpoint.get("NetworkInterfaceIds", [])
    }
