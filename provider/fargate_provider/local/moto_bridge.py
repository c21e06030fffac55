"""Everything of the emulator that reaches into moto's internals, in one place.

The control plane works on the model objects this module hands it (moto's Cluster,
TaskDefinition and Service, and our EmulatedTask stored beside moto's tasks); the
attributes it reads and sets on them are listed in MODEL_ATTRIBUTES_USED and checked
against the pinned moto by the contract test.

moto is pinned (5.2.5) because of this module: its backends, models and server app are
not a public API. tests/emulator/test_moto_contract.py fails loudly when the installed
moto no longer has what is used here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import moto
from moto.core.exceptions import JsonRESTError, ServiceException
from moto.ec2.exceptions import InvalidSecurityGroupNotFoundError, InvalidSubnetIdError
from moto.ec2.models import ec2_backends
from moto.ecs.models import EC2ContainerServiceBackend, Service, ecs_backends
from moto.iam.models import get_account_id_from
from moto.logs.models import logs_backends
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

from fargate_provider.networking import SECURITY_GROUP_TAG, SECURITY_GROUP_TAG_VALUE, SUBNET_KIND_TAG

PINNED_MOTO_VERSION = "5.2.5"

# What the control plane reads (and, for services, sets) on moto's model objects.
MODEL_ATTRIBUTES_USED = {
    "Cluster": ("name", "arn", "status", "capacity_providers", "default_capacity_provider_strategy"),
    "TaskDefinition": (
        "arn", "family", "revision", "status", "cpu", "memory", "container_definitions",
        "requires_compatibilities", "network_mode",
    ),
    "Service": (
        "arn", "name", "cluster_name", "status", "desired_count", "running_count", "pending_count",
        "task_definition", "deployments", "events", "tags", "propagate_tags", "network_configuration",
        "platform_version", "launch_type",
    ),
}

__all__ = [
    "EcsError",
    "EmulatedContainer",
    "EmulatedTask",
    "MotoRequestHandler",
    "PINNED_MOTO_VERSION",
]


class EcsError(Exception):
    """An error answered the way ECS answers it: HTTP status, __type and message."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def moto_version() -> str:
    return moto.__version__


def make_moto_app() -> DomainDispatcherApplication:
    return DomainDispatcherApplication(create_backend_app)


def reset_moto() -> None:
    moto_api_backend.reset()


def account_for_access_key(access_key: str | None) -> str:
    return get_account_id_from(access_key or "")


def ecs_backend(account: str, region: str) -> EC2ContainerServiceBackend:
    return ecs_backends[account][region]


def iter_ecs_backends() -> Iterator[tuple[str, str, EC2ContainerServiceBackend]]:
    """Only backends that exist already (moto creates them lazily on first use)."""
    for account, regions in list(ecs_backends.items()):
        for region, backend in list(regions.items()):
            yield account, region, backend


def converted(error: Exception) -> EcsError:
    """A moto error (raised by a backend call) as the ECS error it stands for."""
    if isinstance(error, ServiceException):
        return EcsError(error.code, error.message, 400)
    if isinstance(error, JsonRESTError):
        return EcsError(error.error_type, error.message, error.code)
    return EcsError("ServerException", f"{type(error).__name__}: {error}", 500)


# ------------------------------------------------------------------ clusters, task definitions, services


def get_cluster(backend: EC2ContainerServiceBackend, cluster: str | None) -> Any:
    name = (cluster or "default").rsplit("/", 1)[-1]
    found = backend.clusters.get(name)
    if found is None or found.status == "INACTIVE":
        raise EcsError("ClusterNotFoundException", "Cluster not found.")
    return found


def get_task_definition(backend: EC2ContainerServiceBackend, reference: str) -> Any:
    try:
        return backend.describe_task_definition(reference)
    except (ServiceException, JsonRESTError) as error:
        raise EcsError("ClientException", "Unable to describe task definition.") from error


def latest_active_revision(backend: EC2ContainerServiceBackend, task_definition: Any) -> Any:
    """For a family reference, ECS uses the latest ACTIVE revision (moto takes the latest of any)."""
    revisions = backend.task_definitions.get(task_definition.family, {})
    active = [td for td in revisions.values() if td.status == "ACTIVE"]
    return max(active, key=lambda td: td.revision) if active else task_definition


def create_moto_service(backend: EC2ContainerServiceBackend, **kwargs: Any) -> Service:
    """moto's create_service checks the cluster, task definition, subnets and security groups."""
    try:
        return backend.create_service(**kwargs)
    except (ServiceException, JsonRESTError) as error:
        raise converted(error) from error


def service_or_none(backend: EC2ContainerServiceBackend, cluster: str, service: str) -> Service | None:
    return backend.services.get(f"{cluster}:{service.rsplit('/', 1)[-1]}")


def find_service(backend: EC2ContainerServiceBackend, cluster: str, service: str) -> Service:
    found = service_or_none(backend, cluster, service)
    if found is None:
        raise EcsError("ServiceNotFoundException", "Service not found.")
    return found


def tags_of(backend: EC2ContainerServiceBackend, arn: str) -> list[dict[str, str]]:
    return backend.list_tags_for_resource(arn)


def cluster_services(backend: EC2ContainerServiceBackend, cluster: str) -> list[Service]:
    return [s for key, s in backend.services.items() if key.startswith(f"{cluster}:")]


def all_services(backend: EC2ContainerServiceBackend) -> list[Service]:
    return list(backend.services.values())


def all_tasks(backend: EC2ContainerServiceBackend) -> list[Any]:
    return [task for tasks in list(backend.tasks.values()) for task in list(tasks.values())]


def add_task(backend: EC2ContainerServiceBackend, task: EmulatedTask) -> None:
    backend.tasks.setdefault(task.cluster_name, {})[task.task_arn] = task


def find_task(backend: EC2ContainerServiceBackend, cluster: str, task: str) -> Any:
    task_id = task.rsplit("/", 1)[-1]
    for arn, found in backend.tasks.get(cluster, {}).items():
        if arn.rsplit("/", 1)[-1] == task_id:
            return found
    raise EcsError("InvalidParameterException", "The referenced task was not found.")


# ------------------------------------------------------------------ network


@dataclass
class Placement:
    subnet_id: str
    vpc_id: str
    availability_zone: str
    cidr: str
    security_groups: list[str]


def place_in_network(account: str, region: str, awsvpc: dict[str, Any]) -> Placement:
    """ECS's checks of an awsvpcConfiguration (subnets and groups exist, one VPC), ECS-worded."""
    ec2 = ec2_backends[account][region]
    subnets = awsvpc.get("subnets") or []
    if not subnets:
        raise EcsError("InvalidParameterException", "subnets can not be empty.")
    try:
        found = ec2.describe_subnets(subnet_ids=subnets)
    except InvalidSubnetIdError as error:
        raise EcsError(
            "InvalidParameterException",
            f"Error retrieving subnet information for [{error.message.split(chr(39))[1]}]: {error.message} "
            "(ErrorCode: InvalidSubnetID.NotFound)",
        ) from error
    vpcs = {subnet.vpc_id for subnet in found}
    if len(vpcs) > 1:
        raise EcsError("InvalidParameterException", "All subnets must belong to the same VPC.")
    vpc_id = vpcs.pop()
    groups = list(awsvpc.get("securityGroups") or [])
    if not groups:
        # As ECS does: without securityGroups the VPC's default security group is used.
        default = [g for g in ec2.describe_security_groups(filters={"vpc-id": [vpc_id]}) if g.name == "default"]
        groups = [default[0].id] if default else []
    else:
        try:
            described = ec2.describe_security_groups(group_ids=groups)
        except InvalidSecurityGroupNotFoundError as error:
            raise EcsError(
                "InvalidParameterException",
                f"Error retrieving security group information for {groups}: {error.message} "
                "(ErrorCode: InvalidGroup.NotFound)",
            ) from error
        if any(group.vpc_id != vpc_id for group in described):
            raise EcsError("InvalidParameterException", "Security groups and subnets must belong to the same VPC.")
    first = found[0]
    return Placement(first.id, vpc_id, first.availability_zone, first.cidr_block, groups)


# ------------------------------------------------------------------ CloudWatch Logs


def log_group_exists(account: str, region: str, group: str) -> bool:
    return group in logs_backends[account][region].groups


def create_log_group(account: str, region: str, group: str) -> None:
    if not log_group_exists(account, region, group):
        logs_backends[account][region].create_log_group(group, tags={})


def put_log_lines(account: str, region: str, group: str, stream: str, events: list[dict[str, Any]]) -> None:
    backend = logs_backends[account][region]
    log_group = backend.groups[group]
    if stream not in log_group.streams:
        backend.create_log_stream(group, stream)
    if events:
        backend.put_log_events(group, stream, events)


# ------------------------------------------------------------------ the task model moto lacks


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class EmulatedContainer:
    """A container of an emulated task; attribute names are what moto's serializer looks up."""

    def __init__(self, task_arn: str, definition: dict[str, Any], overrides: dict[str, Any] | None):
        self.container_arn = f"{task_arn.replace(':task/', ':container/')}/{uuid.uuid4()}"
        self.task_arn = task_arn
        self.name = definition.get("name")
        self.image = definition.get("image")
        self.last_status = "PENDING"
        self.exit_code: int | None = None
        self.reason: str | None = None
        self.health_status = "UNKNOWN"
        self.network_interfaces: list[dict[str, Any]] = []
        self.cpu = str(definition.get("cpu", 0))
        self.memory = str(definition["memory"]) if definition.get("memory") else None
        self.essential = definition.get("essential", True)
        self.definition = definition
        self.overrides = overrides or {}


class EmulatedTask:
    """A Fargate task as ECS reports it, stored in moto's backend so moto's own
    DescribeTasks, ListTasks, ListTagsForResource and TagResource see it."""

    def __init__(
        self,
        *,
        backend: EC2ContainerServiceBackend,
        account: str,
        region: str,
        cluster: Any,
        task_definition: Any,
        placement: Placement,
        assign_public_ip: bool,
        launch_type: str | None,
        capacity_provider_name: str | None,
        platform_version: str,
        overrides: dict[str, Any] | None,
        started_by: str,
        group: str,
        tags: list[dict[str, str]],
        enable_execute_command: bool,
        private_ip: str,
    ):
        self.id = uuid.uuid4().hex
        self.region_name = region
        self.account = account
        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
        self.task_arn = f"arn:aws:ecs:{region}:{account}:task/{cluster.name}/{self.id}"
        self.task_definition_arn = task_definition.arn
        self.task_definition = task_definition
        self.container_instance_arn = None
        self.resource_requirements = None
        self.launch_type = launch_type
        self.capacity_provider_name = capacity_provider_name
        self.platform_version = "1.4.0" if platform_version in (None, "LATEST") else platform_version
        self.platform_family = "Linux"
        self.overrides = overrides or {}
        task_override = self.overrides
        self.cpu = str(task_override.get("cpu") or task_definition.cpu)
        self.memory = str(task_override.get("memory") or task_definition.memory)
        self.started_by = started_by
        self.group = group
        self.tags = tags
        self.enable_execute_command = enable_execute_command
        self.availability_zone = placement.availability_zone
        self.desired_status = "RUNNING"
        self.last_status = "PROVISIONING"
        self.health_status = "UNKNOWN"
        self.connectivity = "CONNECTED"
        self.version = 1
        self.created_at = utcnow()
        self.connectivity_at = self.created_at
        self.pull_started_at: dt.datetime | None = None
        self.pull_stopped_at: dt.datetime | None = None
        self.started_at: dt.datetime | None = None
        self.stopping_at: dt.datetime | None = None
        self.stopped_at: dt.datetime | None = None
        self.execution_stopped_at: dt.datetime | None = None
        self.stop_code: str | None = None
        self.stopped_reason: str | None = None
        self.ephemeral_storage = {"sizeInGiB": 20}
        overrides_by_name = {c.get("name"): c for c in self.overrides.get("containerOverrides", [])}
        self.containers = [
            EmulatedContainer(self.task_arn, definition, overrides_by_name.get(definition.get("name")))
            for definition in task_definition.container_definitions
        ]
        details = [
            {"name": "subnetId", "value": placement.subnet_id},
            {"name": "networkInterfaceId", "value": f"eni-{uuid.uuid4().hex[:17]}"},
            {"name": "macAddress", "value": "0a:" + ":".join(uuid.uuid4().hex[i : i + 2] for i in range(0, 10, 2))},
            {"name": "privateDnsName", "value": f"ip-{private_ip.replace('.', '-')}.ec2.internal"},
            {"name": "privateIPv4Address", "value": private_ip},
        ]
        self.attachments = [
            {"id": str(uuid.uuid4()), "type": "ElasticNetworkInterface", "status": "ATTACHED", "details": details}
        ]
        self.assign_public_ip = assign_public_ip
        for container in self.containers:
            container.network_interfaces = [{"attachmentId": self.attachments[0]["id"], "privateIpv4Address": private_ip}]
        # Emulation state (not serialized: not ECS shape members).
        self.emu: dict[str, Any] = {}

    def advance(self) -> None:
        """moto's DescribeTasks calls this for its own state machine; ours is time-driven."""


# ------------------------------------------------------------------ the ready-made network

NETWORK_TAG = "fargate-local"


def create_network(account: str, region: str) -> dict[str, Any]:
    """A VPC with two public and two private subnets and a security group, tagged for discovery."""
    ec2 = ec2_backends[account][region]
    vpc = ec2.create_vpc("10.0.0.0/16")
    ec2.create_tags([vpc.id], {"Name": "fargate-local", NETWORK_TAG: "true"})
    gateway = ec2.create_internet_gateway()
    ec2.attach_internet_gateway(gateway.id, vpc.id)
    layout = {
        "public": [("10.0.0.0/24", "a"), ("10.0.1.0/24", "b")],
        "private": [("10.0.128.0/24", "a"), ("10.0.129.0/24", "b")],
    }
    network: dict[str, Any] = {"account": account, "region": region, "vpc_id": vpc.id}
    for kind, subnets in layout.items():
        ids = []
        for cidr, zone in subnets:
            subnet = ec2.create_subnet(vpc.id, cidr, availability_zone=f"{region}{zone}")
            ec2.create_tags(
                [subnet.id], {"Name": f"fargate-local-{kind}-{zone}", SUBNET_KIND_TAG: kind, NETWORK_TAG: "true"}
            )
            ids.append(subnet.id)
        network[f"{kind}_subnets"] = ids
    group = ec2.create_security_group("fargate-local", "fargate-local tasks", vpc_id=vpc.id)
    ec2.create_tags([group.id], {"Name": "fargate-local", SECURITY_GROUP_TAG: SECURITY_GROUP_TAG_VALUE, NETWORK_TAG: "true"})
    network["security_group"] = group.id
    return network
