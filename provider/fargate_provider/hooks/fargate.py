"""FargateHook: the ECS calls this provider makes, on top of the amazon provider's EcsHook.

Connections, credentials, regions and endpoints (``endpoint_url`` extra or
``AWS_ENDPOINT_URL`` for the local emulator) all come from the amazon provider. Operators
and triggers share the logic here rather than each calling boto3 their own way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.hooks.ecs import EcsHook
from botocore.config import Config
from botocore.exceptions import ClientError

from fargate_provider.exceptions import RolloutFailedError, TaskFailedToStartError, WaitTimeoutError
from fargate_provider.hooks.botocore_data import share_botocore_data
from fargate_provider.hooks.client_pool import client_pool
from fargate_provider.hooks.steps import (
    Call,
    Steps,
    StreamRead,
    describe_tasks_steps,
    poll_services_steps,
    read_stream_steps,
    run_steps,
    run_steps_async,
    stopped_tasks_steps,
    target_health_steps,
)
from fargate_provider.state.service import Poll, ServiceWatch
from fargate_provider.state.task import LogFollower, LogPacer, LogStream
from fargate_provider.utils.aws_errors import THROTTLING_CODES, has_code, is_not_found
from fargate_provider.utils.batching import (
    DELETE_TASK_DEFINITIONS_BATCH,
    DESCRIBE_SERVICES_BATCH,
    DESCRIBE_TASKS_BATCH,
    batched,
)
from fargate_provider.utils.tags import to_ecs_tags
from fargate_rules.arns import name_from_arn, revision_of
from fargate_rules.capacity import uses_spot

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper

T = TypeVar("T")


class AwsServiceHook(AwsBaseHook):
    """The amazon provider's generic hook for another AWS service (``client_type``: logs, iam, ec2,
    elbv2, …), reading botocore's data once per process (``botocore_data``)."""

    def get_session(self, region_name: str | None = None, deferrable: bool = False) -> Any:
        return share_botocore_data(super().get_session(region_name=region_name, deferrable=deferrable))


class FargateHook(EcsHook):
    """EcsHook plus what running Fargate workloads needs.

    Retries: unless the connection's ``config_kwargs`` set ``retries``, botocore's ``standard``
    retry mode with 10 attempts absorbs throttling and 5xx answers (the connection's other
    botocore settings kept); nothing here loops on its own around an API error.
    """

    hook_name = "Amazon ECS on Fargate"

    def get_session(self, region_name: str | None = None, deferrable: bool = False) -> Any:
        """The amazon provider's session, reading botocore's data once per process (``botocore_data``)."""
        return share_botocore_data(super().get_session(region_name=region_name, deferrable=deferrable))

    @cached_property
    def conn_config(self) -> AwsConnectionWrapper:
        wrapper = super().conn_config
        retries = Config(retries={"mode": "standard", "total_max_attempts": 10})
        if wrapper.botocore_config is None:
            wrapper.botocore_config = retries
        elif "retries" not in getattr(wrapper.botocore_config, "_user_provided_options", {}):
            wrapper.botocore_config = retries.merge(wrapper.botocore_config)
        return wrapper

    # ------------------------------------------------------------------ task definitions

    def list_task_definition_revisions(self, family: str, status: str = "ACTIVE") -> list[str]:
        """ARNs of the family's revisions in ``status``, oldest first."""
        paginator = self.conn.get_paginator("list_task_definitions")
        arns: list[str] = []
        for page in paginator.paginate(familyPrefix=family, status=status):
            arns.extend(arn for arn in page["taskDefinitionArns"] if name_from_arn(arn).split(":")[0] == family)
        return sorted(arns, key=revision_of)

    def describe_task_definition(self, task_definition: str) -> dict[str, Any] | None:
        """The task definition with its tags, or None if ECS does not know it."""
        try:
            response = self.conn.describe_task_definition(taskDefinition=task_definition, include=["TAGS"])
        except ClientError as err:
            if is_not_found(err):
                return None
            raise
        task_def = response["taskDefinition"]
        task_def["tags"] = response.get("tags", [])
        return task_def

    def latest_active_task_definition(self, family: str) -> dict[str, Any] | None:
        revisions = self.list_task_definition_revisions(family)
        return self.describe_task_definition(revisions[-1]) if revisions else None

    def register_task_definition(self, request: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
        request = {**request, "tags": to_ecs_tags(tags)}
        return self.conn.register_task_definition(**request)["taskDefinition"]

    def deregister_task_definition(self, task_definition: str, described: dict[str, Any] | None = None) -> str | None:
        """Deregister one revision (ARN or family:revision); its ARN, or None if already INACTIVE or unknown.
        ``described``: the caller's DescribeTaskDefinition result, when it has one (not fetched again)."""
        current = described or self.describe_task_definition(task_definition)
        if current is None or current.get("status") != "ACTIVE":
            return None
        try:
            return self.conn.deregister_task_definition(taskDefinition=current["taskDefinitionArn"])["taskDefinition"][
                "taskDefinitionArn"
            ]
        except ClientError as err:
            if is_not_found(err):
                return None
            raise

    def delete_task_definitions(self, task_definition_arns: list[str]) -> list[dict[str, Any]]:
        """Delete INACTIVE revisions, ten per call (the API's limit); return the failures."""
        failures: list[dict[str, Any]] = []
        for batch in batched(task_definition_arns, DELETE_TASK_DEFINITIONS_BATCH):
            response = self.conn.delete_task_definitions(taskDefinitions=batch)
            failures.extend(response.get("failures", []))
        return failures

    # ------------------------------------------------------------------ clusters

    def describe_cluster(self, cluster: str) -> dict[str, Any] | None:
        """The cluster with its tags and settings, or None if ECS reports it MISSING."""
        response = self.conn.describe_clusters(clusters=[cluster], include=["TAGS", "SETTINGS"])
        clusters = response.get("clusters") or []
        return clusters[0] if clusters else None

    def create_cluster(
        self,
        cluster_name: str,
        *,
        capacity_providers: Iterable[str],
        default_capacity_provider_strategy: list[dict[str, Any]] | None,
        container_insights: bool,
        tags: dict[str, str],
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "clusterName": cluster_name,
            "capacityProviders": list(capacity_providers),
            "settings": [{"name": "containerInsights", "value": "enabled" if container_insights else "disabled"}],
            "tags": to_ecs_tags(tags),
        }
        if default_capacity_provider_strategy:
            kwargs["defaultCapacityProviderStrategy"] = default_capacity_provider_strategy
        return self.conn.create_cluster(**kwargs)["cluster"]

    def tag_resource(self, arn: str, tags: dict[str, str]) -> None:
        self.conn.tag_resource(resourceArn=arn, tags=to_ecs_tags(tags))

    def untag_resource(self, arn: str, keys: list[str]) -> None:
        self.conn.untag_resource(resourceArn=arn, tagKeys=keys)

    def wait_for_cluster(self, cluster: str, state: str, delay: int = 2, max_attempts: int = 150) -> None:
        """Wait with the amazon provider's cluster_active / cluster_inactive waiters."""
        waiter = self.get_waiter(f"cluster_{state.lower()}")
        waiter.wait(clusters=[cluster], WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts})

    def list_services(self, cluster: str) -> list[str]:
        paginator = self.conn.get_paginator("list_services")
        return [arn for page in paginator.paginate(cluster=cluster) for arn in page["serviceArns"]]

    def describe_services(self, cluster: str, services: list[str]) -> list[dict[str, Any]]:
        """DescribeServices for any number of services, ten per call (the API's limit)."""
        found: list[dict[str, Any]] = []
        for batch in batched(services, DESCRIBE_SERVICES_BATCH):
            found.extend(self.conn.describe_services(cluster=cluster, services=batch, include=["TAGS"])["services"])
        return found

    def list_active_tasks(self, cluster: str) -> list[str]:
        """Tasks not yet stopped (desired RUNNING: pending and running ones)."""
        paginator = self.conn.get_paginator("list_tasks")
        return [
            arn for page in paginator.paginate(cluster=cluster, desiredStatus="RUNNING") for arn in page["taskArns"]
        ]

    def ensure_service(self, request: dict[str, Any], existing: dict[str, Any] | None) -> tuple[str, str]:
        """The service CreateService's ``request`` describes: created when there is no ACTIVE
        ``existing`` one (DescribeServices' answer), else brought to the request's task definition
        and count (UpdateService, a new deployment), or left as it is when it has both.
        Returns (service ARN, "created" | "updated" | "unchanged"). Ownership is the caller's check."""
        if existing is None or existing.get("status") != "ACTIVE":
            return self.conn.create_service(**request)["service"]["serviceArn"], "created"
        if (
            existing["taskDefinition"] == request["taskDefinition"]
            and existing["desiredCount"] == request["desiredCount"]
        ):
            return existing["serviceArn"], "unchanged"
        self.update_service(
            request["cluster"],
            existing["serviceName"],
            taskDefinition=request["taskDefinition"],
            desiredCount=request["desiredCount"],
        )
        return existing["serviceArn"], "updated"

    def update_service(self, cluster: str, service: str, **changes: Any) -> dict[str, Any]:
        """UpdateService with ``changes`` (taskDefinition, desiredCount, forceNewDeployment, …); the service
        as ECS answers."""
        return self.conn.update_service(cluster=cluster, service=service, **changes)["service"]

    def start_deleting_service(self, cluster: str, service: str) -> None:
        """Scale to 0 and DeleteService (force): the service goes DRAINING, then INACTIVE."""
        self.update_service(cluster, service, desiredCount=0)
        self.conn.delete_service(cluster=cluster, service=service, force=True)

    def delete_services(self, cluster: str, services: list[str]) -> None:
        """Scale each service to 0, delete it (force) and wait until all are INACTIVE."""
        for service in services:
            self.start_deleting_service(cluster, service)
        self._wait_in_batches("services_inactive", cluster, "services", services, DESCRIBE_SERVICES_BATCH)

    def stop_tasks(self, cluster: str, tasks: list[str], reason: str, wait: bool = True) -> None:
        """Stop tasks (StopTask: UserInitiated) and, with ``wait``, wait until they are STOPPED."""
        for task in tasks:
            self.conn.stop_task(cluster=cluster, task=task, reason=reason)
        if wait:
            self._wait_in_batches("tasks_stopped", cluster, "tasks", tasks, DESCRIBE_TASKS_BATCH)

    def _wait_in_batches(
        self,
        waiter_name: str,
        cluster: str,
        key: str,
        items: list[str],
        batch: int,
        delay: int = 2,
        max_attempts: int = 300,
    ) -> None:
        """botocore's waiter, one Describe call per poll covering up to the API's batch limit."""
        waiter = self.get_waiter(waiter_name)
        for part in batched(items, batch):
            waiter.wait(
                cluster=cluster,
                **{key: part},
                WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts},
            )

    # ------------------------------------------------------------------ one-off tasks

    def describe_tasks(self, cluster: str, tasks: list[str], include_tags: bool = False) -> list[dict[str, Any]]:
        """DescribeTasks for any number of tasks, a hundred per call (the API's limit)."""
        return self.run_steps(describe_tasks_steps(cluster, tasks, include_tags))

    def standalone_tasks(self, cluster: str) -> list[dict[str, Any]]:
        """The cluster's live tasks that no service started, described with their tags."""
        tasks = self.describe_tasks(cluster, self.list_active_tasks(cluster), include_tags=True)
        return [t for t in tasks if not str(t.get("group", "")).startswith("service:")]

    def tasks_started_by(self, cluster: str, started_by: str) -> list[dict[str, Any]]:
        """Running and (recently) stopped tasks with this startedBy, described."""
        arns = []
        for status in ("RUNNING", "STOPPED"):
            paginator = self.conn.get_paginator("list_tasks")
            for page in paginator.paginate(cluster=cluster, startedBy=started_by, desiredStatus=status):
                arns += page["taskArns"]
        return self.describe_tasks(cluster, arns) if arns else []

    def start_tasks(
        self,
        request: dict[str, Any],
        *,
        launch_timeout: float,
        max_delay: float = 30.0,
        spot_wait: float | None = None,
        token_for: Callable[[int], str] | None = None,
    ) -> tuple[list[str], str]:
        """RunTask until ECS places the task(s); returns their ARNs and the capacity they got
        (``FARGATE`` or ``FARGATE_SPOT``). What ECS answers "later" to is waited out, not failed:

        - no capacity (``Capacity is unavailable``, ``RESOURCE:*``) or the account's vCPU quota
          full: a new RunTask after a random exponential backoff of at most ``max_delay`` seconds
          (tenacity), each reason logged once; each new request gets a new clientToken
          (``token_for(n)``): ECS answered, so nothing was started;
        - ThrottlingException left after botocore's retries: the same, with the same clientToken;
        - on Fargate Spot with ``spot_wait``: once Spot has had no capacity for that long, the
          request moves to Fargate on-demand (logged once).

        :raises CapacityUnavailableError: still no capacity after ``launch_timeout`` seconds.
        :raises VcpuQuotaError: the vCPU quota still full after ``launch_timeout`` seconds.
        :raises TaskFailedToStartError: any other failure RunTask answers (at once)."""
        from tenacity import Retrying, retry_if_result, stop_after_delay, wait_random_exponential

        from fargate_provider.exceptions import CapacityUnavailableError, VcpuQuotaError
        from fargate_rules.capacity import (
            FARGATE,
            FARGATE_SPOT,
            is_capacity_shortfall,
            is_vcpu_limit,
            strategy_for,
        )

        request = dict(request)
        provider = FARGATE_SPOT if uses_spot(request.get("capacityProviderStrategy")) else FARGATE
        started, spot_short_since = time.monotonic(), None
        said: set[str] = set()
        state: dict[str, Any] = {"requests": 0, "last": "", "reasons": ""}

        def once(key: str, message: str, *args: Any) -> None:
            if key not in said:
                said.add(key)
                self.log.warning(message, *args)

        def attempt() -> list[str] | None:
            nonlocal provider, spot_short_since
            try:
                response = self.conn.run_task(**request)
            except ClientError as err:
                if not has_code(err, *THROTTLING_CODES):
                    raise
                once("throttled", "RunTask is throttled (%s); waiting for the rate to allow it", err)
                state["last"] = "throttled"
                return None
            if response.get("tasks"):
                return [task["taskArn"] for task in response["tasks"]]
            reasons = "; ".join(
                f"{f.get('arn', '')} {f.get('reason')}: {f.get('detail', '')}".strip()
                for f in response.get("failures", [])
            )
            state["reasons"] = reasons
            if is_vcpu_limit(reasons):
                state["last"] = "quota"
                once(
                    "quota:" + provider,
                    "The account's %s vCPU quota is full (%s); waiting for vCPUs to free",
                    provider,
                    reasons,
                )
            elif is_capacity_shortfall(reasons):
                state["last"] = "capacity"
                once("capacity:" + provider, "%s has no capacity now (%s); waiting for it", provider, reasons)
                if provider == FARGATE_SPOT and spot_wait is not None:
                    spot_short_since = spot_short_since or time.monotonic()
                    if time.monotonic() - spot_short_since >= spot_wait:
                        self.log.warning(
                            "Fargate Spot had no capacity for %.0f s (spot_wait): running on Fargate on-demand",
                            spot_wait,
                        )
                        provider = FARGATE
                        request["capacityProviderStrategy"] = strategy_for(FARGATE)
            else:
                raise TaskFailedToStartError(f"RunTask started no task: {reasons}")
            state["requests"] += 1
            if token_for is not None:
                request["clientToken"] = token_for(state["requests"])  # answered: nothing was started
            return None

        retrying = Retrying(
            retry=retry_if_result(lambda arns: arns is None),
            wait=wait_random_exponential(multiplier=1, max=max_delay),
            stop=stop_after_delay(launch_timeout),
            retry_error_callback=lambda _state: None,
            reraise=True,
        )
        arns = retrying(attempt)
        if arns is None:
            waited = time.monotonic() - started
            if state["last"] == "quota":
                raise VcpuQuotaError(
                    f"The account's {provider} vCPU quota stayed full for {waited:.0f} s (launch_timeout); "
                    "raise the quota (Service Quotas) or run fewer tasks at once"
                )
            raise CapacityUnavailableError(
                f"{provider} had no capacity for {waited:.0f} s (launch_timeout): RunTask kept answering "
                f"{state['reasons'] or state['last']}; try again later, other subnets (Availability Zones) "
                "or another size"
            )
        return arns, provider

    def read_logs(self, follower: LogFollower) -> list[str]:
        """Everything new in the followed awslogs streams, in order, each stream read in its own
        ``awslogs-region``; each line logged once. A stream CloudWatch Logs still throttles after
        botocore's retries is read on next time (``read_stream_steps``), with a warning."""
        lines: list[str] = []
        for stream in follower.log_streams:
            read = self.run_steps(read_stream_steps(follower, stream))
            lines += read.lines
            self._warn_if_throttled(stream, read)
        for line in lines:
            self.log.info("%s", line)
        return lines

    def read_due_logs(self, follower: LogFollower, pacer: LogPacer, described: list[dict[str, Any]]) -> list[str]:
        """One GetLogEvents page of each stream ``pacer`` says is due after the DescribeTasks
        answer ``described`` (as the trigger's ``LogReader`` does, in turn): a waiting worker
        reads a running task's logs each ``pacer.interval``, not each poll. The rest of a page
        waits for the next due read, or ``read_logs`` after the task stopped."""
        lines: list[str] = []
        for stream in pacer.due(follower, described, time.monotonic()):
            read = self.run_steps(read_stream_steps(follower, stream, pages=1))
            self._warn_if_throttled(stream, read)
            if read.throttled is None:
                pacer.read(stream, described, bool(read.lines), time.monotonic())
            lines += read.lines
        for line in lines:
            self.log.info("%s", line)
        return lines

    def _warn_if_throttled(self, stream: LogStream, read: StreamRead) -> None:
        if read.throttled is not None:
            # the job's outcome never hangs on its logs; the follower's token keeps the place
            self.log.warning(
                "CloudWatch Logs throttled reading %s; the lines from here on are not shown yet (%s)",
                stream.stream,
                read.throttled,
            )

    # ------------------------------------------------------------------ the runners of hooks/steps.py

    def run_steps(self, steps: Steps[T]) -> T:
        """Run I/O-free steps (``hooks/steps.py``) with this hook's boto3 clients."""
        return run_steps(steps, self._call)

    def _call(self, call: Call) -> Any:
        client = self.conn if call.service == "ecs" and call.region is None else self.client(call.service, call.region)
        return getattr(client, call.operation)(**call.kwargs)

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client of another AWS service (logs, iam, ec2, …) with this hook's connection,
        SSL and botocore settings; ``region`` defaults to the hook's. One per (service, region)."""
        clients = self.__dict__.setdefault("_clients", {})
        key = (service, region)
        if key not in clients:
            clients[key] = self._other_service_hook(service, region).conn
        return clients[key]

    def _other_service_hook(self, service: str, region: str | None) -> Any:
        return AwsServiceHook(
            aws_conn_id=self.aws_conn_id,
            region_name=region or self.region_name,
            verify=self.verify,
            config=self.conn_config.botocore_config,
            client_type=service,
        )

    def role_arn(self, reference: str) -> str:
        """A role name as the ARN ECS stores for it (the connection's account and partition,
        from STS GetCallerIdentity); an ARN as it is."""
        from fargate_rules.task_requirements import role_arn

        if reference.startswith("arn:"):
            return reference  # no STS call needed
        return role_arn(reference, account=self.account_id, partition=self.conn_partition)

    # ------------------------------------------------------------------ services

    def describe_service(self, cluster: str, service: str) -> dict[str, Any] | None:
        found = self.describe_services(cluster, [service])
        return found[0] if found else None

    def stopped_tasks(self, cluster: str, service: str, deployment_id: str, limit: int = 3) -> list[dict[str, Any]]:
        """The newest stopped tasks a deployment started (ECS sets startedBy to the deployment id)."""
        return self.run_steps(stopped_tasks_steps(cluster, service, deployment_id, limit))

    def describe_target_health(self, target_group_arns: list[str]) -> dict[str, list[dict[str, Any]]]:
        """ELBv2 DescribeTargetHealth of each target group: its targets and their health."""
        return self.run_steps(target_health_steps(target_group_arns))

    def poll_services(self, cluster: str, watch: ServiceWatch) -> Poll:
        """One poll: DescribeServices (ten services a call); where the judgement asks for them,
        the deployment's stopped tasks and the load balancer's target health
        (``poll_services_steps``); new service events logged once."""
        described = self.describe_services(cluster, watch.services)
        result = self.run_steps(poll_services_steps(cluster, watch, described))
        for line in result.log_lines:
            self.log.info("%s", line)
        return result

    def wait_for_services(
        self,
        cluster: str,
        watch: ServiceWatch,
        *,
        poll_interval: float,
        timeout: float,
        first_interval: float | None = None,
    ) -> None:
        """Poll until every service of ``watch`` reaches its target.

        :param first_interval: seconds before the second poll, doubling up to ``poll_interval``
            (a wait that may be over in moments is seen over sooner); default ``poll_interval``.
        :raises RolloutFailedError: the deployment failed (rollback, tasks stopping, service gone).
        :raises WaitTimeoutError: ``timeout`` seconds passed first."""
        deadline = time.monotonic() + timeout
        interval = min(first_interval or poll_interval, poll_interval)
        while True:
            result = self.poll_services(cluster, watch)
            if result.error:
                raise RolloutFailedError(result.error)
            if result.done:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeoutError(watch.timeout_message(timeout))
            time.sleep(min(interval, left))  # the last poll falls on the deadline, not past it
            interval = min(interval * 2, poll_interval)

    def delete_cluster(self, cluster: str) -> dict[str, Any]:
        return self.conn.delete_cluster(cluster=cluster)["cluster"]

    # ------------------------------------------------------------------ the same reads for triggers (async)
    # Same requests, batching and judgement as the methods above, through aiobotocore clients
    # (``async with hook.async_clients() as clients``). Lines are returned, not logged: the
    # trigger logs them, so they reach the deferred task's log under the trigger's name.

    def async_clients(self) -> AsyncClients:
        return AsyncClients(self)

    async def poll_services_async(
        self, clients: AsyncClients, cluster: str, watch: ServiceWatch, described: list[dict[str, Any]]
    ) -> Poll:
        """As ``poll_services``, from DescribeServices' answer ``described`` (the triggers' shared
        poller makes it); the lines are returned, not logged."""
        return await run_steps_async(poll_services_steps(cluster, watch, described), clients.call)

    async def read_stream_async(
        self, clients: AsyncClients, follower: LogFollower, stream: LogStream, pages: int | None = None
    ) -> list[str]:
        """What is new in one followed stream (none before the stream exists): everything, or what
        ``pages`` GetLogEvents pages hold (``read_stream_steps``). A stream still being written is
        better read a page a time, and the rest next time: its forward token keeps the place.
        Throttled as ``read_logs`` is: the lines read so far, a warning, the rest next time."""
        read = await run_steps_async(read_stream_steps(follower, stream, pages), clients.call)
        self._warn_if_throttled(stream, read)
        return read.lines


class AsyncClients:
    """aiobotocore clients with one hook's connection settings (credentials, verify, botocore
    config), one per (service, region), taken from the process's shared pool on first use
    (``client_pool``: triggers with the same settings share them) and given back together."""

    def __init__(self, hook: FargateHook):
        self.hook = hook
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._keys: list[tuple[Any, ...]] = []

    async def __aenter__(self) -> AsyncClients:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        pool, keys = client_pool(), self._keys
        self._keys, self._clients = [], {}
        for key in keys:
            await pool.release(key)

    async def get(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.hook.region_name)
        if key not in self._clients:
            hook = (
                self.hook
                if service == "ecs" and key[1] == self.hook.region_name
                else self.hook._other_service_hook(service, key[1])
            )
            pooled, client = await client_pool().acquire(self.hook, service, key[1], hook.get_async_conn)
            self._keys.append(pooled)
            self._clients[key] = client
        return self._clients[key]

    async def call(self, call: Call) -> Any:
        """Make one call of I/O-free steps (``hooks/steps.py``; ``run_steps_async`` drives them)."""
        client = await self.get(call.service, call.region)
        return await getattr(client, call.operation)(**call.kwargs)
