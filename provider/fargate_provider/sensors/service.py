"""FargateServiceStableSensor: wait until one or many ECS services are stable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from fargate_provider.exceptions import FargateInputError, RolloutFailedError
from fargate_provider.hooks.fargate import FargateHook
from fargate_provider.links.ecs import (
    EcsClusterLink,
    EcsServiceLink,
    persist_service_links,
)
from fargate_provider.operators.base import InputErrorsFailFastMixin, default_deferrable
from fargate_provider.state.service import STABLE_TARGET, ServiceWatch, name_of
from fargate_provider.triggers.service import FargateServiceTrigger
from fargate_rules.validation import validate_cluster_name


class FargateServiceStableSensor(InputErrorsFailFastMixin, AwsBaseSensor[FargateHook]):
    """Stable in the strict sense of ``fargate_provider.state.service``, for every service.

    Stable: ACTIVE, exactly one deployment, its rollout COMPLETED where the circuit breaker is
    on, runningCount == desiredCount and pendingCount 0. A failed rollout fails the sensor at
    once, not at the timeout.

    :param cluster: the services' cluster: name (1-255 letters, numbers, hyphens, underscores) or ARN.
    :param services: a name or ARN, a list of them, or an XCom of ARNs. Polled with one
        DescribeServices call per ten services.
    :param deferrable: wait in the triggerer; default: ``[operators] default_deferrable`` where
        set, else True.
    :param poll_interval: seconds between polls (also the sensor's ``poke_interval``). Default 15.
    :param timeout: seconds the wait may take, as for any sensor. Default 1800.
    :param max_failed_tasks: stopped tasks (``failedTasks``) of the newest deployment at which
        the wait fails. Default 3.
    :param aws_conn_id, region_name, verify, botocore_config: as for ``FargateBaseOperator``
        (through ``AwsBaseSensor``).
    :return: nothing.
    :raises FargateInputError: a bad ``cluster`` or ``services``, before any AWS call.
    :raises RolloutFailedError: a rollout failed (rolled back), a deployment's tasks kept
        stopping, or a service is missing, DRAINING or INACTIVE.
    :raises WaitTimeoutError: deferred, not stable within ``timeout`` (waiting in the worker,
        the sensor's own ``AirflowSensorTimeout``).

    .. seealso:: :doc:`/guides/services`
    """

    aws_hook_class = FargateHook
    template_fields: Sequence[str] = aws_template_fields("cluster", "services")
    operator_extra_links = (EcsClusterLink(), EcsServiceLink())

    def __init__(
        self,
        cluster: str,
        services: str | Sequence[str],
        *,
        deferrable: bool | None = None,
        poll_interval: float = 15,
        timeout: float = 1800,
        max_failed_tasks: int = 3,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poll_interval, timeout=timeout, **kwargs)
        self.cluster, self.services = cluster, services
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval, self.max_failed_tasks = poll_interval, max_failed_tasks
        self._watch: ServiceWatch | None = None

    def _service_names(self) -> list[str]:
        validate_cluster_name(self.cluster, "cluster", arn_allowed=True)
        services = (
            [self.services]
            if isinstance(self.services, str)
            else list(self.services)
            if isinstance(self.services, (list, tuple))
            else []
        )
        if not services or not all(isinstance(s, str) and s for s in services):
            raise FargateInputError(f"services: give a service name or ARN, or a list of them, got {self.services!r}")
        return [name_of(s) for s in services]

    def _new_watch(self) -> ServiceWatch:
        return ServiceWatch(self._service_names(), STABLE_TARGET, max_failed_tasks=self.max_failed_tasks)

    def execute(self, context) -> Any:
        names = self._service_names()
        # One link slot per kind: the service link only when one service is watched.
        persist_service_links(context, self, self.cluster, names[0] if len(names) == 1 else None)
        if not self.deferrable:
            return super().execute(context)
        watch = self._new_watch()
        self.defer(
            trigger=FargateServiceTrigger(
                cluster=self.cluster,
                watch=watch.to_kwargs(),
                poll_interval=self.poll_interval,
                timeout=self.timeout,
                **FargateServiceTrigger.connection_of(self),
            ),
            method_name="execute_complete",
        )

    def poke(self, context) -> bool:
        if self._watch is None:
            self._watch = self._new_watch()
        result = self.hook.poll_services(self.cluster, self._watch)
        if result.error:
            raise RolloutFailedError(result.error)
        return result.done

    def execute_complete(self, context, event: dict[str, Any] | None = None) -> None:
        if event is None:
            # A resumed try whose trigger result was lost: look again (and defer again if needed).
            self.log.warning("Resumed without the trigger's event (it was lost); checking again.")
            return self.execute(context)
        if event.get("status") != "success":
            raise FargateServiceTrigger.error_from_event(event)
