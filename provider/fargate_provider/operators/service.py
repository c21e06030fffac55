"""Create, update and delete ECS services on Fargate, and wait until they are truly stable."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowException

from fargate_provider.exceptions import FargateInputError, WaitTimeoutError
from fargate_provider.links.ecs import (
    EcsClusterLink,
    EcsServiceLink,
    EcsTaskDefinitionLink,
    persist_link,
    persist_service_links,
    task_definition_fields,
)
from fargate_provider.operators.base import FargateBaseOperator, default_deferrable, require_preflight
from fargate_provider.settings import WAIT_IN_WORKER_SECONDS
from fargate_provider.state.service import (
    INACTIVE_TARGET,
    STABLE_TARGET,
    ServiceWatch,
    event_ids,
)
from fargate_provider.triggers.service import FargateServiceTrigger
from fargate_provider.utils.networking import check_network, network_configuration
from fargate_provider.utils.tags import (
    check_require_tags,
    lacking_tags,
    ownership,
    require_tags_error,
    tags_from_context,
    to_ecs_tags,
    validate_user_tags,
)
from fargate_provider.utils.tokens import service_client_token
from fargate_rules.arns import name_from_arn
from fargate_rules.validation import (
    FARGATE_CAPACITY_PROVIDERS,
    check_count,
    check_name,
    check_request_limits,
    check_wait,
    validate_capacity_strategy,
)

PROPAGATE_TAGS = ("SERVICE", "TASK_DEFINITION", "NONE")
FIRST_POLL_INTERVAL = 1.0  # seconds before the worker's second look, doubling up to poll_interval

if TYPE_CHECKING:  # the operators it is mixed into (hook, log, defer, execute)
    _WaitingOperator = FargateBaseOperator
else:
    _WaitingOperator = object


class _ServiceWaitMixin(_WaitingOperator):
    """Wait for a ServiceWatch in the worker or, deferred, in the triggerer: same judgement."""

    def _init_wait(
        self,
        deferrable: bool | None,
        poll_interval: float,
        timeout: float,
        max_failed_tasks: int = 3,
        wait_in_worker_seconds: float | None = None,
    ) -> None:
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval, self.timeout, self.max_failed_tasks = poll_interval, timeout, max_failed_tasks
        self.wait_in_worker_seconds = wait_in_worker_seconds

    def _check_wait(self) -> None:
        check_wait(self.poll_interval, self.timeout, self.wait_in_worker_seconds)

    def _wait(self, context, cluster: str, watch: ServiceWatch, value: Any) -> Any:
        if not self.deferrable:
            self.hook.wait_for_services(cluster, watch, poll_interval=self.poll_interval, timeout=self.timeout)
            return value
        in_worker = WAIT_IN_WORKER_SECONDS.get() if self.wait_in_worker_seconds is None else self.wait_in_worker_seconds
        timeout = self.timeout
        if in_worker > 0:
            # A wait over within the time a deferral takes anyway (the triggerer resumes the task no
            # sooner than [fargate] resume_not_before_seconds) is done here, with the same steps.
            started = time.monotonic()
            try:
                self.hook.wait_for_services(
                    cluster,
                    watch,
                    poll_interval=self.poll_interval,
                    timeout=min(in_worker, self.timeout),
                    first_interval=FIRST_POLL_INTERVAL,
                )
                return value
            except WaitTimeoutError:
                if in_worker >= self.timeout:
                    raise
            timeout = self.timeout - (time.monotonic() - started)
            self.log.info(
                "Not there after %g s in the worker: the triggerer waits on (up to %.0f s).", in_worker, timeout
            )
        self.defer(
            trigger=FargateServiceTrigger(
                cluster=cluster,
                watch=watch.to_kwargs(),  # the service events logged so far are not logged again
                poll_interval=self.poll_interval,
                timeout=timeout,
                value=value,
                **FargateServiceTrigger.connection_of(self),
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context, event: dict[str, Any] | None = None) -> Any:
        if event is None:
            # A resumed try whose trigger result was lost (e.g. the worker died during the
            # wait): look at the service again instead of failing on a missing event.
            self.log.warning("Resumed without the trigger's event (it was lost); following the service again.")
            return self.resume_wait(context)
        if event.get("status") != "success":
            raise FargateServiceTrigger.error_from_event(event)
        self.log.info("Resumed from the triggerer: the wait succeeded.")
        return event.get("value")

    def resume_wait(self, context) -> Any:
        """Wait again after a lost trigger event: by default the operator's execute, which is
        idempotent (an existing service of the same spec is reused, a deleted one stays deleted)."""
        return self.execute(context)


class FargateCreateServiceOperator(_ServiceWaitMixin, FargateBaseOperator):
    """Create an ECS service on Fargate (or reuse/update the ACTIVE one of that name); return its ARN.

    Private vs public subnets is ``assign_public_ip``. With ``wait_for_stable`` it waits until
    the service is stable in the strict sense of ``fargate_provider.state.service`` and fails
    fast on a failed rollout, stopping tasks or a service gone away. A retried try finds the
    service its first try created (same client token) instead of creating a second one.

    :param cluster: the cluster's name (1-255 letters, digits, hyphens, underscores).
    :param service_name: the service's name (same characters).
    :param task_definition: family, ``family:revision`` or ARN of an ACTIVE task definition.
    :param subnets: subnet IDs for the tasks' network interfaces (awsvpc); 1-16.
    :param security_groups: security group IDs for the tasks; 1-5.
    :param desired_count: tasks the service keeps running, 0-5000 (ECS's tasks-per-service quota). Default 1.
    :param assign_public_ip: give tasks a public IP (public subnets with an internet gateway). Default False.
    :param enable_execute_command: allow ``aws ecs execute-command`` into the tasks. Default False.
    :param platform_version: Fargate platform version. Default ``LATEST``.
    :param capacity_provider_strategy: ``[{"capacityProvider": "FARGATE" | "FARGATE_SPOT", "weight": n, "base": n}]``;
        none: launch type FARGATE.
    :param deployment_circuit_breaker: let ECS stop and roll back a deployment whose tasks keep
        failing. Default True.
    :param load_balancers: CreateService's ``loadBalancers`` (``targetGroupArn``, ``containerName``,
        ``containerPort``), passed as they are; ECS checks them (an ``ip`` target group for Fargate).
    :param health_check_grace_period_seconds: with ``load_balancers``: seconds ECS ignores failing
        load balancer health checks of a new task (0-2147483647). Default: ECS's (0).
    :param service_registries: CreateService's ``serviceRegistries``, passed as they are.
    :param propagate_tags: ``SERVICE``, ``TASK_DEFINITION`` or ``NONE``: whose tags the tasks get. Default ``SERVICE``.
    :param tags: your tags, besides the provider's (``managed-by``, DAG and run ids).
    :param wait_for_stable: wait until the service is stable. Default True.
    :param deferrable: wait in the triggerer; default: ``[operators] default_deferrable``.
    :param wait_in_worker_seconds: deferrable: wait this long in the worker first (polling from 1 s,
        doubling up to ``poll_interval``) and defer only if the wait goes on. Default: ``[fargate]
        wait_in_worker_seconds`` (15: a deferred wait resumes no sooner than that anyway).
    :param poll_interval: seconds between DescribeServices calls while waiting. Default 15.
    :param timeout: seconds the wait may take. Default 1800.
    :param max_failed_tasks: stopped tasks of the new deployment after which the wait fails (without
        a circuit breaker). Default 3.
    :param preflight: before starting anything, check with read-only calls what ECS will need
        (roles and their permissions, images, secrets, log groups, routes from the subnets,
        security-group egress, capacity providers; see ``FargatePreflightOperator``) and fail
        with every problem at once (``PreflightError``, not retried).
    :param require_tags: tags (besides managed-by) an existing service must carry to be updated.
    :param adopt: update an existing service that is not ours (logged); without it such a service
        fails the task (NotOursError) and is left as it is.
    :return: the service's ARN.
    :raises FargateInputError: bad input, before any AWS call.
    :raises NotOursError: an existing service of that name is not ours.
    :raises RolloutFailedError: the deployment failed (rollback, tasks stopping, service gone).
    :raises WaitTimeoutError: not stable within ``timeout``.

    .. seealso:: :doc:`/guides/services`
    """

    template_fields: Sequence[str] = aws_template_fields(
        "cluster",
        "service_name",
        "task_definition",
        "desired_count",
        "subnets",
        "security_groups",
        "assign_public_ip",
        "tags",
        "capacity_provider_strategy",
        "require_tags",
        "load_balancers",
        "health_check_grace_period_seconds",
    )
    operator_extra_links = (EcsClusterLink(), EcsServiceLink(), EcsTaskDefinitionLink())

    def __init__(
        self,
        cluster: str,
        service_name: str,
        task_definition: str,
        *,
        subnets: Sequence[str],
        security_groups: Sequence[str],
        desired_count: int = 1,
        assign_public_ip: bool = False,
        enable_execute_command: bool = False,
        platform_version: str = "LATEST",
        capacity_provider_strategy: Sequence[Mapping[str, Any]] | None = None,
        deployment_circuit_breaker: bool = True,
        load_balancers: list[dict[str, Any]] | None = None,
        health_check_grace_period_seconds: int | None = None,
        service_registries: list[dict[str, Any]] | None = None,
        propagate_tags: str = "SERVICE",
        tags: Mapping[str, str] | None = None,
        wait_for_stable: bool = True,
        deferrable: bool | None = None,
        wait_in_worker_seconds: float | None = None,
        poll_interval: float = 15,
        timeout: float = 1800,
        max_failed_tasks: int = 3,
        preflight: bool = False,
        require_tags: Mapping[str, str] | None = None,
        adopt: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.preflight = preflight
        self.require_tags, self.adopt = require_tags, adopt
        self.cluster, self.service_name, self.task_definition = cluster, service_name, task_definition
        self.subnets, self.security_groups = subnets, security_groups
        self.desired_count = desired_count
        self.assign_public_ip = assign_public_ip
        self.enable_execute_command = enable_execute_command
        self.platform_version = platform_version
        self.capacity_provider_strategy = capacity_provider_strategy
        self.deployment_circuit_breaker = deployment_circuit_breaker
        self.load_balancers, self.service_registries = load_balancers, service_registries
        self.health_check_grace_period_seconds = health_check_grace_period_seconds
        self.propagate_tags, self.tags = propagate_tags, tags
        self.wait_for_stable = wait_for_stable
        self._init_wait(deferrable, poll_interval, timeout, max_failed_tasks, wait_in_worker_seconds)

    def _validated(self) -> dict[str, Any]:
        check_name("cluster", self.cluster)
        check_name("service_name", self.service_name)
        if not isinstance(self.task_definition, str) or not self.task_definition:
            raise FargateInputError("task_definition: give a family, family:revision or a task definition ARN")
        desired = check_count("desired_count", self.desired_count)
        check_network(self.subnets, self.security_groups)
        check_request_limits(  # ECS's documented limits (fargate_rules.request_limits), as the emulator's
            "CreateService",
            {
                "serviceName": self.service_name,
                "desiredCount": self.desired_count,
                "networkConfiguration": network_configuration(self.subnets, self.security_groups, False),
            },
        )
        if not isinstance(self.assign_public_ip, bool):
            raise FargateInputError(f"assign_public_ip: must be true or false, got {self.assign_public_ip!r}")
        if self.propagate_tags not in PROPAGATE_TAGS:
            raise FargateInputError(
                f"propagate_tags: {self.propagate_tags!r} is not allowed; allowed: {', '.join(PROPAGATE_TAGS)}"
            )
        self._check_wait()
        strategy = validate_capacity_strategy(
            self.capacity_provider_strategy, FARGATE_CAPACITY_PROVIDERS, "capacity_provider_strategy"
        )
        check_require_tags(self.require_tags)
        grace = self.health_check_grace_period_seconds
        if grace is not None and (
            isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= 2_147_483_647
        ):
            raise FargateInputError(
                f"health_check_grace_period_seconds: {grace!r} is not allowed; give whole seconds, 0-2147483647"
            )
        if grace is not None and not self.load_balancers:
            raise FargateInputError(
                "health_check_grace_period_seconds: only with load_balancers (it delays their health checks)"
            )
        return {"desired": desired, "strategy": strategy, "user_tags": validate_user_tags(self.tags)}

    def _create_request(self, context, checked: dict[str, Any], task_definition_arn: str) -> dict[str, Any]:
        """CreateService's request (its cluster, name, task definition and count also say what an
        existing service is brought to)."""
        request: dict[str, Any] = {
            "cluster": self.cluster,
            "serviceName": self.service_name,
            "taskDefinition": task_definition_arn,
            "desiredCount": checked["desired"],
            "clientToken": service_client_token(context),
            "platformVersion": self.platform_version,
            "networkConfiguration": network_configuration(self.subnets, self.security_groups, self.assign_public_ip),
            "deploymentConfiguration": {
                "deploymentCircuitBreaker": {
                    "enable": self.deployment_circuit_breaker,
                    "rollback": self.deployment_circuit_breaker,
                }
            },
            "enableExecuteCommand": self.enable_execute_command,
            "propagateTags": self.propagate_tags,
            "tags": to_ecs_tags(tags_from_context(context, checked["user_tags"])),
        }
        if checked["strategy"]:
            request["capacityProviderStrategy"] = checked["strategy"]
        else:
            request["launchType"] = "FARGATE"
        if self.load_balancers:
            request["loadBalancers"] = self.load_balancers
            if self.health_check_grace_period_seconds is not None:
                request["healthCheckGracePeriodSeconds"] = self.health_check_grace_period_seconds
        if self.service_registries:
            request["serviceRegistries"] = self.service_registries
        return request

    def execute(self, context) -> str:
        checked = self._validated()
        cluster, name = self.cluster, self.service_name
        task_definition = self.hook.describe_task_definition(self.task_definition)
        if task_definition is None or task_definition.get("status") != "ACTIVE":
            raise AirflowException(f"task_definition: {self.task_definition} is not an ACTIVE task definition")
        task_definition_arn = task_definition["taskDefinitionArn"]
        if self.preflight:
            require_preflight(
                self.hook,
                self.log,
                task_definition=task_definition,
                subnets=self.subnets,
                security_groups=self.security_groups,
                assign_public_ip=self.assign_public_ip,
                cluster=cluster,
                capacity_provider_strategy=checked["strategy"],
            )
        persist_service_links(context, self, cluster, name)
        persist_link(context, self, EcsTaskDefinitionLink, **task_definition_fields(task_definition_arn))
        existing = self.hook.describe_service(cluster, name)
        if existing is not None and existing["status"] == "ACTIVE":
            ownership(
                f"Service {name} in cluster {cluster}",
                existing.get("tags"),
                {},
                require_tags=self.require_tags,
                adopt=self.adopt,
                log=self.log,
            )
        arn, action = self.hook.ensure_service(self._create_request(context, checked, task_definition_arn), existing)
        if action == "created":
            self.log.info("Created service %s (%s) running %s.", name, arn, name_from_arn(task_definition_arn))
        elif action == "updated":
            assert existing is not None  # (only an existing service is updated)
            self.log.info(
                "Service %s existed with %s x%d; updated it to %s x%d (a new deployment).",
                name,
                name_from_arn(existing["taskDefinition"]),
                existing["desiredCount"],
                name_from_arn(task_definition_arn),
                checked["desired"],
            )
        else:
            self.log.info(
                "Service %s already exists with the same task definition and count; reusing it: %s", name, arn
            )
        if not self.wait_for_stable:
            return arn
        watch = ServiceWatch(
            [name],
            STABLE_TARGET,
            {name: task_definition_arn},
            known_events=event_ids(existing),
            max_failed_tasks=self.max_failed_tasks,
        )
        result = self._wait(context, cluster, watch, arn)
        self.log.info("Service %s is stable.", name)
        return result


class FargateUpdateServiceOperator(_ServiceWaitMixin, FargateBaseOperator):
    """Update a service (new task definition, count, or a forced new deployment); return the new deployment id.

    :param cluster: the service's cluster.
    :param service: the service's name or ARN.
    :param task_definition: family, ``family:revision`` or ARN of an ACTIVE task definition to roll out.
    :param desired_count: the new number of tasks, 0-5000.
    :param force_new_deployment: start a new deployment even with nothing changed (e.g. to pull a
        moved image tag). At least one of these three must be given.
    :param wait_for_stable: wait until the new deployment is stable. Default True.
    :param deferrable: wait in the triggerer; default: ``[operators] default_deferrable``.
    :param wait_in_worker_seconds: deferrable: wait this long in the worker first (polling from 1 s,
        doubling up to ``poll_interval``) and defer only if the wait goes on. Default: ``[fargate]
        wait_in_worker_seconds`` (15: a deferred wait resumes no sooner than that anyway).
    :param poll_interval: seconds between DescribeServices calls while waiting. Default 15.
    :param timeout: seconds the wait may take. Default 1800.
    :param max_failed_tasks: stopped tasks of the new deployment after which the wait fails. Default 3.
    :return: the id of the deployment the update started (``ecs-svc/…``).
    :raises FargateInputError: bad input, before any AWS call.
    :raises RolloutFailedError: the deployment failed.
    :raises WaitTimeoutError: not stable within ``timeout``.

    .. seealso:: :doc:`/guides/services`
    """

    template_fields: Sequence[str] = aws_template_fields("cluster", "service", "task_definition", "desired_count")
    operator_extra_links = (EcsClusterLink(), EcsServiceLink())

    def __init__(
        self,
        cluster: str,
        service: str,
        *,
        task_definition: str | None = None,
        desired_count: int | None = None,
        force_new_deployment: bool = False,
        wait_for_stable: bool = True,
        deferrable: bool | None = None,
        wait_in_worker_seconds: float | None = None,
        poll_interval: float = 15,
        timeout: float = 1800,
        max_failed_tasks: int = 3,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster, self.service = cluster, service
        self.task_definition, self.desired_count = task_definition, desired_count
        self.force_new_deployment = force_new_deployment
        self.wait_for_stable = wait_for_stable
        self._init_wait(deferrable, poll_interval, timeout, max_failed_tasks, wait_in_worker_seconds)

    def execute(self, context) -> str:
        check_name("cluster", self.cluster)
        check_name("service", self.service)
        if self.desired_count is not None:
            check_count("desired_count", self.desired_count)
        self._check_wait()
        if self.task_definition is None and self.desired_count is None and not self.force_new_deployment:
            raise FargateInputError("task_definition, desired_count, force_new_deployment: give at least one change")
        persist_service_links(context, self, self.cluster, self.service)
        before = self.hook.describe_service(self.cluster, self.service)
        request: dict[str, Any] = {
            "cluster": self.cluster,
            "service": self.service,
            "forceNewDeployment": self.force_new_deployment,
        }
        if self.task_definition is not None:
            described = self.hook.describe_task_definition(self.task_definition)
            if described is None or described.get("status") != "ACTIVE":
                raise AirflowException(f"task_definition: {self.task_definition} is not an ACTIVE task definition")
            request["taskDefinition"] = described["taskDefinitionArn"]
        if self.desired_count is not None:
            request["desiredCount"] = self.desired_count
        service = self.hook.update_service(**request)
        primary = service["deployments"][0]
        self.log.info(
            "Updated service %s: deployment %s of %s, desired %d.",
            service["serviceName"],
            primary["id"],
            name_from_arn(primary["taskDefinition"]),
            service["desiredCount"],
        )
        if not self.wait_for_stable:
            return primary["id"]
        name = service["serviceName"]
        watch = ServiceWatch(
            [name],
            STABLE_TARGET,
            {name: primary["taskDefinition"]},
            known_events=event_ids(before),
            max_failed_tasks=self.max_failed_tasks,
        )
        return self._wait(context, self.cluster, watch, primary["id"])

    def resume_wait(self, context) -> str:
        """Not a second UpdateService: wait for the deployment that is PRIMARY now."""
        service = self.hook.describe_service(self.cluster, self.service)
        if service is None or service["status"] != "ACTIVE":
            raise AirflowException(f"service {self.service}: not ACTIVE any more; the wait cannot resume")
        primary = service["deployments"][0]
        name = service["serviceName"]
        watch = ServiceWatch(
            [name], STABLE_TARGET, {name: primary["taskDefinition"]}, max_failed_tasks=self.max_failed_tasks
        )
        return self._wait(context, self.cluster, watch, primary["id"])


class FargateDeleteServiceOperator(_ServiceWaitMixin, FargateBaseOperator):
    """Scale a service to 0, delete it (force) and wait until INACTIVE. Missing or INACTIVE is success.

    :param cluster: the service's cluster.
    :param service: the service's name or ARN.
    :param require_tags: delete only a service carrying these tags (e.g. managed-by); one
        without them fails the task and is left alone.
    :param wait_for_inactive: wait until the service is INACTIVE. Default True.
    :param deferrable: wait in the triggerer; default: ``[operators] default_deferrable``.
    :param wait_in_worker_seconds: deferrable: wait this long in the worker first (polling from 1 s,
        doubling up to ``poll_interval``) and defer only if the wait goes on. Default: ``[fargate]
        wait_in_worker_seconds`` (15: a deferred wait resumes no sooner than that anyway).
    :param poll_interval: seconds between DescribeServices calls while waiting. Default 15.
    :param timeout: seconds the wait may take. Default 1800.
    :return: the deleted service's ARN, or None when there was nothing to delete.
    :raises AirflowException: the service lacks ``require_tags`` (nothing is deleted).
    :raises WaitTimeoutError: not INACTIVE within ``timeout``.

    .. seealso:: :doc:`/guides/services`
    """

    template_fields: Sequence[str] = aws_template_fields("cluster", "service", "require_tags")
    operator_extra_links = (EcsClusterLink(), EcsServiceLink())

    def __init__(
        self,
        cluster: str,
        service: str,
        *,
        require_tags: Mapping[str, str] | None = None,
        wait_for_inactive: bool = True,
        deferrable: bool | None = None,
        wait_in_worker_seconds: float | None = None,
        poll_interval: float = 15,
        timeout: float = 1800,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster, self.service = cluster, service
        self.require_tags = require_tags
        self.wait_for_inactive = wait_for_inactive
        self._init_wait(deferrable, poll_interval, timeout, wait_in_worker_seconds=wait_in_worker_seconds)

    def execute(self, context) -> str | None:
        check_name("cluster", self.cluster)
        check_name("service", self.service)
        self._check_wait()
        persist_service_links(context, self, self.cluster, self.service)
        cluster = self.hook.describe_cluster(self.cluster)
        existing = (
            self.hook.describe_service(self.cluster, self.service)
            if cluster and cluster["status"] == "ACTIVE"
            else None
        )
        if existing is None or existing["status"] == "INACTIVE":
            self.log.info("Service %s does not exist (or is already INACTIVE); nothing to delete.", self.service)
            return None
        arn, name = existing["serviceArn"], existing["serviceName"]
        lacking = lacking_tags(existing.get("tags"), self.require_tags)
        if lacking:
            raise AirflowException(require_tags_error(f"Service {name}", lacking))
        if existing["status"] == "ACTIVE":
            self.hook.start_deleting_service(self.cluster, name)
            self.log.info("Deleting service %s (scaled to 0, delete forced).", name)
        else:
            self.log.info("Service %s is already %s.", name, existing["status"])
        if not self.wait_for_inactive:
            return arn
        watch = ServiceWatch([name], INACTIVE_TARGET, known_events=event_ids(existing))
        result = self._wait(context, self.cluster, watch, arn)
        self.log.info("Service %s is INACTIVE.", name)
        return result
