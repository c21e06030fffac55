"""FargateTaskStateSensor: wait until one-off tasks are RUNNING or STOPPED."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowException

from fargate_provider.exceptions import FargateInputError
from fargate_provider.hooks.fargate import FargateHook
from fargate_provider.links.ecs import EcsClusterLink, EcsTaskLink, persist_task_links
from fargate_provider.operators.base import InputErrorsFailFastMixin, default_deferrable
from fargate_provider.state.task import STOPPED, TARGET_STATES, progress
from fargate_provider.triggers.task import FargateTaskTrigger
from fargate_rules.validation import validate_cluster_name


class FargateTaskStateSensor(InputErrorsFailFastMixin, AwsBaseSensor[FargateHook]):
    """Wait until every one of the given one-off tasks is RUNNING, or STOPPED.

    Only the state is awaited: exit codes are not judged (``FargateRunTaskOperator`` does that).

    :param cluster: the tasks' cluster: name (1-255 letters, numbers, hyphens, underscores) or ARN.
    :param tasks: a task ARN or a list (e.g. the run-task operator's XCom); DescribeTasks
        covers a hundred per call.
    :param target_state: RUNNING or STOPPED (anything else is refused when the sensor is
        made); a task that stops while RUNNING is awaited fails the sensor. Default STOPPED.
    :param deferrable: wait in the triggerer; default: ``[operators] default_deferrable`` where
        set, else True.
    :param poll_interval: seconds between polls (also the sensor's ``poke_interval``). Default 6.
    :param aws_conn_id, region_name, verify, botocore_config: as for ``FargateBaseOperator``
        (through ``AwsBaseSensor``).
    :return: nothing.
    :raises FargateInputError: a bad ``target_state`` (when the sensor is made), ``cluster`` or ``tasks``
        (before any AWS call).
    :raises AirflowException: a task was not found, or stopped while RUNNING was awaited.

    .. seealso:: :doc:`/guides/batch-runs`
    """

    aws_hook_class = FargateHook
    template_fields: Sequence[str] = aws_template_fields("cluster", "tasks")
    operator_extra_links = (EcsClusterLink(), EcsTaskLink())

    def __init__(
        self,
        cluster: str,
        tasks: str | Sequence[str],
        *,
        target_state: str = STOPPED,
        deferrable: bool | None = None,
        poll_interval: float = 6,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poll_interval, **kwargs)
        if target_state not in TARGET_STATES:
            raise FargateInputError(
                f"target_state: {target_state!r} is not allowed; allowed: {', '.join(TARGET_STATES)}"
            )
        self.cluster, self.tasks, self.target_state = cluster, tasks, target_state
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval

    def _arns(self) -> list[str]:
        validate_cluster_name(self.cluster, "cluster", arn_allowed=True)
        tasks = (
            [self.tasks]
            if isinstance(self.tasks, str)
            else list(self.tasks)
            if isinstance(self.tasks, (list, tuple))
            else []
        )
        if not tasks or not all(isinstance(t, str) and t for t in tasks):
            raise FargateInputError(f"tasks: give a task ARN or a list of them, got {self.tasks!r}")
        return tasks

    def execute(self, context) -> Any:
        persist_task_links(context, self, self.cluster, None, self._arns())
        if not self.deferrable:
            return super().execute(context)
        self.defer(
            trigger=FargateTaskTrigger(
                cluster=self.cluster,
                tasks=self._arns(),
                target_state=self.target_state,
                poll_interval=self.poll_interval,
                **FargateTaskTrigger.connection_of(self),
            ),
            method_name="execute_complete",
        )

    def poke(self, context) -> bool:
        arns = self._arns()
        done, error = progress(self.hook.describe_tasks(self.cluster, arns), arns, self.target_state)
        if error:
            raise AirflowException(error)
        return done

    def execute_complete(self, context, event: dict[str, Any] | None = None) -> None:
        if event is None:
            # A resumed try whose trigger result was lost: look again (and defer again if needed).
            self.log.warning("Resumed without the trigger's event (it was lost); checking again.")
            return self.execute(context)
        if event.get("status") != "done":
            raise AirflowException(event.get("message", "the wait failed"))
