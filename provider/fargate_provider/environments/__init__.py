"""Ephemeral environments: what an environment's resources are called and tagged, the task
definition its form describes, and how to find them again (the janitor, the environments page).

An environment named ``review-42`` is the cluster ``env-review-42``, the service
``review-42`` in it and the task definition family ``env-review-42``, each tagged
``fargate-environment=review-42`` and ``fargate-expires-at=<UTC time>`` besides the provider's
``managed-by`` tags. Same name, same resources: a second create updates the environment.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from fargate_provider.utils.batching import DESCRIBE_CLUSTERS_BATCH, batched
from fargate_provider.utils.tags import from_ecs_tags, is_managed
from fargate_rules.input_errors import InputError
from fargate_rules.sizes import parse_size_choice

DAG_ID = "fargate_ephemeral_environment"
ENVIRONMENT_TAG = "fargate-environment"
EXPIRES_AT_TAG = "fargate-expires-at"
LEFT_ALONE_TAG = "fargate-janitor-left-alone-since"
# Where people open the environment (space-separated), set on the cluster by the report task.
URL_TAG = "fargate-url"
MAX_TAG_VALUE = 256  # ECS: tag values are at most 256 characters


def url_tag_value(urls: list[str]) -> str:
    """As many whole URLs as fit in one tag value."""
    kept: list[str] = []
    for url in urls:
        if len(" ".join([*kept, url])) > MAX_TAG_VALUE:
            break
        kept.append(url)
    return " ".join(kept)


ACTIONS = ("create", "destroy")
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,28}[a-z0-9]$"
ENV_VAR_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
MAX_TTL_HOURS = 168
CONTAINER_NAME = "app"
CLUSTER_PREFIX = "env-"


class EnvironmentSpecError(InputError):
    """Form input that cannot describe an environment; the message names the field."""


@dataclass(frozen=True)
class EnvironmentNames:
    environment: str
    cluster: str
    service: str
    family: str
    log_group: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


EXPOSE_AUTO = "auto"
HEALTHY_CODES_PATTERN = r"^[0-9]{3}(-[0-9]{3})?(,[0-9]{3}(-[0-9]{3})?)*$"


def resolve_expose(expose: Any, subnet_kind: str, listener_arn: str | None, domain: str | None) -> str:
    """How the environment is reached: the form's ``expose``, or with ``auto`` the load balancer when
    the platform team set it up, else a public IP in public subnets, else none. Checked before any
    AWS call: what the choice needs must be there."""
    from fargate_provider.environments import exposure

    if expose == EXPOSE_AUTO:
        return exposure.default_expose(subnet_kind, listener_arn, domain)
    if expose not in exposure.EXPOSE_CHOICES:
        allowed = ", ".join((EXPOSE_AUTO, *exposure.EXPOSE_CHOICES))
        raise EnvironmentSpecError(f"expose: {expose!r} is not allowed; allowed: {allowed}")
    if expose == "load_balancer" and not (listener_arn and domain):
        raise EnvironmentSpecError(
            f"expose: load_balancer needs the Variables {exposure.LISTENER_VARIABLE} (an ALB listener's ARN) and "
            f"{exposure.DOMAIN_VARIABLE} (a domain whose wildcard record points at that ALB), "
            "set once by the platform team"
        )
    if expose == "public_ip" and subnet_kind != "public":
        raise EnvironmentSpecError(
            "expose: public_ip needs public subnets (subnet_kind: public); private subnets give no public IP"
        )
    return expose


def names(environment: Any) -> EnvironmentNames:
    if not isinstance(environment, str) or not re.fullmatch(NAME_PATTERN, environment):
        raise EnvironmentSpecError(
            f"environment: {environment!r} is not allowed; use 2-30 lower-case letters, digits and hyphens, "
            "starting with a letter and not ending with a hyphen"
        )
    return EnvironmentNames(
        environment=environment,
        cluster=f"{CLUSTER_PREFIX}{environment}",
        service=environment,
        family=f"{CLUSTER_PREFIX}{environment}",
        log_group=f"/airflow/fargate/environments/{environment}",
    )


def environment_tags(environment: str, ttl_hours: Any, now: dt.datetime) -> dict[str, str]:
    """The environment's own tags; the expiry is reset by every create."""
    if isinstance(ttl_hours, bool) or not isinstance(ttl_hours, (int, float)) or not 1 <= ttl_hours <= MAX_TTL_HOURS:
        raise EnvironmentSpecError(f"ttl_hours: must be a number of hours from 1 to {MAX_TTL_HOURS}, got {ttl_hours!r}")
    expires = (now + dt.timedelta(hours=ttl_hours)).astimezone(dt.UTC).replace(microsecond=0)
    return {ENVIRONMENT_TAG: environment, EXPIRES_AT_TAG: expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


def environment_task_definition(
    env: EnvironmentNames, *, image: Any, size: Any, container_port: Any, variables: Any, region: str
) -> dict[str, Any]:
    """The task definition the form describes: one essential container, its port, its plain
    environment variables (secrets belong in Secrets Manager, not in a form) and awslogs."""
    if not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image.strip()):
        raise EnvironmentSpecError(
            f"image: give an image reference such as public.ecr.aws/nginx/nginx:1.27, got {image!r}"
        )
    cpu, memory = parse_size_choice(size, "size")
    if isinstance(container_port, bool) or not isinstance(container_port, int) or not 1 <= container_port <= 65535:
        raise EnvironmentSpecError(f"container_port: must be a port number from 1 to 65535, got {container_port!r}")
    if not isinstance(variables, Mapping):
        raise EnvironmentSpecError("environment_variables: must be a mapping of NAME to value")
    for name, value in variables.items():
        if not isinstance(name, str) or not re.fullmatch(ENV_VAR_NAME_PATTERN, name):
            raise EnvironmentSpecError(
                f"environment_variables: {name!r} is not a variable name "
                "(letters, digits, _; not starting with a digit)"
            )
        if not isinstance(value, (str, int, float, bool)):
            raise EnvironmentSpecError(f"environment_variables.{name}: must be a string, number or boolean")
    return {
        "family": env.family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": str(cpu),
        "memory": str(memory),
        "containerDefinitions": [
            {
                "name": CONTAINER_NAME,
                "image": image.strip(),
                "essential": True,
                "portMappings": [{"containerPort": container_port, "hostPort": container_port, "protocol": "tcp"}],
                "environment": [
                    {"name": k, "value": str(v).lower() if isinstance(v, bool) else str(v)}
                    for k, v in sorted(variables.items())
                ],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": env.log_group,
                        "awslogs-region": region,
                        "awslogs-stream-prefix": "env",
                        "awslogs-create-group": "true",
                    },
                },
            }
        ],
    }


def task_definition_from_form(params: Mapping[str, Any], prepared: Mapping[str, Any]) -> dict[str, Any]:
    """The environment's task definition, built where it is used (a Jinja macro of the DAG, so
    the form's variable values travel in no XCom): the form's fields, and the roles and region
    the ``prepare`` task found."""
    from fargate_provider.roles import task_definition_roles

    task_definition = environment_task_definition(
        names(params["environment"]),
        image=params["image"],
        size=params["size"],
        container_port=params["container_port"],
        variables=params["environment_variables"],
        region=prepared["region"],
    )
    task_definition.update(task_definition_roles(prepared))
    return task_definition


def expires_at(tags: Mapping[str, str]) -> dt.datetime | None:
    value = tags.get(EXPIRES_AT_TAG)
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC) if value else None
    except ValueError:
        return None


def managed_environment_clusters(hook: Any) -> list[dict[str, Any]]:
    """ACTIVE clusters tagged managed-by=airflow-provider-fargate and fargate-environment=…
    (ListClusters, then DescribeClusters with tags, 100 a call: the API's limit)."""
    arns = [arn for page in hook.conn.get_paginator("list_clusters").paginate() for arn in page["clusterArns"]]
    found = []
    for batch in batched(arns, DESCRIBE_CLUSTERS_BATCH):
        for cluster in hook.conn.describe_clusters(clusters=batch, include=["TAGS"])["clusters"]:
            tags = from_ecs_tags(cluster.get("tags"))
            if cluster.get("status") == "ACTIVE" and is_managed(tags) and tags.get(ENVIRONMENT_TAG):
                found.append({**cluster, "tags": tags})
    return found


@dataclass(frozen=True)
class LeftAlone:
    """An expired environment the janitor cannot destroy, and since when it has said so (the
    cluster's LEFT_ALONE_TAG), so that it warns once and not every hour."""

    cluster: str
    cluster_arn: str
    reason: str
    since: str | None = None

    def __str__(self) -> str:
        return self.reason


def expired_environments(hook: Any, now: dt.datetime) -> tuple[list[EnvironmentNames], list[LeftAlone | str]]:
    """Environments whose TTL has passed and whose cluster holds only managed services; and,
    for the log, why other expired ones are left alone."""
    expired: list[EnvironmentNames] = []
    left_alone: list[LeftAlone | str] = []
    for cluster in managed_environment_clusters(hook):
        tags = cluster["tags"]
        expiry = expires_at(tags)
        if expiry is None or expiry > now:
            continue
        try:
            env = names(tags[ENVIRONMENT_TAG])
        except EnvironmentSpecError:
            left_alone.append(
                f"{cluster['clusterName']}: its {ENVIRONMENT_TAG} tag {tags[ENVIRONMENT_TAG]!r} "
                "is not an environment name"
            )
            continue
        if env.cluster != cluster["clusterName"]:
            left_alone.append(
                f"{cluster['clusterName']}: tagged {ENVIRONMENT_TAG}={env.environment} but not named {env.cluster}"
            )
            continue
        services = hook.describe_services(env.cluster, hook.list_services(env.cluster))
        foreign = [s["serviceName"] for s in services if s["status"] != "INACTIVE" and not is_managed(s.get("tags"))]
        # Standalone tasks (not a service's): someone else's keep the cluster alive too.
        foreign_tasks = [
            t["taskArn"].rsplit("/", 1)[-1] for t in hook.standalone_tasks(env.cluster) if not is_managed(t.get("tags"))
        ]
        if foreign or foreign_tasks:
            what = " and ".join(
                part
                for part in (
                    foreign and f"services not managed by the provider {foreign}",
                    foreign_tasks and f"tasks not managed by the provider {foreign_tasks}",
                )
                if part
            )
            # A note from before the expiry last moved (Extend, Keep until) is about another expiry.
            since = tags.get(LEFT_ALONE_TAG)
            since = since if since and since >= tags.get(EXPIRES_AT_TAG, "") else None
            left_alone.append(LeftAlone(env.cluster, cluster["clusterArn"], f"{env.cluster}: holds {what}", since))
            continue
        expired.append(env)
    return expired, left_alone


def describe_environments(hook: Any, now: dt.datetime) -> list[dict[str, Any]]:
    """What the environments page shows: each managed environment with its service, tasks,
    age, TTL left and estimated cost so far (``environments.cost``: the larger of the service's
    deployment history and the tasks ECS still lists)."""
    from fargate_provider.environments.cost import estimate_service_cost
    from fargate_provider.utils.pricing import PriceNotKnown
    from fargate_rules.arns import name_from_arn

    region = hook.region_name or hook.conn_region_name
    found = []
    for cluster in managed_environment_clusters(hook):
        tags = cluster["tags"]
        name = tags[ENVIRONMENT_TAG]
        services = hook.describe_services(cluster["clusterName"], hook.list_services(cluster["clusterName"]))
        service = next((s for s in services if s["status"] != "INACTIVE" and is_managed(s.get("tags"))), None)
        expiry = expires_at(tags)
        entry: dict[str, Any] = {
            "environment": name,
            "cluster": cluster["clusterName"],
            "service": service["serviceName"] if service else None,
            "task_definition": name_from_arn(service["taskDefinition"]) if service else None,
            "desired_count": service["desiredCount"] if service else 0,
            "running_count": service["runningCount"] if service else 0,
            "created_at": service["createdAt"].isoformat() if service and service.get("createdAt") else None,
            "age_seconds": int((now - service["createdAt"]).total_seconds())
            if service and service.get("createdAt")
            else None,
            "expires_at": tags.get(EXPIRES_AT_TAG),
            "urls": tags.get(URL_TAG, "").split(),
            "ttl_left_seconds": int((expiry - now).total_seconds()) if expiry else None,
            "estimated_cost_usd": None,
            "cost_note": None,
        }
        if service:
            try:
                estimate = estimate_service_cost(hook, cluster["clusterName"], service, region=region, now=now)
                entry["estimated_cost_usd"], entry["cost_note"] = estimate.usd, estimate.note
            except PriceNotKnown as err:
                entry["cost_note"] = f"not estimated: {err}"
        found.append(entry)
    return sorted(found, key=lambda e: e["environment"])
