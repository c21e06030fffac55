"""Run a one-off Fargate task, stream its logs, judge its exit codes, and say what it cost."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowException, AirflowSkipException

from fargate_provider.exceptions import (
    ContainerExitError,
    FargateInputError,
    SpotInterruptedError,
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
from fargate_provider.settings import LIVE_LOGS, LOG_READS_PER_SECOND
from fargate_provider.state.attempts import SPOT_MODES, AttemptPolicy, summary
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
from fargate_rules.capacity import (
    FARGATE,
    FARGATE_SPOT,
    ON_DEMAND,
    SPOT_THEN_ON_DEMAND,
    check_capacity_mode,
    check_spot_task_definition,
    strategy_for,
)
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
DEFAULT_LAUNCH_TIMEOUT = 600.0  # seconds a launch waits for capacity/quota/rate without execution_timeout


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
    :param capacity: where the task runs: ``"on_demand"`` (Fargate), ``"spot"`` (Fargate Spot
        only) or ``"spot_then_on_demand"`` (Fargate Spot; on-demand once Spot had no capacity
        for ``spot_wait`` or interrupted the task more than ``spot_interruptions`` times).
        Default: ``capacity_provider_strategy`` when given, else ``"on_demand"``. The spot modes
        need a cluster with FARGATE_SPOT, an X86_64 Linux task definition (refused before
        RunTask otherwise, in ECS's words) and ``count=1``. See :doc:`/guides/spot`.
    :param spot_wait: seconds Fargate Spot may have no capacity at launch before
        ``spot_then_on_demand`` runs on on-demand; above 0. Default 120.
    :param spot_interruptions: Spot interruptions (stopCode ``SpotInterruption``) that are run
        again on Spot; one more goes to on-demand (``spot_then_on_demand``) or fails with
        ``SpotInterruptedError`` (``spot``). Counted over the task instance; 0 or more. Default 1.
    :param retry_on_exit_codes: exit codes of an essential container after which the task is run
        again within the same Airflow try, up to ``exit_code_retries`` times. Default none.
    :param exit_code_retries: how many such re-runs, counted over the task instance (an Airflow
        retry continues the count, read back from ECS by ``startedBy``); 0 or more. Default 1.
    :param skip_on_exit_codes: exit codes that end the Airflow task *skipped*. Default none.
    :param launch_timeout: seconds a launch may wait while ECS has no capacity, the account's
        vCPU quota is full or RunTask is throttled (each waited out with capped random
        exponential backoff, logged once, never an Airflow retry). Default: until
        ``execution_timeout`` when set, else 600.
    :param launch_retry_max_delay: the backoff's cap, seconds. Default 30.
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
    :raises TaskFailedToStartError: RunTask refused the launch, or a task stopped with TaskFailedToStart.
    :raises CapacityUnavailableError: no capacity for the whole ``launch_timeout`` (not retried).
    :raises VcpuQuotaError: the vCPU quota full for the whole ``launch_timeout`` (not retried).
    :raises SpotInterruptedError: ``capacity="spot"`` and more than ``spot_interruptions``
        interruptions (not retried).
    :raises AirflowSkipException: an essential container exited with one of ``skip_on_exit_codes``.
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
        "capacity",
        "retry_on_exit_codes",
        "skip_on_exit_codes",
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
        capacity: str | None = None,
        spot_wait: float = 120,
        spot_interruptions: int = 1,
        retry_on_exit_codes: Sequence[int] = (),
        exit_code_retries: int = 1,
        skip_on_exit_codes: Sequence[int] = (),
        launch_timeout: float | None = None,
        launch_retry_max_delay: float = 30,
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
        self.capacity, self.spot_wait, self.spot_interruptions = capacity, spot_wait, spot_interruptions
        self.retry_on_exit_codes, self.exit_code_retries = retry_on_exit_codes, exit_code_retries
        self.skip_on_exit_codes = skip_on_exit_codes
        self.launch_timeout, self.launch_retry_max_delay = launch_timeout, launch_retry_max_delay
        self._task_arns: list[str] = []
        self._history: list[dict[str, Any]] = []  # this task instance's stopped attempts (state.attempts.summary)
        self._generation = 0  # RunTask requests of this task instance that started tasks

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
            # the triggerer's GetLogEvents budget and Live Tail switch: a bad setting is named now, before RunTask
            LOG_READS_PER_SECOND.get()
            LIVE_LOGS.get()
        if (
            isinstance(self.log_tail_on_failure, bool)
            or not isinstance(self.log_tail_on_failure, int)
            or self.log_tail_on_failure < 0
        ):
            raise FargateInputError(
                f"log_tail_on_failure: must be a whole number, 0 or more, got {self.log_tail_on_failure!r}"
            )
        self._validate_policy()
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
        if strategy and self.capacity is not None:
            raise FargateInputError(
                "capacity: give capacity or capacity_provider_strategy, not both (capacity builds the strategy)"
            )
        return {"strategy": strategy, "user_tags": validate_user_tags(self.tags)}

    def _validate_policy(self) -> None:
        if self.capacity is not None:
            check_capacity_mode(self.capacity)
        for name in ("spot_wait", "launch_retry_max_delay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise FargateInputError(f"{name}: must be a number of seconds above 0, got {value!r}")
        if self.launch_timeout is not None and (
            isinstance(self.launch_timeout, bool)
            or not isinstance(self.launch_timeout, (int, float))
            or self.launch_timeout <= 0
        ):
            raise FargateInputError(f"launch_timeout: must be a number of seconds above 0, got {self.launch_timeout!r}")
        for name in ("spot_interruptions", "exit_code_retries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise FargateInputError(f"{name}: must be a whole number, 0 or more, got {value!r}")
        for name in ("retry_on_exit_codes", "skip_on_exit_codes"):
            codes = getattr(self, name)
            if isinstance(codes, (str, bytes)) or not isinstance(codes, (list, tuple, set, frozenset)):
                raise FargateInputError(f"{name}: must be a list of exit codes 0-255, got {codes!r}")
            for code in codes:
                if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= 255:
                    raise FargateInputError(f"{name}: {code!r} is not an exit code; allowed: whole numbers 0-255")
        both = set(self.retry_on_exit_codes) & set(self.skip_on_exit_codes)
        if both:
            raise FargateInputError(f"skip_on_exit_codes: {sorted(both)} also in retry_on_exit_codes; give each once")
        if 0 in set(self.retry_on_exit_codes) | set(self.skip_on_exit_codes):
            raise FargateInputError("retry_on_exit_codes/skip_on_exit_codes: 0 is success, not allowed")
        if self.count != 1 and (self.capacity in SPOT_MODES or self.retry_on_exit_codes or self.skip_on_exit_codes):
            raise FargateInputError(
                f"count: must be 1 with capacity={self.capacity!r}, retry_on_exit_codes or skip_on_exit_codes "
                "(each task is judged and run again on its own); fan out with mapped tasks instead "
                "(the fargate_batch_fanout DAG), got count={self.count!r}"
            )

    @property
    def policy(self) -> AttemptPolicy:
        return AttemptPolicy(
            mode=self.capacity or ON_DEMAND,
            spot_interruptions=self.spot_interruptions,
            retry_on_exit_codes=frozenset(self.retry_on_exit_codes),
            exit_code_retries=self.exit_code_retries,
            skip_on_exit_codes=frozenset(self.skip_on_exit_codes),
        )

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
        if self.capacity in SPOT_MODES:
            check_spot_task_definition(task_definition)  # ECS's words, before RunTask
        self._task_arns = self._follow_or_start(context, task_definition, checked, resuming)
        persist_task_links(context, self, self.cluster, task_definition, self._task_arns)
        if not self.wait_for_completion:
            return self._task_arns
        return self._wait_and_judge(context, task_definition, checked)

    def _wait_and_judge(self, context, task_definition: dict[str, Any], checked: dict[str, Any]) -> list[str]:
        """Wait for the current attempt (in the worker, or deferred), judge it, and run the next
        one where the policy says so, until one is final."""
        while True:
            follower = self._follower(task_definition)
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
                        carry={"history": self._history, "generation": self._generation},
                        **FargateTaskTrigger.connection_of(self),
                    ),
                    method_name="execute_complete",
                )
            described = self._wait_in_worker(follower)
            if self._judge(context, task_definition, follower, described, checked):
                return self._task_arns

    def _follower(self, task_definition: dict[str, Any]) -> LogFollower | None:
        if not self.logs:
            return None
        streams = [vars(s) for s in log_streams(task_definition, self._task_arns)]
        return LogFollower(streams, tail_size=self.log_tail_on_failure)

    def _follow_or_start(
        self, context, task_definition: dict[str, Any], checked: dict[str, Any], resuming: bool
    ) -> list[str]:
        """The task(s) of this task instance: those an earlier try started (running, or all
        succeeded, or any when resuming a wait), else new ones; never a second set."""
        started_by = self.started_by or started_by_for(context)
        # A first try has no earlier try to follow, and RunTask's clientToken already makes its
        # start exactly-once (a repeated request answers the same task, per cluster, for 24 hours:
        # ECS_Idempotency): no ListTasks needed.
        first_try = getattr(context.get("ti"), "try_number", None) == 1 and not resuming and not self.started_by
        earlier = [] if first_try else self.hook.tasks_started_by(self.cluster, started_by)
        self._generation = len(earlier)
        self._history = [summary(t) for t in earlier if t.get("lastStatus") == STOPPED]
        running = [t for t in earlier if t.get("lastStatus") != STOPPED]
        succeeded = [
            t for t in earlier if t.get("lastStatus") == STOPPED and not judge_stopped([t], _essential(task_definition))
        ]
        if running or (earlier and len(succeeded) == len(earlier)) or (resuming and earlier):
            # A retry after a crash, or a resumed wait: follow what was started instead of starting more.
            followed = running or (succeeded if len(succeeded) == len(earlier) else earlier)
            arns = [t["taskArn"] for t in followed]
            self._history = [h for h in self._history if h["taskArn"] not in arns]
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
                capacity_provider_strategy=checked["strategy"]
                or (strategy_for(self.policy.first_provider()) if self.capacity else None),
            )
        return self._run(context, task_definition, checked, self.policy.first_provider(self._history))

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
        carry = event.get("carry") or {}  # the attempts before this one (the trigger hands them back)
        self._history, self._generation = list(carry.get("history") or []), int(carry.get("generation") or 0)
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
        checked = self._validate()
        task_definition = self.hook.describe_task_definition(self.task_definition) or {}
        if self._judge(context, task_definition, follower, None, checked):
            return self._task_arns
        persist_task_links(context, self, self.cluster, task_definition, self._task_arns)
        return self._wait_and_judge(context, task_definition, checked)

    def _run(self, context, task_definition: dict[str, Any], checked: dict[str, Any], provider: str) -> list[str]:
        """Start this attempt's task(s): RunTask with a clientToken for this task instance and its
        attempt, on ``provider`` (with ``capacity``), waiting out capacity, quota and throttling."""
        started_by = self.started_by or started_by_for(context)
        generation = self._generation
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
        if self.capacity is not None:
            request["capacityProviderStrategy"] = strategy_for(provider)
        elif checked["strategy"]:
            request["capacityProviderStrategy"] = checked["strategy"]
        else:
            request["launchType"] = "FARGATE"
        arns, placed_on = self.hook.start_tasks(
            request,
            launch_timeout=self._launch_timeout(context),
            max_delay=self.launch_retry_max_delay,
            spot_wait=self.spot_wait if self.capacity == SPOT_THEN_ON_DEMAND else None,
            token_for=lambda n: run_task_client_token(context, generation, launch=n),
        )
        self._generation += 1
        self.log.info(
            "Started %d task(s) of %s in %s on %s: %s",
            len(arns),
            name_from_arn(task_definition["taskDefinitionArn"]),
            self.cluster,
            "Fargate Spot" if placed_on == FARGATE_SPOT else "Fargate",
            [ecs_task_id(a) for a in arns],
        )
        return arns

    def _launch_timeout(self, context) -> float:
        if self.launch_timeout is not None:
            return float(self.launch_timeout)
        deadline = self._deadline(context)
        return max(deadline - time.time(), 1.0) if deadline is not None else DEFAULT_LAUNCH_TIMEOUT

    def _deadline(self, context) -> float | None:
        """When execution_timeout will strike, so a deferred wait stops the task just before."""
        if not self.execution_timeout:
            return None
        start = getattr(context.get("ti"), "start_date", None) or dt.datetime.now(dt.UTC)
        return (start + self.execution_timeout).timestamp() - 1

    def _judge(
        self,
        context,
        task_definition: dict[str, Any],
        follower: LogFollower | None,
        described: list[dict[str, Any]] | None,
        checked: dict[str, Any],
    ) -> bool:
        """Read the rest of the logs, judge the STOPPED tasks (``described``: the wait's last
        answer, else described now) and push the cost of every attempt so far. True: done;
        False: the policy started the next attempt (``self._task_arns``). Raises what failed."""
        if follower:
            self.hook.read_logs(follower)  # once more after STOPPED: the last lines
        if described is None:
            described = self.hook.describe_tasks(self.cluster, self._task_arns)
        essential = _essential(task_definition)
        self._push_cost(context, self._history + [summary(t) for t in described], task_definition)
        tail = list(follower.tail)[-self.log_tail_on_failure :] if follower and self.log_tail_on_failure else []
        shown = ("\nLast log lines:\n" + "\n".join(tail)) if tail else ""
        if len(described) != 1:  # count > 1: no policy (refused with capacity and exit-code options)
            problem = judge_stopped(described, essential)
            if problem:
                never_ran = any(t.get("stopCode") == "TaskFailedToStart" for t in described)
                raise (TaskFailedToStartError if never_ran else ContainerExitError)(f"{problem}{shown}")
            self.log.info("All essential containers exited 0.")
            return True
        decision = self.policy.judge(described[0], essential, self._history)
        if decision.verdict == "done":
            self.log.info("All essential containers exited 0.")
            return True
        if decision.verdict == "skip":
            raise AirflowSkipException(decision.message)
        if decision.verdict == "spot_interrupted":
            raise SpotInterruptedError(decision.message)
        if decision.verdict == "failed_to_start":
            raise TaskFailedToStartError(f"{decision.message}{shown}")
        if decision.verdict == "failed":
            raise ContainerExitError(f"{decision.message}{shown}")
        self.log.warning("%s", decision.message)  # "again": said once, in plain words, with the stop code
        self._history.append(summary(described[0]))
        self._task_arns = self._run(context, task_definition, checked, decision.provider or FARGATE)
        if set(self._task_arns) & {attempt["taskArn"] for attempt in self._history}:
            # RunTask's clientToken answered an attempt that already ran: the count of attempts was lost
            raise AirflowException(f"RunTask answered task(s) that already ran: {self._task_arns}; not following them")
        return False

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
        spot = (
            f"; {cost.spot_tasks} on Fargate Spot: on-demand it would be ${cost.on_demand_usd:.6f}, "
            f"saved ${cost.saving_usd:.6f}"
            if cost.spot_tasks
            else ""
        )
        self.log.info(
            "Cost: %d task(s), %.1f vCPU-seconds, %.1f GB-seconds, about $%.6f (%s, %s%s).",
            cost.tasks,
            cost.vcpu_seconds,
            cost.gb_seconds,
            cost.usd,
            region,
            architecture,
            spot,
        )
        context["ti"].xcom_push(
            key="cost",
            value={**cost.as_dict(), "capacity": [t.get("capacityProviderName") or FARGATE for t in described]},
        )

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
