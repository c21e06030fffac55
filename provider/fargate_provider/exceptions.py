"""Typed errors of the provider, so callbacks and retry policies can tell them apart.

Every one is an ``AirflowException``; those that no retry can fix are ``AirflowFailException``
(the task fails at once, retries or not).

=============================  ==========================================================
``RolloutFailedError``         a service deployment failed: the circuit breaker rolled it
                               back, tasks kept stopping, the service went away
``WaitTimeoutError``           a wait for services or tasks passed its ``timeout`` /
                               ``execution_timeout``
``TaskFailedToStartError``     a one-off task never ran: RunTask started nothing (capacity,
                               a refused launch) or the task stopped with TaskFailedToStart
``ContainerExitError``         an essential container of a one-off task exited non-zero
                               (or without an exit code)
``SpotInterruptedError``       a Fargate Spot task was interrupted more than ``spot_interruptions``
                               times with ``capacity="spot"``; not retried (an infrastructure outcome)
``CapacityUnavailableError``   Fargate (or Fargate Spot) had no capacity for the whole
                               ``launch_timeout``; not retried
``VcpuQuotaError``             the account's Fargate vCPU quota stayed full for the whole
                               ``launch_timeout``; not retried
``PreflightError``             preflight found problems (``.report`` lists them); not retried
``ExecutionRoleNotFound``      no execution role given and ``ecsTaskExecutionRole`` missing; not retried
``NotOursError``               a resource of that name lacks the provider's tags; not retried
``FargateInputError``          input that can never pass, found before any AWS call (a task
                               definition against ECS's rules, an operator argument, a spec
                               file, a form field, a setting); not retried
``TemplateFieldError``         a templated field failed to render (a ``FargateInputError``);
                               not retried
=============================  ==========================================================

Every ``FargateInputError`` is also a ``ValueError`` (through
:class:`fargate_rules.input_errors.InputError`, which the provider's Airflow-free modules raise and
the operators turn into a ``FargateInputError`` as it leaves them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from fargate_rules.input_errors import InputError

if TYPE_CHECKING:
    from fargate_provider.preflight import PreflightReport  # for the annotation only: preflight imports no Airflow


class FargateError(AirflowException):
    """Base of the provider's retryable errors."""


class RolloutFailedError(FargateError):
    """A service deployment failed (rollback, tasks stopping, service gone)."""


class WaitTimeoutError(FargateError):
    """A wait passed its timeout; the message says what was still missing."""


class TaskFailedToStartError(FargateError):
    """A one-off task never ran (RunTask started nothing, or TaskFailedToStart)."""


class ContainerExitError(FargateError):
    """An essential container of a one-off task exited non-zero, or without an exit code."""


class SpotInterruptedError(AirflowFailException):
    """Fargate Spot took the task back more often than ``spot_interruptions`` allows (``capacity="spot"``)."""


class CapacityUnavailableError(AirflowFailException):
    """RunTask kept answering that Fargate (Spot) had no capacity until ``launch_timeout``."""


class VcpuQuotaError(AirflowFailException):
    """RunTask kept answering that the account's Fargate vCPU quota was full until ``launch_timeout``."""


class PreflightError(AirflowFailException):
    """Preflight found problems; ``report`` has them all (the message lists each with its fix).
    Not retried: each problem needs someone to fix the account or the DAG's settings."""

    def __init__(self, report: PreflightReport):
        self.report = report
        super().__init__(report.text())


class ExecutionRoleNotFound(AirflowFailException):
    """No execution role was given and the default one does not exist; the message says how to
    create it. Not retried: someone has to create the role or set the Variable."""


class LoadBalancerFullError(AirflowFailException):
    """The environments' load balancer has no room for another environment's route: its rules (quota,
    default 100) or its target groups (100, not adjustable) are used up. Nothing was made. Not retried:
    someone has to destroy an environment, raise the quota or use another load balancer."""


class NotOursError(AirflowFailException):
    """A resource of the name exists but does not carry the provider's ``managed-by`` tag (or
    the other tags that make it ours): create does not adopt it, unless told to with
    ``adopt=True``. Not retried: someone has to rename or adopt."""


class FargateInputError(AirflowFailException, InputError):
    """Input that can never pass, found before any AWS call; the message names the field and what
    is allowed. Not retried: someone has to fix the DAG, the task definition or the setting."""


class TemplateFieldError(FargateInputError):
    """A templated field whose Jinja failed to render; the message names the field and the template."""


_F = TypeVar("_F", bound=Callable[..., Any])


def fail_fast_on_input_errors(func: _F) -> _F:
    """Let an ``InputError`` from the provider's Airflow-free modules leave ``func`` as a
    ``FargateInputError`` (same message), so Airflow fails the task at once instead of retrying it."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FargateInputError:
            raise
        except InputError as err:
            raise FargateInputError(str(err)) from err

    return wrapper  # type: ignore[return-value]
