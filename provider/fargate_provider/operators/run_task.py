"""Run a one-off Fargate task, stream its logs, judge its exit codes, and say what it cost."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowException

from fargate_provider.exceptions import (
    ContainerExitError,
    FargateInputError,
    TaskFailedToStartError,
    WaitTimeoutError,
)
from fargate_provider.links.ecs import (
    EcsClusterLink,
    EcsTaskDefinitionLink,
    EcsTaskLink,
    TaskLogsLink,
    persist_task_links,
)
from fargate_provider.operators.base import FargateBaseOperator, default_deferrable, require_preflight
from fargate_provider.settings import LOG_READS_PER_SECOND
from fargate_provider.state.task import (
    STOPPED,
    LogFollower,
    LogPacer,
    ecs_task_id,
    judge_stopped,
    log_streams,
    progress,
)
from fargate_provider.triggers.task import FargateTaskTrigger
from fargate_provider.utils.masking import mask_container_environment
from fargate_provider.utils.networking import check_network, network_configuration
from fargate_provider.utils.pricing import PriceNotKnown, total_cost
from fargate_provider.utils.tags import tags_from_context, to_ecs_tags, validate_user_tags
from fargate_provider.utils.tokens import run_task_client_token, started_by_for
from fargate_rules.arns import name_from_arn
from fargate_rules.sizes import (
    SizeError,
    check_fargate_size,
    parse_cpu,
    parse_memory,
)
from fargate_rules.task_definition_spec import (
    TaskDefinitionError,
    run_task_overrides_problems,
)
from fargate_rules.validation import (
    FARGATE_CAPACITY_PROVIDERS,
    check_request_limits,
    validate_capacity_strategy,
    validate_cluster_name,
)

PROPAGATE_TAGS = ("TASK_DEFINITION", "NONE")
MAX_OVERRIDES_CHARACTERS = 8192  # RunTask: "A total of 8192 characters are allowed for overrides"


class FargateRunTaskOperator(FargateBaseOperator):
    """Run a task definition as one-off Fargate task(s); return their ARNs.

    Container logs (the task definition's awslogs configuration) stream into the Airflow task
    log while the task runs and once more after STOPPED. Success only if every essential
    container exited 0. The cost (XCom key ``cost``) is logged and pushed for every finished run.

    A retry finds the task(s) an earlier try of the same task instance started (by
    ``startedBy``) and follows them, running or stopped successfully, instead of starting more.

    :param cluster: the cluster's name (1-255 letters, numbers, hyphens, underscores) or ARN.
    :param task_definition: family, ``family:revision`` or ARN of an ACTIVE task definition.
    :param subnets: a non-empty list of ``subnet-…`` IDs for the tasks (awsvpc).
    :param security_groups: a non-empty list of ``sg-…`` IDs for the tasks.
    :param assign_public_ip: give the tasks a public IP (public subnets with an internet
        gateway); true or false. Default False.
    :param count: how many tasks to start, 1-10 (RunTask's limit). Default 1.
    :param overrides: RunTask's ``overrides`` (``containerOverrides``, ``cpu``, ``memory``, …),
        checked against ECS's TaskOverride model before RunTask: at most 8,192 characters as
        JSON, only the task definition's containers, and a cpu/memory override must still make
        a Fargate size with the task's other size. Secret-looking environment values are
        masked in the rendered fields.
    :param platform_version: Fargate platform version. Default ``LATEST``.
    :param capacity_provider_strategy: ``[{"capacityProvider": "FARGATE" | "FARGATE_SPOT", "weight": n, "base": n}]``
        (weight 0-1000, base 0-100000, one base at most, one weight above 0); none: launch type FARGATE.
    :param started_by: RunTask's ``startedBy``, 1-128 characters. Default: derived from the task
        instance (dag_id, run_id, task_id, map_index), which is how a retry finds the tasks an
        earlier try started; a fixed value is looked up the same way.
    :param tags: extra tags; the provider adds managed-by, airflow-dag-id, airflow-run-id.
    :param propagate_tags: ``TASK_DEFINITION`` (copy the task definition's tags to the tasks) or
        ``NONE``. Default ``TASK_DEFINITION``.
    :param wait_for_completion: wait until every task is STOPPED, then judge the exit codes and
        push the cost. Default True; False returns the ARNs right after RunTask.
    :param deferrable: wait in the triggerer; default: ``[operators] default_deferrable`` where
        set, else True.
    :param poll_interval: seconds between DescribeTasks calls while waiting, above 0. Default 6.
    :param logs: stream the containers' awslogs into the Airflow task log. Default True.
    :param log_interval: seconds between reads of a running task's log stream (one
        GetLogEvents page each), above 0; a quiet stream is read up to four times less often.
        Lines reach the task log at most about this late; once the task stopped, the rest is
        read at once. Default 15 (the amazon provider's log fetcher: 30).
    :param log_tail_on_failure: how many of the last log lines the error carries when the run
        fails (with ``logs``); a whole number, 0 or more. Default 50.
    :param stop_on_kill: stop the task(s) when the Airflow task is killed or reaches
        ``execution_timeout``. Default True.
    :param capacity_attempts: RunTask attempts (with exponential backoff) while ECS answers
        with a capacity shortfall; 1 or more. Default 5.
    :param preflight: before starting anything, check with read-only calls what ECS will need
        (roles and their permissions, images, secrets, log groups, routes from the subnets,
        security-group egress, capacity providers; see ``FargatePreflightOperator``) and fail
        with every problem at once (``PreflightError``, not retried). Default False.
    :param aws_conn_id, region_name, verify, botocore_config: see ``FargateBaseOperator``.
    :return: the task ARNs. The cost (tasks, vCPU- and GB-seconds, USD) goes to XCom key
        ``cost`` when the region's price is known.
    :raises FargateInputError: bad input, before any AWS call (``TaskDefinitionError`` for
        ``overrides``, also for ones that do not fit the task definition, before RunTask).
    :raises AirflowException: ``task_definition`` is not an ACTIVE task definition; a task
        went missing while waiting.
    :raises PreflightError: with ``preflight=True``, what ECS would need is missing.
    :raises TaskFailedToStartError: RunTask started nothing (capacity after
        ``capacity_attempts``, a refused launch), or a task stopped with TaskFailedToStart.
    :raises ContainerExitError: an essential container exited non-zero (or without an exit code).
    :raises WaitTimeoutError: a deferred wait reached ``execution_timeout`` (the tasks are
        stopped first, with ``stop_on_kill``).

    .. seealso:: :doc:`/guides/batch-runs`
    """

    template_fields: Sequence[str] = aws_template_fields(
        "cluster",
        "task_definition",
        "subnets",
        "security_groups",
        "assign_public_ip",
        "overrides",
        "started_by",
        "tags",
        "count",
        "capacity_provider_strategy",
    )
    template_fields_renderers = {"overrides": "json"}
    operator_extra_links = (EcsClusterLink(), EcsTaskDefinitionLink(), EcsTaskLink(), TaskLogsLink())

    def __init__(
        self,
        cluster: str,
        task_definition: str,
        *,
        subnets: Sequence[str],
        security_groups: Sequence[str],
        assign_public_ip: bool = False,
        count: int = 1,
        overrides: dict[str, Any] | None = None,
        platform_version: str = "LATEST",
        capacity_provider_strategy: Sequence[Mapping[str, Any]] | None = None,
        started_by: str | None = None,
        tags: Mapping[str, str] | None = None,
        propagate_tags: str = "TASK_DEFINITION",
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = 6,
        logs: bool = True,
        log_interval: float = 15,
        log_tail_on_failure: int = 50,
        stop_on_kill: bool = True,
        capacity_attempts: int = 5,
        preflight: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.preflight = preflight
        self.cluster, self.task_definition = cluster, task_definition
        self.subnets, self.security_groups, self.assign_public_ip = subnets, security_groups, assign_public_ip
        self.count, self.overrides, self.platform_version = count, overrides, platform_version
        self.capacity_provider_strategy = capacity_provider_strategy
        self.started_by, self.tags, self.propagate_tags = started_by, tags, propagate_tags
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval, self.logs, self.log_tail_on_failure = poll_interval, logs, log_tail_on_failure
        self.log_interval = log_interval
        self.stop_on_kill = stop_on_kill
        self.capacity_attempts = capacity_attempts
        self._task_arns: list[str] = []

    def render_template_fields(self, context, jinja_env=None) -> None:
        super().render_template_fields(context, jinja_env)
        # Before Airflow stores the rendered fields: secret-looking override values become ***.
        mask_container_environment(self.overrides)

    # ------------------------------------------------------------------ input

    def _validate(self) -> dict[str, Any]:
        validate_cluster_name(self.cluster, "cluster", arn_allowed=True)
        if not isinstance(self.task_definition, str) or not self.task_definition:
            raise FargateInputError(
                f"task_definition: give a family, family:revision or an ARN, got {self.task_definition!r}"
            )
        check_network(self.subnets, self.security_groups)
        check_request_limits(  # ECS's documented limits (fargate_rules.request_limits), as the emulator's
            "RunTask",
            {
                "startedBy": self.started_by,
                "networkConfiguration": network_configuration(self.subnets, self.security_groups, False),
            },
        )
        if not isinstance(self.assign_public_ip, bool):
            raise FargateInputError(f"assign_public_ip: must be true or false, got {self.assign_public_ip!r}")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or not 1 <= self.count <= 10:
            raise FargateInputError(f"count: must be a whole number from 1 to 10 (RunTask's limit), got {self.count!r}")
        if self.propagate_tags not in PROPAGATE_TAGS:
            raise FargateInputError(
                f"propagate_tags: {self.propagate_tags!r} is not allowed; allowed: {', '.join(PROPAGATE_TAGS)}"
            )
        if not isinstance(self.poll_interval, (int, float)) or self.poll_interval <= 0:
            raise FargateInputError(f"poll_interval: must be a number of seconds above 0, got {self.poll_interval!r}")
        if not isinstance(self.log_interval, (int, float)) or self.log_interval <= 0:
            raise FargateInputError(f"log_interval: must be a number of seconds above 0, got {self.log_interval!r}")
        if self.deferrable and self.logs:
            # the triggerer's GetLogEvents budget: a bad setting is named now, before RunTask
            LOG_READS_PER_SECOND.get()
        if (
            isinstance(self.log_tail_on_failure, bool)
            or not isinstance(self.log_tail_on_failure, int)
            or self.log_tail_on_failure < 0
        ):
            raise FargateInputError(
                f"log_tail_on_failure: must be a whole number, 0 or more, got {self.log_tail_on_failure!r}"
            )
        if (
            isinstance(self.capacity_attempts, bool)
            or not isinstance(self.capacity_attempts, int)
            or self.capacity_attempts < 1
        ):
            raise FargateInputError(
                f"capacity_attempts: must be a whole number, 1 or more, got {self.capacity_attempts!r}"
            )
        if self.started_by is not None and (
            not isinstance(self.started_by, str) or not 1 <= len(self.started_by) <= 128
        ):
            raise FargateInputError("started_by: 1-128 characters")
        if self.overrides is not None:
            problems = run_task_overrides_problems(self.overrides)
            size = len(json.dumps(self.overrides, separators=(",", ":"), default=str))
            if size > MAX_OVERRIDES_CHARACTERS:
                problems.append(
                    ("overrides", f"is {size:,} characters as JSON; RunTask allows {MAX_OVERRIDES_CHARACTERS:,}")
                )
            if problems:
                raise TaskDefinitionError(problems)
        strategy = validate_capacity_strategy(
            self.capacity_provider_strategy, FARGATE_CAPACITY_PROVIDERS, "capacity_provider_strategy"
        )
        return {"strategy": strategy, "user_tags": validate_user_tags(self.tags)}

    def _check_override_containers(self, task_definition: dict[str, Any]) -> None:
        """Overrides may only name containers of the task definition (checked before RunTask)."""
        names = [c["name"] for c in task_definition.get("containerDefinitions", [])]
        problems = [
            (
                f"overrides.containerOverrides[{index}].name",
                (
                    f"{str(item.get('name'))[:80]!r} is not a container of {task_definition.get('family')}; "
                    f"containers: {', '.join(names)}"
                ),
            )
            for index, item in enumerate((self.overrides or {}).get("containerOverrides") or [])
            if isinstance(item, dict) and item.get("name") not in names
        ]
        if problems:
            raise TaskDefinitionError(problems)

    def _check_override_size(self, task_definition: dict[str, Any]) -> None:
        """A cpu or memory override alone must still make a Fargate pair with the task's other size."""
        overrides = self.overrides or {}
        if not (overrides.get("cpu") or overrides.get("memory")):
            return
        cpu = parse_cpu(overrides.get("cpu") or task_definition["cpu"])
        memory = parse_memory(overrides.get("memory") or task_definition["memory"])
        try:
            check_fargate_size(cpu, memory)
        except SizeError as err:
            raise TaskDefinitionError([("overrides", f"with the task definition's size: {err}")]) from None

    # ------------------------------------------------------------------ run

    def execute(self, context, resuming: bool = False) -> list[str]:
        checked = self._validate()
        task_definition = self.hook.describe_task_definition(self.task_definition)
        if task_definition is None or task_definition.get("status") != "ACTIVE":
            raise AirflowException(f"task_definition: {self.task_definition} is not an ACTIVE task definition")
        self._check_override_size(task_definition)
        self._check_override_containers(task_definition)
        self._task_arns = self._follow_or_start(context, task_definition, checked, resuming)
        persist_task_links(context, self, self.cluster, task_definition, self._task_arns)
        if not self.wait_for_completion:
            return self._task_arns
        follower = (
            LogFollower(
                [vars(s) for s in log_streams(task_definition, self._task_arns)], tail_size=self.log_tail_on_failure
            )
            if self.logs
            else None
        )
        if self.deferrable:
            self.defer(
                trigger=FargateTaskTrigger(
                    cluster=self.cluster,
                    tasks=self._task_arns,
                    target_state=STOPPED,
                    poll_interval=self.poll_interval,
                    log_interval=self.log_interval,
                    deadline=self._deadline(context),
                    logs=follower.to_kwargs() if follower else None,
                    **FargateTaskTrigger.connection_of(self),
                ),
                method_name="execute_complete",
            )
        described = self._wait_in_worker(follower)
        return self._finish(context, task_definition, follower, described)

    def _follow_or_start(
        self, context, task_definition: dict[str, Any], checked: dict[str, Any], resuming: bool
    ) -> list[str]:
        """The task(s) of this task instance: those an earlier try started (running, or all
        succeeded, or any when resuming a wait), else new ones; never a second set."""
        started_by = self.started_by or started_by_for(context)
        # A first try has no earlier try to follow, and RunTask's clientToken already makes its
        # start exactly-once (a repeated request answers the same task): no ListTasks needed.
        first_try = getattr(context.get("ti"), "try_number", None) == 1 and not resuming and not self.started_by
        earlier = [] if first_try else self.hook.tasks_started_by(self.cluster, started_by)
        running = [t for t in earlier if t.get("lastStatus") != STOPPED]
        succeeded = [
            t for t in earlier if t.get("lastStatus") == STOPPED and not judge_stopped([t], _essential(task_definition))
        ]
        if running or (earlier and len(succeeded) == len(earlier)) or (resuming and earlier):
            # A retry after a crash, or a resumed wait: follow what was started instead of starting more.
            followed = running or (succeeded if len(succeeded) == len(earlier) else earlier)
            arns = [t["taskArn"] for t in followed]
            self.log.info(
                "Following %d task(s) an earlier try started (startedBy %s): %s",
                len(followed),
                started_by,
                [ecs_task_id(a) for a in arns],
            )
            return arns
        if resuming:
            raise AirflowException(
                f"Resumed without the trigger's event, and no ECS task with startedBy {started_by} was found to follow"
            )
        if self.preflight:
            roles = {
                k: (self.overrides or {})[k]
                for k in ("executionRoleArn", "taskRoleArn")
                if (self.overrides or {}).get(k)
            }
            require_preflight(
                self.hook,
                self.log,
                task_definition={**task_definition, **roles},
                subnets=self.subnets,
                security_groups=self.security_groups,
                assign_public_ip=self.assign_public_ip,
                cluster=self.cluster,
                capacity_provider_strategy=checked["strategy"],
            )
        return self._run(context, task_definition, started_by, generation=len(earlier), checked=checked)

    def _wait_in_worker(self, follower: LogFollower | None) -> list[dict[str, Any]]:
        """Poll until every task is STOPPED, reading logs as ``LogPacer`` paces them (as the
        trigger does); the last DescribeTasks answer. RunTask's answer is the first look, so the
        first poll waits an interval. A kill or timeout stops the tasks first."""
        pacer = LogPacer(self.log_interval)
        try:
            while True:
                time.sleep(self.poll_interval)
                described = self.hook.describe_tasks(self.cluster, self._task_arns)
                done, error = progress(described, self._task_arns, STOPPED)
                if error:
                    raise AirflowException(error)
                if done:
                    return described
                if follower:
                    self.hook.read_due_logs(follower, pacer, described)
        except BaseException as error:
            if _is_kill(error):
                self._stop("Airflow task timed out or was killed")
            raise

    def execute_complete(self, context, event: dict[str, Any] | None = None) -> list[str]:
        if event is None:
            # A resumed try whose trigger result was lost (e.g. the worker died during the wait):
            # find the task(s) by startedBy and follow them; never start another.
            self.log.warning("Resumed without the trigger's event (it was lost); following the ECS task(s) again.")
            return self.execute(context, resuming=True)
        self._task_arns = task_arns = event["tasks"]
        follower = LogFollower(**event["logs"]) if event.get("logs") else None
        if event.get("status") == "timeout":
            self._stop("Airflow task timed out")
            if follower:
                self.hook.read_logs(follower)
            raise WaitTimeoutError(f"execution_timeout reached; stopped task(s) {[ecs_task_id(a) for a in task_arns]}")
        if event.get("status") != "done":
            if follower:
                self.hook.read_logs(follower)  # the last lines, as after any wait
            raise AirflowException(event.get("message", "the wait failed"))
        task_definition = self.hook.describe_task_definition(self.task_definition) or {}
        return self._finish(context, task_definition, follower)

    def _run(
        self, context, task_definition: dict[str, Any], started_by: str, generation: int, checked: dict[str, Any]
    ) -> list[str]:
        request: dict[str, Any] = {
            "cluster": self.cluster,
            "taskDefinition": task_definition["taskDefinitionArn"],
            "count": self.count,
            "clientToken": run_task_client_token(context, generation),
            "startedBy": started_by,
            "platformVersion": self.platform_version,
            "networkConfiguration": network_configuration(self.subnets, self.security_groups, self.assign_public_ip),
            "tags": to_ecs_tags(tags_from_context(context, checked["user_tags"])),
        }
        if self.propagate_tags != "NONE":
            request["propagateTags"] = self.propagate_tags
        if self.overrides:
            request["overrides"] = self.overrides
        if checked["strategy"]:
            request["capacityProviderStrategy"] = checked["strategy"]
        else:
            request["launchType"] = "FARGATE"
        arns = self.hook.run_tasks(request, attempts=self.capacity_attempts)
        self.log.info(
            "Started %d task(s) of %s in %s: %s",
            len(arns),
            name_from_arn(task_definition["taskDefinitionArn"]),
            self.cluster,
            [ecs_task_id(a) for a in arns],
        )
        return arns

    def _deadline(self, context) -> float | None:
        """When execution_timeout will strike, so a deferred wait stops the task just before."""
        if not self.execution_timeout:
            return None
        start = getattr(context.get("ti"), "start_date", None) or dt.datetime.now(dt.UTC)
        return (start + self.execution_timeout).timestamp() - 1

    def _finish(
        self,
        context,
        task_definition: dict[str, Any],
        follower: LogFollower | None,
        described: list[dict[str, Any]] | None = None,
    ) -> list[str]:
        """Read the rest of the logs, judge the STOPPED tasks (``described``: the wait's last
        answer, else described now), push the cost."""
        if follower:
            self.hook.read_logs(follower)  # once more after STOPPED: the last lines
        if described is None:
            described = self.hook.describe_tasks(self.cluster, self._task_arns)
        self._push_cost(context, described, task_definition)
        problem = judge_stopped(described, _essential(task_definition))
        if problem:
            tail = list(follower.tail)[-self.log_tail_on_failure :] if follower and self.log_tail_on_failure else []
            shown = ("\nLast log lines:\n" + "\n".join(tail)) if tail else ""
            never_ran = any(t.get("stopCode") == "TaskFailedToStart" for t in described)
            raise (TaskFailedToStartError if never_ran else ContainerExitError)(f"{problem}{shown}")
        self.log.info("All essential containers exited 0.")
        return self._task_arns

    def _push_cost(self, context, described: list[dict[str, Any]], task_definition: dict[str, Any]) -> None:
        architecture = (task_definition.get("runtimePlatform") or {}).get("cpuArchitecture") or "X86_64"
        region = self.hook.conn_region_name
        try:
            cost = total_cost(described, region=region, architecture=architecture)
        except PriceNotKnown as error:
            self.log.warning("No cost estimate: %s", error)
            return
        if cost is None:
            return
        self.log.info(
            "Cost: %d task(s), %.1f vCPU-seconds, %.1f GB-seconds, about $%.6f (%s, %s%s).",
            cost.tasks,
            cost.vcpu_seconds,
            cost.gb_seconds,
            cost.usd,
            region,
            architecture,
            ", Spot at on-demand rate" if cost.spot else "",
        )
        context["ti"].xcom_push(key="cost", value=cost.as_dict())

    def _stop(self, reason: str) -> None:
        if self.stop_on_kill and self._task_arns:
            self.log.info("Stopping task(s) %s: %s", [ecs_task_id(a) for a in self._task_arns], reason)
            self.hook.stop_tasks(self.cluster, self._task_arns, reason=reason, wait=False)

    def on_kill(self) -> None:
        self._stop("Airflow task was killed")


def _essential(task_definition: dict[str, Any]) -> dict[str, bool]:
    return {c["name"]: c.get("essential", True) for c in task_definition.get("containerDefinitions", [])}


def _is_kill(error: BaseException) -> bool:
    """A timeout or kill of the Airflow task (not an AWS or judgement error)."""
    from airflow.sdk.exceptions import AirflowTaskTimeout

    return isinstance(error, (AirflowTaskTimeout, KeyboardInterrupt, SystemExit))
