"""How people reach an ephemeral environment: its URL(s), by load balancer, public IP or neither.

- ``load_balancer``: the platform team sets once the Airflow Variables ``fargate_environments_listener_arn``
  (an existing ALB listener, HTTP or HTTPS) and ``fargate_environments_domain`` (a wildcard DNS record
  ``*.<domain>`` points at the ALB). Each environment gets an ``ip`` target group ``e-<environment>`` and
  a listener rule "host-header ``<environment>.<domain>`` → forward to it" at the lowest free priority;
  its URL is ``https://<environment>.<domain>`` (``http://`` for an HTTP listener).
- ``public_ip``: tasks in public subnets with ``assignPublicIp=ENABLED``; a URL per running task from
  its ENI's public IP.
- ``none``: the tasks' private IPs, reachable inside the VPC only.

The target group and rule carry the environment's tags (``managed-by`` and ``fargate-environment``);
only resources carrying both are reused or deleted. AWS is reached through ``AwsServiceHook`` (the amazon
provider's generic hook; imported when a function runs: this module imports no Airflow).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from fargate_provider import settings
from fargate_provider.environments.naming import ENVIRONMENT_TAG, EXPOSE_AUTO, EnvironmentSpecError
from fargate_provider.utils.tags import MANAGED_BY_KEY, MANAGED_BY_VALUE
from fargate_rules import load_balancer_quotas
from fargate_rules.input_errors import InputError

log = logging.getLogger(__name__)

EXPOSE_CHOICES = ("load_balancer", "public_ip", "none")
LISTENER_VARIABLE = settings.ENVIRONMENTS_LISTENER_ARN.name
DOMAIN_VARIABLE = settings.ENVIRONMENTS_DOMAIN.name

TARGET_GROUP_PREFIX = "e-"
TARGET_GROUP_NAME_MAX = 32  # ELBv2's limit
MAX_RULE_PRIORITY = 50000  # ELBv2: a rule's priority is 1-50000
PRIORITY_ATTEMPTS = 10  # tries at a free priority when other environments take them meanwhile
DESCRIBE_TASKS_BATCH = 100
FILTER_VALUES_BATCH = 200
TAGS_BATCH = 20  # ELBv2 DescribeTags takes up to 20 ARNs


class RouteError(RuntimeError):
    """A route that could not be made (no free priority after PRIORITY_ATTEMPTS, a bad name)."""


@dataclass
class Route:
    """An environment's way in through the load balancer: its target group and listener rule."""

    target_group_arn: str
    rule_arn: str
    priority: int
    url: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_expose(subnet_kind: str, listener_arn: str | None, domain: str | None) -> str:
    """``load_balancer`` once the platform team has set the listener and the domain, else
    ``public_ip`` for public subnets, else ``none``."""
    if listener_arn and domain:
        return "load_balancer"
    return "public_ip" if subnet_kind == "public" else "none"


def target_group_name(environment: str) -> str:
    name = f"{TARGET_GROUP_PREFIX}{environment}"
    if len(name) > TARGET_GROUP_NAME_MAX:
        raise RouteError(f"target group name {name!r} is longer than ELBv2's {TARGET_GROUP_NAME_MAX} characters")
    return name


def host_name(environment: str, domain: str) -> str:
    return f"{environment}.{domain.strip().strip('.').lower()}"


# ------------------------------------------------------------------ AWS plumbing


def _client(aws_conn_id: str, client_type: str) -> Any:
    from fargate_provider.hooks.fargate import AwsServiceHook

    return AwsServiceHook(aws_conn_id=aws_conn_id, client_type=client_type).conn


def _code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


def _client_error() -> type[Exception]:
    from botocore.exceptions import ClientError

    return ClientError


def _not_ours(message: str) -> Exception:
    from fargate_provider.exceptions import NotOursError

    return NotOursError(message)


def _full(message: str) -> Exception:
    from fargate_provider.exceptions import LoadBalancerFullError

    return LoadBalancerFullError(message)


def _ours_for(tags: Mapping[str, str], environment: str) -> bool:
    return tags.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE and tags.get(ENVIRONMENT_TAG) == environment


def _tags_of(elbv2: Any, arns: Iterable[str]) -> dict[str, dict[str, str]]:
    arns = list(arns)
    found: dict[str, dict[str, str]] = {}
    for i in range(0, len(arns), TAGS_BATCH):
        for description in elbv2.describe_tags(ResourceArns=arns[i : i + TAGS_BATCH])["TagDescriptions"]:
            found[description["ResourceArn"]] = {t["Key"]: t.get("Value", "") for t in description.get("Tags", [])}
    return found


def _target_group(elbv2: Any, name: str) -> dict[str, Any] | None:
    try:
        return elbv2.describe_target_groups(Names=[name])["TargetGroups"][0]
    except _client_error() as error:
        if _code(error) == "TargetGroupNotFound":
            return None
        raise


def _rules(elbv2: Any, listener_arn: str) -> list[dict[str, Any]]:
    return [
        rule
        for page in elbv2.get_paginator("describe_rules").paginate(ListenerArn=listener_arn)
        for rule in page["Rules"]
    ]


def _used_priorities(elbv2: Any, listener_arn: str) -> set[int]:
    return {int(rule["Priority"]) for rule in _rules(elbv2, listener_arn) if str(rule.get("Priority", "")).isdigit()}


def _forwards_to(rule: Mapping[str, Any], target_group_arn: str) -> bool:
    for action in rule.get("Actions", []):
        if action.get("Type") != "forward":
            continue
        arns = [action.get("TargetGroupArn")] + [
            g.get("TargetGroupArn") for g in action.get("ForwardConfig", {}).get("TargetGroups", [])
        ]
        if target_group_arn in arns:
            return True
    return False


def _hosts(rule: Mapping[str, Any]) -> set[str]:
    hosts: set[str] = set()
    for condition in rule.get("Conditions", []):
        if condition.get("Field") == "host-header":
            hosts.update(
                v.lower() for v in condition.get("HostHeaderConfig", {}).get("Values") or condition.get("Values") or []
            )
    return hosts


def _listener_of_rule(rule_arn: str) -> str:
    """arn:…:listener-rule/app/LB/ID/LISTENER/RULE → arn:…:listener/app/LB/ID/LISTENER."""
    return rule_arn.replace(":listener-rule/", ":listener/").rsplit("/", 1)[0]


def _scheme(elbv2: Any, listener_arn: str) -> str:
    listener = elbv2.describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]
    return "https" if listener.get("Protocol") in ("HTTPS", "TLS") else "http"


def _url(scheme: str, environment: str, domain: str) -> str:
    return f"{scheme}://{host_name(environment, domain)}"


# ------------------------------------------------------------------ the route through the load balancer


def ensure_route(
    *,
    aws_conn_id: str,
    environment: str,
    listener_arn: str,
    domain: str,
    vpc_id: str,
    container_port: int,
    health_check_path: str = "/",
    healthy_codes: str = "200-399",
    tags: dict[str, str],
    allowed_cidrs: Iterable[str] | None = None,
) -> Route:
    """The environment's ``ip`` target group and host-header rule on the listener, made or reused.

    A target group ``e-<environment>`` that is not ours for this environment raises NotOursError (and is
    left untouched); so does a rule not ours that already routes the environment's host name. A new rule
    takes the lowest free priority; when another environment takes it meanwhile (PriorityInUse), the
    priorities are read again and the next free one is tried, PRIORITY_ATTEMPTS times at most.
    ``allowed_cidrs``: the rule also has a ``source-ip`` condition, and a second rule after it answers
    other addresses 403 for the same host (``denial_answer``)."""
    if not _ours_for(tags, environment):
        raise ValueError(f"tags must carry {MANAGED_BY_KEY}={MANAGED_BY_VALUE} and {ENVIRONMENT_TAG}={environment}")
    elbv2 = _client(aws_conn_id, "elbv2")
    name = target_group_name(environment)
    host = host_name(environment, domain)
    url = _url(_scheme(elbv2, listener_arn), environment, domain)
    elb_tags = [{"Key": k, "Value": v} for k, v in tags.items()]
    health = {"HealthCheckPath": health_check_path, "Matcher": {"HttpCode": healthy_codes}}

    found = _target_group(elbv2, name)
    listener_rules = _check_room(elbv2, listener_arn, environment, host, found, allowed_cidrs)
    if found is not None:
        if not _ours_for(_tags_of(elbv2, [found["TargetGroupArn"]]).get(found["TargetGroupArn"], {}), environment):
            raise _not_ours(
                f"target group {name} ({found['TargetGroupArn']}) exists but does not carry "
                f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE} and {ENVIRONMENT_TAG}={environment}; left untouched"
            )
        target_group_arn = found["TargetGroupArn"]
        elbv2.modify_target_group(TargetGroupArn=target_group_arn, HealthCheckProtocol="HTTP", **health)
        log.info(
            "Reusing target group %s (%s); health check %s, codes %s",
            name,
            target_group_arn,
            health_check_path,
            healthy_codes,
        )
    else:
        target_group_arn = elbv2.create_target_group(
            Name=name,
            Protocol="HTTP",
            Port=int(container_port),
            VpcId=vpc_id,
            TargetType="ip",
            HealthCheckProtocol="HTTP",
            HealthCheckEnabled=True,
            Tags=elb_tags,
            **health,
        )["TargetGroups"][0]["TargetGroupArn"]
        log.info("Created target group %s (%s)", name, target_group_arn)

    rules = [r for r in listener_rules if not r.get("IsDefault")]
    candidates = [r for r in rules if _forwards_to(r, target_group_arn) or host in _hosts(r)]
    rule_tags = _tags_of(elbv2, [r["RuleArn"] for r in candidates]) if candidates else {}
    ours = [r for r in candidates if _ours_for(rule_tags.get(r["RuleArn"], {}), environment)]
    main = next((r for r in ours if not _is_denial(r)), None)
    conditions = _conditions(host, allowed_cidrs)
    forward = [{"Type": "forward", "TargetGroupArn": target_group_arn}]
    if main is not None:
        changes: dict[str, Any] = {}
        if _condition_values(main) != _condition_values({"Conditions": conditions}):
            changes["Conditions"] = conditions
        if not _forwards_to(main, target_group_arn):
            changes["Actions"] = forward
        if changes:
            elbv2.modify_rule(RuleArn=main["RuleArn"], **changes)
        log.info("Reusing listener rule %s (priority %s) for %s", main["RuleArn"], main["Priority"], host)
        rule_arn, priority = main["RuleArn"], int(main["Priority"])
    else:
        for rule in candidates:
            if host in _hosts(rule) and rule not in ours:
                raise _not_ours(
                    f"listener rule {rule['RuleArn']} (priority {rule['Priority']}) already routes {host} and is "
                    f"not ours for environment {environment}; left untouched"
                )
        rule_arn, priority = _create_rule(elbv2, listener_arn, conditions, forward, elb_tags)
        log.info("Created listener rule %s at priority %d: %s -> %s", rule_arn, priority, host, name)
    denials = [r for r in ours if _is_denial(r)]
    _ensure_denial(elbv2, listener_arn, environment, host, priority, allowed_cidrs, denials, elb_tags)
    return Route(target_group_arn, rule_arn, priority, url)


def _check_room(
    elbv2: Any,
    listener_arn: str,
    environment: str,
    host: str,
    target_group: Mapping[str, Any] | None,
    allowed_cidrs: Iterable[str] | None,
) -> list[dict[str, Any]]:
    """Before anything is made: the listener's load balancer has room for the rules this route adds
    (rules per load balancer, the account's quota as DescribeAccountLimits gives it) and for its target
    group (unique target groups per load balancer, 100). Else LoadBalancerFullError, nothing made.
    Returns the listener's rules as read."""
    balancer = elbv2.describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]["LoadBalancerArn"]
    by_listener = {
        listener["ListenerArn"]: _rules(elbv2, listener["ListenerArn"])
        for page in elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=balancer)
        for listener in page["Listeners"]
    }
    here = by_listener.get(listener_arn, [])
    rules = [rule for found in by_listener.values() for rule in found]
    own = [r for r in here if not r.get("IsDefault") and host in _hosts(r)]
    needed = (0 if any(not _is_denial(r) for r in own) else 1) + (
        1 if allowed_cidrs and not any(_is_denial(r) for r in own) else 0
    )
    if not needed and target_group is not None:
        return here
    limits = {item["Name"]: int(item["Max"]) for item in elbv2.describe_account_limits()["Limits"]}
    problem = load_balancer_quotas.room_problem(
        rules_used=sum(1 for r in rules if not r.get("IsDefault")),
        rules_needed=needed,
        rules_limit=limits.get(load_balancer_quotas.RULES_LIMIT_NAME, load_balancer_quotas.RULES_PER_LOAD_BALANCER),
        target_groups_used=load_balancer_quotas.target_groups_of(a for r in rules for a in r.get("Actions", [])),
        target_group=(target_group or {}).get("TargetGroupArn", ""),
    )
    if problem:
        raise _full(
            f"Environment {environment} cannot get a route on listener {listener_arn}: {problem}. Nothing was made. "
            "Destroy an environment that uses this load balancer, ask AWS for a higher rules quota "
            "(Service Quotas, Elastic Load Balancing), or point the Variable "
            f"{LISTENER_VARIABLE} at a listener of another load balancer."
        )
    return here


def _conditions(host: str, allowed_cidrs: Iterable[str] | None) -> list[dict[str, Any]]:
    conditions: list[dict[str, Any]] = [{"Field": "host-header", "HostHeaderConfig": {"Values": [host]}}]
    if allowed_cidrs:
        conditions.append({"Field": "source-ip", "SourceIpConfig": {"Values": list(allowed_cidrs)}})
    return conditions


def _condition_values(rule: Mapping[str, Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for condition in rule.get("Conditions", []):
        field = condition.get("Field", "")
        config = {"host-header": "HostHeaderConfig", "source-ip": "SourceIpConfig"}.get(field, "")
        values = (condition.get(config) or {}).get("Values") or condition.get("Values") or []
        found[field] = {v.lower() for v in values}
    return found


def denial_answer(environment: str) -> dict[str, Any]:
    """What the load balancer answers people outside an environment's ``allowed_cidrs``."""
    body = f"Environment {environment} is open to some addresses only, and this request's is not one of them."
    return {
        "Type": "fixed-response",
        "FixedResponseConfig": {"StatusCode": "403", "ContentType": "text/plain", "MessageBody": body},
    }


def _is_denial(rule: Mapping[str, Any]) -> bool:
    return any(
        a.get("Type") == "fixed-response" and str((a.get("FixedResponseConfig") or {}).get("StatusCode")) == "403"
        for a in rule.get("Actions", [])
    )


def _ensure_denial(
    elbv2: Any,
    listener_arn: str,
    environment: str,
    host: str,
    main_priority: int,
    allowed_cidrs: Iterable[str] | None,
    denials: list[dict[str, Any]],
    tags: list[dict[str, str]],
) -> None:
    """With ``allowed_cidrs``: a rule after the environment's own, for the same host, answering 403
    (others would fall through to the listener's default); without: none."""
    keep = None
    if allowed_cidrs:
        keep = next((r for r in denials if int(r["Priority"]) > main_priority and _hosts(r) == {host}), None)
    for rule in denials:
        if rule is not keep:
            elbv2.delete_rule(RuleArn=rule["RuleArn"])
            log.info("Deleted listener rule %s (403 for other addresses)", rule["RuleArn"])
    if allowed_cidrs and keep is None:
        rule_arn, priority = _create_rule(
            elbv2, listener_arn, _conditions(host, None), [denial_answer(environment)], tags, after=main_priority
        )
        log.info("Created listener rule %s at priority %d: %s from other addresses -> 403", rule_arn, priority, host)


def _create_rule(
    elbv2: Any,
    listener_arn: str,
    conditions: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    tags: list[dict[str, str]],
    after: int = 0,
) -> tuple[str, int]:
    """A rule at the lowest free priority above ``after``."""
    tried: set[int] = set()
    for _ in range(PRIORITY_ATTEMPTS):
        taken = _used_priorities(elbv2, listener_arn) | tried
        priority = next((p for p in range(after + 1, MAX_RULE_PRIORITY + 1) if p not in taken), None)
        if priority is None:
            raise RouteError(f"listener {listener_arn} has no free rule priority ({after + 1}-{MAX_RULE_PRIORITY})")
        try:
            created = elbv2.create_rule(
                ListenerArn=listener_arn, Priority=priority, Conditions=conditions, Actions=actions, Tags=tags
            )
        except _client_error() as error:
            if _code(error) in (load_balancer_quotas.TOO_MANY_RULES[0], load_balancer_quotas.TOO_MANY_TARGET_GROUPS[0]):
                raise _full(
                    f"listener {listener_arn}: {error} (another route took the load balancer's last room meanwhile)"
                ) from error
            if _code(error) != "PriorityInUse":
                raise
            log.info("Priority %d on %s was taken meanwhile; trying the next free one", priority, listener_arn)
            tried.add(priority)
            continue
        return created["Rules"][0]["RuleArn"], priority
    raise RouteError(
        f"no free priority on listener {listener_arn} after {PRIORITY_ATTEMPTS} attempts (tried {sorted(tried)})"
    )


def _answers_itself(rule: Mapping[str, Any], environment: str) -> bool:
    """A rule of ours that answers for ``<environment>.<domain>`` itself: "asleep", or 403 to others."""
    return any(a.get("Type") == "fixed-response" for a in rule.get("Actions", [])) and any(
        host.startswith(f"{environment}.") for host in _hosts(rule)
    )


def _rules_to(
    elbv2: Any, target_group: Mapping[str, Any], environment: str, listener_arns: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """The environment's rules: those forwarding to its target group, and its "asleep" answer, on
    the listeners of the target group's load balancers and on ``listener_arns`` (a sleeping
    environment's target group is on no load balancer: nothing forwards to it). Gone ones skipped."""
    listeners: dict[str, None] = dict.fromkeys(a for a in listener_arns if a)
    for balancer in target_group.get("LoadBalancerArns", []):
        try:
            for page in elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=balancer):
                listeners.update(dict.fromkeys(li["ListenerArn"] for li in page["Listeners"]))
        except _client_error() as error:
            if _code(error) == "LoadBalancerNotFound":
                continue
            raise
    found: list[dict[str, Any]] = []
    for listener_arn in listeners:
        try:
            found.extend(
                r
                for r in _rules(elbv2, listener_arn)
                if not r.get("IsDefault")
                and (_forwards_to(r, target_group["TargetGroupArn"]) or _answers_itself(r, environment))
            )
        except _client_error() as error:
            if _code(error) != "ListenerNotFound":
                raise
    return found


def asleep_answer(environment: str) -> dict[str, Any]:
    """The listener rule action of a sleeping environment: the load balancer itself says so."""
    body = (
        f"Environment {environment} is asleep: it runs no tasks and costs nothing. "
        f"Wake it on Airflow's Fargate environments page or with: fargate-env wake {environment}"
    )
    return {
        "Type": "fixed-response",
        "FixedResponseConfig": {"StatusCode": "200", "ContentType": "text/plain", "MessageBody": body},
    }


def set_route_asleep(*, aws_conn_id: str, environment: str, asleep: bool, listener_arn: str | None) -> list[str]:
    """Point the environment's own rule(s) at the "asleep" answer, or back at its target group.
    Returns the rule ARNs changed; [] when the environment has no route of ours."""
    elbv2 = _client(aws_conn_id, "elbv2")
    found = _target_group(elbv2, target_group_name(environment))
    if found is None:
        return []
    target_group_arn = found["TargetGroupArn"]
    if not _ours_for(_tags_of(elbv2, [target_group_arn]).get(target_group_arn, {}), environment):
        return []
    rules = _rules_to(elbv2, found, environment, [listener_arn] if listener_arn else [])
    rule_tags = _tags_of(elbv2, [r["RuleArn"] for r in rules]) if rules else {}
    action = asleep_answer(environment) if asleep else {"Type": "forward", "TargetGroupArn": target_group_arn}
    changed = []
    for rule in rules:
        if _ours_for(rule_tags.get(rule["RuleArn"], {}), environment) and not _is_denial(rule):
            elbv2.modify_rule(RuleArn=rule["RuleArn"], Actions=[action])
            changed.append(rule["RuleArn"])
            log.info("Listener rule %s now %s", rule["RuleArn"], "answers: asleep" if asleep else "forwards again")
    return changed


def delete_route(*, aws_conn_id: str, environment: str, listener_arn: str | None = None) -> list[str]:
    """Delete the environment's rule(s), then its target group: only those tagged managed-by and this
    environment. ``listener_arn``: the environments' listener, where a sleeping environment's rule is
    (see ``_rules_to``). Returns the ARNs deleted (rules first); [] when there is nothing of ours."""
    elbv2 = _client(aws_conn_id, "elbv2")
    name = target_group_name(environment)
    found = _target_group(elbv2, name)
    if found is None:
        return []
    target_group_arn = found["TargetGroupArn"]
    if not _ours_for(_tags_of(elbv2, [target_group_arn]).get(target_group_arn, {}), environment):
        log.warning(
            "Target group %s (%s) is not ours for environment %s (tags); left alone",
            name,
            target_group_arn,
            environment,
        )
        return []
    rules = _rules_to(elbv2, found, environment, [listener_arn] if listener_arn else [])
    rule_tags = _tags_of(elbv2, [r["RuleArn"] for r in rules]) if rules else {}
    deleted: list[str] = []
    foreign: list[str] = []
    for rule in rules:
        if not _ours_for(rule_tags.get(rule["RuleArn"], {}), environment):
            foreign.append(rule["RuleArn"])
            continue
        try:
            elbv2.delete_rule(RuleArn=rule["RuleArn"])
        except _client_error() as error:
            if _code(error) != "RuleNotFound":
                raise
        deleted.append(rule["RuleArn"])
        log.info("Deleted listener rule %s", rule["RuleArn"])
    if foreign:
        log.warning("Target group %s left: rule(s) not ours forward to it: %s", name, ", ".join(foreign))
        return deleted
    try:
        elbv2.delete_target_group(TargetGroupArn=target_group_arn)
    except _client_error() as error:
        if _code(error) != "TargetGroupNotFound":
            raise
    deleted.append(target_group_arn)
    log.info("Deleted target group %s (%s)", name, target_group_arn)
    return deleted


def route_of(*, aws_conn_id: str, environment: str) -> Route | None:
    """The environment's route (its target group, ours, and our rule forwarding to it), or None."""
    elbv2 = _client(aws_conn_id, "elbv2")
    found = _target_group(elbv2, target_group_name(environment))
    if found is None or not _ours_for(
        _tags_of(elbv2, [found["TargetGroupArn"]]).get(found["TargetGroupArn"], {}), environment
    ):
        return None
    rules = _rules_to(elbv2, found, environment)
    rule_tags = _tags_of(elbv2, [r["RuleArn"] for r in rules]) if rules else {}
    for rule in rules:
        hosts = sorted(_hosts(rule))
        if _ours_for(rule_tags.get(rule["RuleArn"], {}), environment) and hosts:
            scheme = _scheme(elbv2, _listener_of_rule(rule["RuleArn"]))
            return Route(found["TargetGroupArn"], rule["RuleArn"], int(rule["Priority"]), f"{scheme}://{hosts[0]}")
    return None


# ------------------------------------------------------------------ the URLs people open


def environment_urls(
    *, aws_conn_id: str, cluster: str, service: str, expose: str, container_port: int, route_url: str | None = None
) -> list[str]:
    """load_balancer: [route_url]; public_ip: ``http://<public ip>:<port>`` of each RUNNING task of the
    service (its ENI's public IP); none: ``http://<private ip>:<port>`` of each RUNNING task."""
    if expose not in EXPOSE_CHOICES:
        raise InputError(f"expose: {expose!r} is not one of {', '.join(EXPOSE_CHOICES)}")
    if expose == "load_balancer":
        return [route_url] if route_url else []
    interfaces = _running_task_interfaces(_client(aws_conn_id, "ecs"), cluster, service)
    if expose == "none":
        return [f"http://{private_ip}:{container_port}" for _, private_ip in interfaces if private_ip]
    public = _public_ips(_client(aws_conn_id, "ec2"), [eni for eni, _ in interfaces if eni])
    urls = []
    for eni, _ in interfaces:
        if eni is not None and public.get(eni):  # (public has no None key)
            urls.append(f"http://{public[eni]}:{container_port}")
        else:
            log.warning("Task ENI %s of service %s has no public IP (assignPublicIp DISABLED?)", eni, service)
    return urls


def _running_task_interfaces(ecs: Any, cluster: str, service: str) -> list[tuple[str | None, str | None]]:
    """(ENI id, private IP) of each RUNNING task of the service, oldest first."""
    arns = [
        a
        for page in ecs.get_paginator("list_tasks").paginate(
            cluster=cluster, serviceName=service, desiredStatus="RUNNING"
        )
        for a in page["taskArns"]
    ]
    tasks = [
        t
        for i in range(0, len(arns), DESCRIBE_TASKS_BATCH)
        for t in ecs.describe_tasks(cluster=cluster, tasks=arns[i : i + DESCRIBE_TASKS_BATCH])["tasks"]
    ]
    running = sorted(
        (t for t in tasks if t.get("lastStatus") == "RUNNING"),
        key=lambda t: (str(t.get("startedAt", "")), t["taskArn"]),
    )
    found = []
    for task in running:
        details = {
            d["name"]: d.get("value")
            for attachment in task.get("attachments", [])
            if attachment.get("type") == "ElasticNetworkInterface"
            for d in attachment.get("details", [])
        }
        found.append((details.get("networkInterfaceId"), details.get("privateIPv4Address")))
    return found


def _public_ips(ec2: Any, eni_ids: list[str]) -> dict[str, str]:
    """ENI id → public IP. A filter, not NetworkInterfaceIds: an ENI gone meanwhile (a task stopping) is no error."""
    found: dict[str, str] = {}
    for i in range(0, len(eni_ids), FILTER_VALUES_BATCH):
        batch = eni_ids[i : i + FILTER_VALUES_BATCH]
        pages = ec2.get_paginator("describe_network_interfaces").paginate(
            Filters=[{"Name": "network-interface-id", "Values": batch}]
        )
        for page in pages:
            for eni in page["NetworkInterfaces"]:
                ip = eni.get("Association", {}).get("PublicIp")
                if ip:
                    found[eni["NetworkInterfaceId"]] = ip
    return found


def resolve_expose(expose: Any, subnet_kind: str, listener_arn: str | None, domain: str | None) -> str:
    """How the environment is reached: the form's ``expose``, or with ``auto`` the load balancer when
    the platform team set it up, else a public IP in public subnets, else none. Checked before any
    AWS call: what the choice needs must be there."""
    if expose == EXPOSE_AUTO:
        return default_expose(subnet_kind, listener_arn, domain)
    if expose not in EXPOSE_CHOICES:
        allowed = ", ".join((EXPOSE_AUTO, *EXPOSE_CHOICES))
        raise EnvironmentSpecError(f"expose: {expose!r} is not allowed; allowed: {allowed}")
    if expose == "load_balancer" and not (listener_arn and domain):
        raise EnvironmentSpecError(
            f"expose: load_balancer needs the Variables {LISTENER_VARIABLE} (an ALB listener's ARN) and "
            f"{DOMAIN_VARIABLE} (a domain whose wildcard record points at that ALB), "
            "set once by the platform team"
        )
    if expose == "public_ip" and subnet_kind != "public":
        raise EnvironmentSpecError(
            "expose: public_ip needs public subnets (subnet_kind: public); private subnets give no public IP"
        )
    return expose
