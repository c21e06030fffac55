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
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

import moto
from moto.core.exceptions import JsonRESTError, ServiceException
from moto.core.model import ServiceModel
from moto.core.responses import ActionResult
from moto.core.serialize import JSONSerializer, XFormedAttributePicker
from moto.ec2.exceptions import InvalidSecurityGroupNotFoundError, InvalidSubnetIdError
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.utils import random_eni_attach_id, random_public_ip
from moto.ecr.models import ecr_backends
from moto.ecs.models import EC2ContainerServiceBackend, Service, ecs_backends
from moto.elbv2.exceptions import ELBClientError, PriorityInUseError
from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeTargetGroup, elbv2_backends
from moto.elbv2.responses import ELBV2Response
from moto.events.models import EventTemplateParser, events_backends
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, get_account_id_from, iam_backends
from moto.logs.models import logs_backends
from moto.logs.utils import EventMessageFilter
from moto.moto_api._internal.models import moto_api_backend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.secretsmanager.models import secretsmanager_backends
from moto.sqs.models import Message as SqsMessage
from moto.sqs.models import SQSBackend, sqs_backends
from moto.ssm.models import ssm_backends

from fargate_rules import load_balancer_quotas
from fargate_rules.network_tags import SECURITY_GROUP_TAG, SECURITY_GROUP_TAG_VALUE, SUBNET_KIND_TAG
from fargate_rules.task_requirements import Egress, default_route_target, usable_endpoints

PINNED_MOTO_VERSION = "5.2.5"

# What the control plane reads (and, for services, sets) on moto's model objects.
MODEL_ATTRIBUTES_USED = {
    "Cluster": ("name", "arn", "status", "capacity_providers", "default_capacity_provider_strategy"),
    "TaskDefinition": (
        "arn",
        "family",
        "revision",
        "status",
        "cpu",
        "memory",
        "container_definitions",
        "requires_compatibilities",
        "network_mode",
    ),
    "Service": (
        "arn",
        "name",
        "cluster_name",
        "status",
        "desired_count",
        "running_count",
        "pending_count",
        "task_definition",
        "deployments",
        "events",
        "tags",
        "propagate_tags",
        "network_configuration",
        "platform_version",
        "launch_type",
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


def invalid_parameter(message: str) -> EcsError:
    """ECS's answer to a bad parameter: InvalidParameterException, HTTP 400."""
    return EcsError("InvalidParameterException", message)


def moto_version() -> str:
    return moto.__version__


class _MotoApp(DomainDispatcherApplication):
    """moto's server app, each host's backend looked up once: moto finds the backend of every
    request by listing its package's folders (``list_of_moto_modules``, about 90 stats) and then
    matching the URL patterns, twice a request, a fifth of the emulator's time per DescribeServices.
    Neither changes while it runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._backend_of_host: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        try:
            return self._backend_of_host[host]
        except KeyError:
            if len(self._backend_of_host) >= 1000:  # hosts a client made up (e.g. S3's per-bucket ones)
                self._backend_of_host.clear()
            backend = self._backend_of_host[host] = super().get_backend_for_host(host)
            return backend


def make_moto_app() -> DomainDispatcherApplication:
    return _MotoApp(create_backend_app)


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


def has_container_instances(backend: EC2ContainerServiceBackend, cluster: str) -> bool:
    return bool(backend.container_instances.get(cluster))


def tags_of(backend: EC2ContainerServiceBackend, arn: str) -> list[dict[str, str]]:
    return backend.list_tags_for_resource(arn)


def cluster_services(backend: EC2ContainerServiceBackend, cluster: str) -> list[Service]:
    return [s for key, s in backend.services.items() if key.startswith(f"{cluster}:")]


def all_services(backend: EC2ContainerServiceBackend) -> list[Service]:
    return list(backend.services.values())


def all_tasks(backend: EC2ContainerServiceBackend) -> list[Any]:
    return [task for tasks in list(backend.tasks.values()) for task in list(tasks.values())]


def add_task(backend: EC2ContainerServiceBackend, task: EmulatedTask) -> None:
    # moto's backend holds our EmulatedTask beside its own Tasks (it serializes it by attribute names)
    tasks: dict[str, Any] = backend.tasks.setdefault(task.cluster_name, {})
    tasks[task.task_arn] = task


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


# ------------------------------------------------------------------ a task's network interface (ENI) in EC2

# Who EC2 names as RequesterId and Attachment.InstanceOwnerId of a Fargate task's ENI: AWS-owned accounts
# AWS does not document. These two are the ones an observed ENI carried (DescribeNetworkInterfaces output
# in binxio/ecs-dns-registrator's test data, eu-central-1); any AWS-owned id would do.
FARGATE_ENI_REQUESTER_ID = "628676013162"
FARGATE_ENI_INSTANCE_OWNER_ID = "843547988961"


def private_dns_name(ip: str, region: str) -> str:
    """EC2's private IPv4 DNS hostname (us-east-1 has its own domain)."""
    domain = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return f"ip-{ip.replace('.', '-')}.{domain}"


def public_dns_name(ip: str, region: str) -> str:
    domain = "compute-1.amazonaws.com" if region == "us-east-1" else f"{region}.compute.amazonaws.com"
    return f"ec2-{ip.replace('.', '-')}.{domain}"


class TaskNetworkInterface(NetworkInterface):
    """The ENI ECS makes for a Fargate task, as EC2 describes it: requester-managed, in use, attached
    to an instance of AWS's (so no InstanceId), and its public IP, with assignPublicIp=ENABLED, owned by
    "amazon" (not an Elastic IP of the account; the CLI tutorial's sample output shows IpOwnerId "amazon")."""

    region = ""

    @property
    def association(self) -> dict[str, Any]:
        if not self.public_ip:
            return {}
        return {
            "ipOwnerId": "amazon",
            "publicDnsName": public_dns_name(self.public_ip, self.region),
            "publicIp": self.public_ip,
        }

    @property
    def attachment(self) -> dict[str, Any]:  # type: ignore[override]
        return {
            "AttachTime": self.attach_time,
            "AttachmentId": self.attachment_id,
            "DeleteOnTermination": False,
            "DeviceIndex": 1,
            "NetworkCardIndex": 0,
            "InstanceOwnerId": FARGATE_ENI_INSTANCE_OWNER_ID,
            "Status": "attached",
        }


def create_task_network_interface(
    account: str, region: str, placement: Placement, private_ip: str, attachment_id: str, assign_public_ip: bool
) -> TaskNetworkInterface:
    """ECS's ENI for a task (made while it is PROVISIONING): in the task's subnet, with its private IP and the
    security groups of the request or service, described by the attachment's ARN. With assignPublicIp=ENABLED
    it has a public IP, whatever the subnet (it is of use only where the subnet routes to an internet gateway)."""
    ec2 = ec2_backends[account][region]
    # (moto's CloudFormationModel marks methods abstract that NetworkInterface lacks; it has no ABCMeta)
    eni = TaskNetworkInterface(  # type: ignore[abstract]
        ec2,
        ec2.get_subnet(placement.subnet_id),
        private_ip,
        group_ids=placement.security_groups,
        description=f"arn:aws:ecs:{region}:{account}:attachment/{attachment_id}",
    )
    eni.region = region
    eni.requester_managed = True
    eni.requester_id = FARGATE_ENI_REQUESTER_ID
    eni.status = "in-use"
    eni.attachment_id = random_eni_attach_id()
    eni.attach_time = utcnow()
    eni.private_dns_name = private_dns_name(private_ip, region)
    eni.private_ip_addresses = [
        {"Primary": True, "PrivateIpAddress": private_ip, "PrivateDnsName": eni.private_dns_name}
    ]
    if assign_public_ip:
        eni.public_ip = random_public_ip()
        eni.private_ip_addresses[0]["Association"] = {
            "IpOwnerId": "amazon",
            "PublicDnsName": public_dns_name(eni.public_ip, region),
            "PublicIp": eni.public_ip,
        }
    ec2.enis[eni.id] = eni
    return eni


def delete_task_network_interface(account: str, region: str, eni_id: str) -> None:
    """ECS detaches and deletes a task's ENI as the task stops (gone already: nothing to do)."""
    ec2_backends[account][region].enis.pop(eni_id, None)


# ------------------------------------------------------------------ CloudWatch Logs


def log_group_exists(account: str, region: str, group: str) -> bool:
    return group in logs_backends[account][region].groups


def create_log_group(account: str, region: str, group: str) -> None:
    if not log_group_exists(account, region, group):
        logs_backends[account][region].create_log_group(group, tags={})


def put_log_lines(account: str, region: str, group: str, stream: str, events: list[dict[str, Any]]) -> None:
    backend = logs_backends[account][region]
    log_group = backend.groups.get(group)
    if log_group is None:  # deleted while the task runs: the awslogs driver's puts fail, the lines are gone
        return
    if stream not in log_group.streams:
        backend.create_log_stream(group, stream)
    if events:
        backend.put_log_events(group, stream, events)


def log_group_arn(account: str, region: str, group: str) -> str | None:
    """A log group's ARN (as Live Tail names it, without ``:*``); None when it does not exist."""
    found = logs_backends[account][region].groups.get(group)
    return None if found is None else found.arn


def log_stream_lengths(account: str, region: str, group: str) -> dict[str, int]:
    """How many events each stream of ``group`` holds: where a Live Tail session starts reading."""
    found = logs_backends[account][region].groups.get(group)
    return {} if found is None else {name: len(stream.events) for name, stream in found.streams.items()}


def new_log_events(account: str, region: str, group: str, cursors: dict[str, int]) -> list[tuple[str, dict[str, Any]]]:
    """The events put to ``group``'s streams since ``cursors`` (advanced past them; a new stream from
    its first event), as Live Tail's sessionResults carry them."""
    found = logs_backends[account][region].groups.get(group)
    if found is None:
        return []
    new = []
    for name, stream in found.streams.items():
        seen = cursors.get(name, 0)
        for event in stream.events[seen:]:
            new.append(
                (name, {"message": event.message, "timestamp": event.timestamp, "ingestionTime": event.ingestion_time})
            )
        cursors[name] = len(stream.events)
    return new


def log_event_filter(pattern: str) -> Callable[[str], bool]:
    """moto's reading of a CloudWatch Logs filter pattern, as a predicate on a message."""
    return EventMessageFilter(pattern).matches


# ------------------------------------------------------------------ IAM, SSM, Secrets Manager, ECR
# (what a task start reads)


@cache
def _aws_managed_policy_data() -> dict[str, Any]:
    return json.loads(aws_managed_policies_data)


def load_aws_managed_policies(account: str) -> None:
    """AWS's managed policies (AmazonECSTaskExecutionRolePolicy among them) exist in every
    account, as in AWS; moto loads them only when told to, for every backend, which is slow."""
    backend = iam_backends[account]["aws"]
    for name, data in _aws_managed_policy_data().items():
        policy = AWSManagedPolicy.from_data(name, account, "aws", data)
        backend.managed_policies.setdefault(policy.arn, policy)


def find_role(account: str, name_or_arn: str) -> Any | None:
    """The IAM role an ARN or a name stands for, or None."""
    name = name_or_arn.rsplit("/", 1)[-1]
    for role in iam_backends[account]["aws"].get_roles():
        if role.name == name and (not name_or_arn.startswith("arn:") or role.arn == name_or_arn):
            return role
    return None


def role_trust_policy(role: Any) -> dict[str, Any]:
    document = role.assume_role_policy_document
    return json.loads(document) if isinstance(document, str) else document


def role_policy_documents(role: Any) -> list[dict[str, Any]]:
    """The documents of the role's inline and attached (default version) policies."""
    documents = [json.loads(d) if isinstance(d, str) else d for d in role.policies.values()]
    for policy in role.managed_policies.values():
        default = next(v for v in policy.versions if v.is_default)
        documents.append(json.loads(default.document) if isinstance(default.document, str) else default.document)
    return documents


def create_role(account: str, spec: dict[str, Any]) -> Any:
    """A role from a file like iam/ecs-task-execution-role.json: trust, managed and inline policies."""
    backend = iam_backends[account]["aws"]
    role = backend.create_role(
        role_name=spec["RoleName"],
        assume_role_policy_document=json.dumps(spec["AssumeRolePolicyDocument"]),
        path="/",
        permissions_boundary=None,
        description=spec.get("Description", ""),
        tags=[],
        max_session_duration=None,
    )
    for arn in spec.get("ManagedPolicyArns", []):
        backend.attach_role_policy(arn, role.name)
    for name, document in spec.get("InlinePolicies", {}).items():
        backend.put_role_policy(role.name, name, json.dumps(document))
    return role


def listener_rules(account: str, region: str, listener_arn: str) -> list[dict[str, Any]]:
    """A listener's rules as DescribeRules reports them (RuleArn, Priority, IsDefault, Conditions, Actions)."""
    backend = elbv2_backends[account][region]
    return [
        {
            "RuleArn": rule.arn,
            "Priority": str(rule.priority),
            "IsDefault": rule.priority == "default" or bool(getattr(rule, "is_default", False)),
            "Conditions": list(rule.conditions or []),
            "Actions": [action.data for action in rule.actions],
        }
        for rule in backend.describe_rules(listener_arn, None)
    ]


def target_health(account: str, region: str, target_group_arn: str) -> list[dict[str, Any]]:
    """A target group's registered targets as DescribeTargetHealth reports them."""
    return [
        {"Target": {"Id": h.instance_id, "Port": h.port}, "TargetHealth": {"State": h.status}}
        for h in elbv2_backends[account][region].describe_target_health(target_group_arn, [])
    ]


def ssm_parameter_exists(account: str, region: str, name: str) -> bool:
    return ssm_backends[account][region].get_parameter(name) is not None


def secret_exists(account: str, region: str, secret_id: str) -> bool:
    # moto's store takes names, full ARNs and partial ARNs (without the random suffix), as ECS does.
    return secret_id in secretsmanager_backends[account][region].secrets


def ecr_image_exists(
    account: str, region: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> bool:
    repo = ecr_backends[account][region].repositories.get(repository)
    if repo is None or repo.registry_id != registry:
        return False
    return any(
        (not tag or tag in image.image_tags) and (not digest or digest == image.get_image_digest())
        for image in repo.images
    )


# ------------------------------------------------------------------ routes (how a subnet reaches AWS and the internet)


def subnet_egress(account: str, region: str, subnet_id: str) -> Egress:
    """The subnet's route table (its own association, else the VPC's main table) and the VPC's endpoints."""
    ec2 = ec2_backends[account][region]
    subnet = ec2.get_subnet(subnet_id)
    tables = [t for t in ec2.route_tables.values() if t.vpc_id == subnet.vpc_id]
    table = next((t for t in tables if subnet_id in t._associations.values()), None)
    table = table or next((t for t in tables if t.main_association_id), None)
    routes = [
        {
            "DestinationCidrBlock": route.destination_cidr_block,
            "GatewayId": route.gateway_id,
            "NatGatewayId": route.nat_gateway.id if route.nat_gateway else None,
            # EC2 reports a route to a deleted NAT gateway as a blackhole; moto keeps it active.
            "State": "blackhole" if route.nat_gateway and route.nat_gateway.state != "available" else "active",
        }
        for route in (table.routes if table else [])
    ]
    nat, igw = default_route_target(routes)
    endpoints = [
        {
            "ServiceName": e.service_name,
            "VpcEndpointType": e.vpc_endpoint_type,
            "State": e.state,
            "RouteTableIds": e.route_table_ids or [],
        }
        for e in ec2.vpc_end_points.values()
        if e.vpc_id == subnet.vpc_id
    ]
    return Egress(nat=nat, internet_gateway=igw, endpoints=usable_endpoints(endpoints, table.id if table else None))


# ------------------------------------------------------------------ the task model moto lacks


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class EmulatedContainer:
    """A container of an emulated task; attribute names are what moto's serializer looks up."""

    def __init__(self, task_arn: str, definition: dict[str, Any], overrides: dict[str, Any] | None):
        self.container_arn = f"{task_arn.replace(':task/', ':container/')}/{uuid.uuid4()}"
        self.task_arn = task_arn
        # (moto registers no container definition without a name and an image)
        self.name = cast(str, definition.get("name"))
        self.image = cast(str, definition.get("image"))
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

    attributes: list[dict[str, str]]  # set by task_lifecycle from the task definition's platform

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
        self._last_status = "PROVISIONING"
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
        # ECS makes the task's ENI while the task is PROVISIONING; its attachment shows only the subnet
        # until the ENI is attached (see _sync_network_attachment).
        attachment_id = str(uuid.uuid4())
        eni = create_task_network_interface(account, region, placement, private_ip, attachment_id, assign_public_ip)
        self.network_interface_id = eni.id
        self._network_details = [
            {"name": "subnetId", "value": placement.subnet_id},
            {"name": "networkInterfaceId", "value": eni.id},
            {"name": "macAddress", "value": eni.mac_address},
            {"name": "privateDnsName", "value": eni.private_dns_name},
            {"name": "privateIPv4Address", "value": private_ip},
        ]
        self.attachments: list[dict[str, Any]] = [
            {"id": attachment_id, "type": "ElasticNetworkInterface", "status": "PRECREATED", "details": []}
        ]
        self._sync_network_attachment()
        self.assign_public_ip = assign_public_ip
        self.subnet_id = placement.subnet_id
        for container in self.containers:
            container.network_interfaces = [
                {"attachmentId": self.attachments[0]["id"], "privateIpv4Address": private_ip}
            ]
        # Emulation state (not serialized: not an ECS shape member): a local.state.TaskRun.
        self.run: Any = None

    def advance(self) -> None:
        """moto's DescribeTasks calls this for its own state machine; ours is time-driven."""

    @property
    def last_status(self) -> str:
        return self._last_status

    @last_status.setter
    def last_status(self, status: str) -> None:
        # The ENI attachment follows the task whoever moves it (see _sync_network_attachment).
        self._last_status = status
        self._sync_network_attachment()

    def _sync_network_attachment(self) -> None:
        """The ENI attachment's status for the task's: PRECREATED with the subnet only while PROVISIONING
        (as RunTask answers), ATTACHED with all details from PENDING on, DETACHING while DEPROVISIONING
        (when ECS detaches and deletes the ENI), DELETED at STOPPED — details kept, as a stopped task shows them."""
        attachment = self.attachments[0]
        status = {"PROVISIONING": "PRECREATED", "DEPROVISIONING": "DETACHING", "STOPPED": "DELETED"}.get(
            self._last_status, "ATTACHED"
        )
        attachment["status"] = status
        attachment["details"] = self._network_details[:1] if status == "PRECREATED" else list(self._network_details)


def release_network_interface(task: EmulatedTask) -> None:
    """At STOPPED: the task's ENI is deleted from EC2 (its attachment, DELETED, still names it)."""
    delete_task_network_interface(task.account, task.region_name, task.network_interface_id)


# ------------------------------------------------------------------ the ready-made network

NETWORK_TAG = "fargate-local"


def create_network(account: str, region: str) -> dict[str, Any]:
    """A VPC with two public subnets (routed to an internet gateway) and two private ones (routed
    to a NAT gateway in the first public subnet) and a security group, tagged for discovery."""
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
    public_routes = ec2.create_route_table(vpc.id, tags=[{"Key": "Name", "Value": "fargate-local-public"}])
    ec2.create_route(public_routes.id, "0.0.0.0/0", gateway_id=gateway.id)
    address = ec2.allocate_address(domain="vpc")
    assert address.allocation_id is not None  # (a VPC address has one)
    nat = ec2.create_nat_gateway(network["public_subnets"][0], address.allocation_id, tags={"Name": "fargate-local"})
    private_routes = ec2.create_route_table(vpc.id, tags=[{"Key": "Name", "Value": "fargate-local-private"}])
    ec2.create_route(private_routes.id, "0.0.0.0/0", nat_gateway_id=nat.id)
    for kind, table in (("public", public_routes), ("private", private_routes)):
        for subnet_id in network[f"{kind}_subnets"]:
            ec2.associate_route_table(table.id, subnet_id=subnet_id)
    network["nat_gateway"] = nat.id
    network["internet_gateway"] = gateway.id
    group = ec2.create_security_group("fargate-local", "fargate-local tasks", vpc_id=vpc.id)
    ec2.create_tags(
        [group.id], {"Name": "fargate-local", SECURITY_GROUP_TAG: SECURITY_GROUP_TAG_VALUE, NETWORK_TAG: "true"}
    )
    network["security_group"] = group.id
    network.update(create_environments_load_balancer(account, region, network))
    return network


# ------------------------------------------------------------------ the ready-made load balancer (environments' URLs)

LOAD_BALANCER_NAME = "fargate-local"
# Environments' host names are NAME.<this>; nothing resolves them (the emulator plays the ALB's API,
# not its traffic): a wildcard DNS record pointing at the ALB plays that part in AWS.
ENVIRONMENTS_DOMAIN = "env.fargate.local"
NO_ENVIRONMENT_RESPONSE = {
    "StatusCode": "404",
    "ContentType": "text/plain",
    "MessageBody": "No environment answers to this host name.",
}


def create_environments_load_balancer(account: str, region: str, network: dict[str, Any]) -> dict[str, Any]:
    """An internet-facing Application Load Balancer in the public subnets with the network's security
    group, and an HTTP listener on port 80 whose default action answers 404: what a platform team sets up
    once for ephemeral environments (each then adds a host-header rule forwarding to its target group)."""
    elbv2 = elbv2_backends[account][region]
    tags = [{"Key": "Name", "Value": LOAD_BALANCER_NAME}, {"Key": NETWORK_TAG, "Value": "true"}]
    balancer = elbv2.create_load_balancer(
        LOAD_BALANCER_NAME,
        security_groups=[network["security_group"]],
        subnet_ids=list(network["public_subnets"]),
        scheme="internet-facing",
        loadbalancer_type="application",
        tags=tags,
    )
    balancer.state = "active"  # moto says provisioning until described; a ready-made one is ready
    # moto annotates the port and ssl_policy str (as its query parsing gives them); it stores what it is given
    listener = elbv2.create_listener(
        balancer.arn,
        "HTTP",
        80,  # type: ignore[arg-type]
        ssl_policy=None,  # type: ignore[arg-type]
        certificate=None,
        actions=[{"Type": "fixed-response", "FixedResponseConfig": dict(NO_ENVIRONMENT_RESPONSE)}],
        tags=tags,
    )
    return {
        "load_balancer_arn": balancer.arn,
        "listener_arn": listener.arn,
        "load_balancer_dns": balancer.dns_name,
        "environments_domain": ENVIRONMENTS_DOMAIN,
    }


def answer_target_health(
    answer: Callable[[Any, dict[str, Any]], tuple[str, str | None, str | None, str] | None],
    draining: Callable[[Any], list[dict[str, Any]] | None],
) -> None:
    """Make moto's DescribeTargetHealth answer from the emulator's targets (load_balancers.py):
    ``answer(target_group, target)`` gives (status, reason, description, port) of a target the
    emulator registered, None for moto's own answer; ``draining(target_group)`` the targets still
    draining, which a call without targets lists too (None: a target group the emulator has no
    table for). Patched once, here, as every moto patch is."""
    if getattr(FakeTargetGroup, "_fargate_local_health", False):
        return
    moto_health_for = FakeTargetGroup.health_for
    moto_describe = ELBv2Backend.describe_target_health

    def health_for(self: FakeTargetGroup, target: dict[str, Any], ec2_backend: Any) -> FakeHealthStatus:
        found = answer(self, target)
        if found is None:
            return moto_health_for(self, target, ec2_backend)
        status, reason, description, port = found
        return FakeHealthStatus(target["Id"], port, self.health_check_port, status, reason, description)

    def describe_target_health(
        self: ELBv2Backend, target_group_arn: str, targets: list[dict[str, Any]]
    ) -> list[FakeHealthStatus]:
        target_group = self.target_groups.get(target_group_arn)
        if not targets and target_group is not None:
            still_draining = draining(target_group)
            if still_draining is not None:
                targets = list(target_group.targets.values()) + still_draining
        return moto_describe(self, target_group_arn, targets)

    FakeTargetGroup.health_for = health_for  # type: ignore[method-assign]
    ELBv2Backend.describe_target_health = describe_target_health  # type: ignore[method-assign]
    FakeTargetGroup._fargate_local_health = True  # type: ignore[attr-defined]


def _balancer_usage(backend: ELBv2Backend, listener: Any, leaving_out: str | None = None) -> tuple[int, set[str]]:
    """The rules (default rules excluded) of ``listener``'s load balancer on all its listeners, and the
    target groups its rules and default actions forward to; the rule ``leaving_out`` not counted."""
    balancer = backend.load_balancers.get(listener.load_balancer_arn)
    listeners = list(balancer.listeners.values()) if balancer is not None else [listener]
    rules, target_groups = 0, set()
    for each in listeners:
        for rule in each.rules.values():
            if rule.arn == leaving_out:
                continue
            rules += 0 if rule.is_default else 1
            actions: list[dict[str, Any]] = [a if isinstance(a, dict) else a.data for a in rule.actions]
            target_groups |= load_balancer_quotas.target_groups_of(actions)
    return rules, target_groups


def _refuse_over_quota(problem: tuple[str, str] | None) -> None:
    if problem is not None:
        raise ELBClientError(*problem)


def _install_rule_checks() -> None:
    """CreateRule and ModifyRule as ELB checks them where moto does not:

    - a priority the listener already uses: ELBv2 answers PriorityInUse with the priority in the message
      ("Priority '5' is currently in use", as seen from AWS in hashicorp/terraform#24239); moto refuses
      with the API reference's generic "The specified priority is in use.". Same code, ELB's words;
    - the load balancer's quotas (fargate_rules.load_balancer_quotas): rules per load balancer,
      unique target groups per load balancer, condition values per rule (moto: "TODO: check for error
      'TooManyRules'")."""
    if getattr(ELBv2Backend, "_fargate_local_rule_checks", False):
        return
    moto_create_rule = ELBv2Backend.create_rule
    moto_modify_rule = ELBv2Backend.modify_rule

    def create_rule(
        self: ELBv2Backend, listener_arn: str, conditions: Any, priority: Any, actions: Any, tags: Any = None
    ) -> Any:
        listeners = self.describe_listeners(None, [listener_arn])
        if listeners:
            other_rules, target_groups = _balancer_usage(self, listeners[0])
            _refuse_over_quota(
                load_balancer_quotas.rule_problem(
                    conditions=conditions or [],
                    actions=actions or [],
                    other_rules=other_rules,
                    target_groups_in_use=target_groups,
                )
            )
        try:
            return moto_create_rule(self, listener_arn, conditions, priority, actions, tags)
        except PriorityInUseError as error:
            raise ELBClientError("PriorityInUse", f"Priority '{priority}' is currently in use") from error

    def modify_rule(self: ELBv2Backend, rule_arn: str, conditions: Any, actions: Any) -> Any:
        rules = self.describe_rules(listener_arn=None, rule_arns=[rule_arn])
        listeners = self.describe_listeners(None, [rules[0].listener_arn]) if rules else []
        if listeners:
            _, target_groups = _balancer_usage(self, listeners[0], leaving_out=rule_arn)
            _refuse_over_quota(
                load_balancer_quotas.rule_problem(
                    conditions=conditions or None,
                    actions=actions or None,
                    other_rules=None,
                    target_groups_in_use=target_groups,
                )
            )
        return moto_modify_rule(self, rule_arn, conditions, actions)

    ELBv2Backend.create_rule = create_rule  # type: ignore[method-assign]  # patched on purpose, see above
    ELBv2Backend.modify_rule = modify_rule  # type: ignore[method-assign]
    ELBv2Backend._fargate_local_rule_checks = True  # type: ignore[attr-defined]  # our marker on moto's class


def _install_account_limits() -> None:
    """DescribeAccountLimits answers ELB's documented default quotas (moto's table says 30 targets per
    Application Load Balancer and has no target-groups-per-application-load-balancer)."""
    if getattr(ELBV2Response, "_fargate_local_limits", False):
        return

    def describe_account_limits(self: ELBV2Response) -> ActionResult:
        limits = load_balancer_quotas.DEFAULT_ACCOUNT_LIMITS
        return ActionResult({"Limits": [{"Name": name, "Max": str(value)} for name, value in limits.items()]})

    ELBV2Response.describe_account_limits = describe_account_limits  # type: ignore[method-assign]
    ELBV2Response._fargate_local_limits = True  # type: ignore[attr-defined]


_install_rule_checks()
_install_account_limits()


# ---------------------------------------------------------------------- ECS events into EventBridge


@cache
def _describe_tasks_serializer() -> JSONSerializer:
    import botocore.session

    description = botocore.session.get_session().get_service_model("ecs")._service_description
    operation = ServiceModel(description, "ecs").operation_model("DescribeTasks")
    return JSONSerializer(operation_model=operation, value_picker=XFormedAttributePicker())


def describe_task(task: EmulatedTask) -> dict[str, Any]:
    """The task as DescribeTasks answers it (moto's serializer over ECS's Task shape; dates in epoch seconds)."""
    body = _describe_tasks_serializer().serialize({"tasks": [task], "failures": []})["body"]
    described: dict[str, Any] = json.loads(body)["tasks"][0]
    return described


def has_event_rules(account: str, region: str) -> bool:
    """Whether the account's and Region's default event bus has any rule (else no event goes anywhere)."""
    bus = events_backends[account][region].event_buses.get("default")
    return bool(bus and bus.rules)


def queue_receive_wait_seconds(account: str, region: str, queue_url: Any) -> int:
    """The queue's ReceiveMessageWaitTimeSeconds (0 when there is no such queue: moto answers that)."""
    name = queue_url.rstrip("/").rsplit("/", 1)[-1] if isinstance(queue_url, str) else ""
    queue = sqs_backends[account][region].queues.get(name)
    return int(getattr(queue, "receive_message_wait_time_seconds", 0) or 0) if queue is not None else 0


def _install_sqs_clock() -> None:
    """moto's SQS, made to keep its answers at a few thousand messages (ECS's events for a fleet):

    - ReceiveMessage checks each message's retention with ``get_queue_attributes``, which builds every
      attribute of the queue, counting its messages three times: quadratic in the queue's messages;
      the retention is read from the queue instead;
    - whether a message is visible or delayed reads the clock through two datetime conversions per
      message; ``time.time()`` gives the same epoch milliseconds.

    The same answers (tests/emulator/test_ecs_events.py reads queues through boto3); measured: a queue
    of ECS events for 600 services spent 56 % of the emulator's time in ``Queue.attributes``."""
    if getattr(SQSBackend, "_fargate_local_clock", False):
        return

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Any) -> bool:
        retention = int(cast(Any, self.get_queue(queue_name)).message_retention_period)  # set from its attributes
        return bool(retention + message.sent_timestamp / 1000 > time.time())

    def visible(self: SqsMessage) -> bool:
        return bool(time.time() * 1000.0 > self.visible_at)

    def delayed(self: SqsMessage) -> bool:
        return bool(time.time() * 1000.0 < self.delayed_until)

    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )
    SqsMessage.visible = property(visible)  # type: ignore[method-assign,assignment]
    SqsMessage.delayed = property(delayed)  # type: ignore[method-assign,assignment]
    SQSBackend._fargate_local_clock = True  # type: ignore[attr-defined]


_install_sqs_clock()


def deliver_event(account: str, region: str, event: dict[str, Any]) -> bool:
    """``event`` (an AWS service event, ``time`` in epoch seconds) to the account's and Region's default
    event bus: each ENABLED rule whose pattern matches sends it to its SQS targets whose queue policy
    lets EventBridge send (see ecs_events). True when at least one queue got it."""
    bus = events_backends[account][region].event_buses.get("default")
    delivered = False
    for rule in list(bus.rules.values()) if bus else []:
        if rule.state != "ENABLED" or not rule.event_pattern.matches_event(cast(Any, event)):
            continue
        for target in rule.targets:
            arn = target["Arn"]
            if not arn.startswith("arn:aws:sqs:"):
                continue  # other target kinds are not played
            _, _, _, target_region, target_account, queue_name = arn.split(":", 5)
            queue = sqs_backends[target_account][target_region].queues.get(queue_name)
            if queue is None or not _lets_eventbridge_send(queue, rule.arn, account):
                continue  # EventBridge's FailedInvocations: nothing reaches the queue
            whole = {**event, "time": _event_time(event["time"])}
            transformer = target.get("InputTransformer")
            body: Any = (
                EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=cast(Any, whole),
                )
                if transformer
                else whole  # the event as it is (moto's default template would drop "account")
            )
            group = (target.get("SqsParameters") or {}).get("MessageGroupId")
            sqs_backends[target_account][target_region].send_message(
                queue_name=queue_name,
                message_body=body if isinstance(body, str) else json.dumps(body),
                group_id=group,
                deduplication_id=event["id"] if queue_name.endswith(".fifo") else None,
            )
            delivered = True
    return delivered


def _event_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lets_eventbridge_send(queue: Any, rule_arn: str, account: str) -> bool:
    """Whether the queue's resource policy allows the events.amazonaws.com service principal
    sqs:SendMessage for this rule (EventBridge User Guide, "Amazon SQS permissions"). Conditions
    on aws:SourceArn and aws:SourceAccount are judged; a statement with any other condition is not
    counted (the emulator cannot tell whether it holds)."""
    import fnmatch

    try:
        policy = json.loads(queue.policy) if queue.policy else {}
    except ValueError:
        return False
    statements = policy.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        principal = statement.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else principal
        services = services if isinstance(services, list) else [services]
        actions = statement.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        resources = statement.get("Resource", "*")
        resources = resources if isinstance(resources, list) else [resources]
        if (
            statement.get("Effect") != "Allow"
            or not ({"events.amazonaws.com", "*"} & set(services))
            or not any(a in ("sqs:SendMessage", "sqs:*", "*") for a in actions)
            or not any(fnmatch.fnmatchcase(queue.queue_arn, r) for r in resources)
        ):
            continue
        context = {"aws:sourcearn": rule_arn, "aws:sourceaccount": account}
        if _conditions_hold(statement.get("Condition") or {}, context):
            return True
    return False


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    import fnmatch

    for operator, tests in conditions.items():
        for key, wanted in tests.items():
            value = context.get(key.lower())
            wanted = wanted if isinstance(wanted, list) else [wanted]
            if value is None:
                return False
            if operator in ("ArnEquals", "StringEquals"):
                if value not in wanted:
                    return False
            elif operator in ("ArnLike", "StringLike"):
                if not any(fnmatch.fnmatchcase(value, w) for w in wanted):
                    return False
            else:
                return False
    return True
