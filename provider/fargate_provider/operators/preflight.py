"""Check, with read-only calls, that a Fargate task will be able to start — before creating anything."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from fargate_provider.exceptions import FargateInputError, PreflightError
from fargate_provider.operators.base import FargateBaseOperator
from fargate_provider.operators.task_definition import TaskDefinitionSpecMixin
from fargate_provider.preflight import run_preflight
from fargate_provider.utils.networking import check_network
from fargate_rules.task_definition_spec import is_spec_path
from fargate_rules.validation import FARGATE_CAPACITY_PROVIDERS, validate_capacity_strategy


class FargatePreflightOperator(TaskDefinitionSpecMixin, FargateBaseOperator):
    """Check everything ECS will need to start the task, report every problem at once with its fix.

    Read-only calls only: the execution and task roles exist, trust ``ecs-tasks.amazonaws.com``
    and (execution role) allow what the task needs — ECR pulls, awslogs, ``logs:CreateLogGroup``
    for ``awslogs-create-group``, reading its secrets; private ECR images exist; secrets exist
    (metadata only, never a value); log groups exist or will be created; the subnets exist in one
    VPC and reach ECR, CloudWatch Logs and SSM/Secrets Manager (NAT gateway, internet gateway with
    a public IP, or VPC endpoints); the security groups allow outbound HTTPS; a public IP is not
    asked for in subnets without an internet gateway route; the cluster has the capacity providers
    a strategy names. Images in other registries are reported as not checked. Setting these up
    is in :doc:`/guides/aws`.

    :param task_definition: what will run: a task definition ARN or ``family[:revision]`` (described),
        or a spec as ``FargateRegisterTaskDefinitionOperator`` takes it (dict or .json/.json5 file,
        Jinja-templated) — not registered here.
    :param allow_any_path: with a spec file, allow one outside the DAG's folder and ``template_searchpath``.
        Default False.
    :param family: with a spec, overrides its ``family``.
    :param execution_role_arn: with a spec, overrides its ``executionRoleArn`` (ARN or role name).
    :param task_role_arn: with a spec, overrides its ``taskRoleArn`` (ARN or role name).
    :param cluster: the cluster the task or service will run in (for the capacity-provider check,
        made only with both ``cluster`` and ``capacity_provider_strategy``).
    :param subnets: the awsvpc subnets: a non-empty list of ``subnet-…`` IDs; without them the
        network is not checked.
    :param security_groups: the awsvpc security groups: with ``subnets``, a non-empty list of
        ``sg-…`` IDs.
    :param assign_public_ip: whether tasks get a public IP (public subnets). Default False.
    :param capacity_provider_strategy: the strategy the task or service will use
        (``capacityProvider`` FARGATE or FARGATE_SPOT, ``weight`` 0-1000, ``base`` 0-100000).
    :param aws_conn_id, region_name, verify, botocore_config: see ``FargateBaseOperator``.
    :return: the report (XCom): ``ok``, ``problems`` (check, subject, problem, fix), ``passed``, ``not_checked``.
        On failure the report is also pushed under the XCom key ``preflight_report``.
    :raises FargateInputError: bad ``subnets``, ``security_groups`` or strategy, a task definition
        reference that is not registered, or a spec that breaks a rule (``TaskDefinitionError``).
    :raises PreflightError: any problem; its message lists all of them. Not retried.

    .. seealso:: :ref:`preflight` in :doc:`/guides/aws`
    """

    template_fields: Sequence[str] = aws_template_fields(
        "task_definition",
        "family",
        "execution_role_arn",
        "task_role_arn",
        "cluster",
        "subnets",
        "security_groups",
        "assign_public_ip",
        "capacity_provider_strategy",
    )
    template_fields_renderers = {"task_definition": "json"}
    ui_color = "#d6e9c6"

    def __init__(
        self,
        task_definition: dict[str, Any] | str,
        *,
        family: str | None = None,
        execution_role_arn: str | None = None,
        task_role_arn: str | None = None,
        cluster: str | None = None,
        subnets: Sequence[str] | None = None,
        security_groups: Sequence[str] | None = None,
        assign_public_ip: bool = False,
        capacity_provider_strategy: list[dict[str, Any]] | None = None,
        allow_any_path: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._init_spec(task_definition, family, execution_role_arn, task_role_arn, allow_any_path)
        self.cluster = cluster
        self.subnets = subnets
        self.security_groups = security_groups
        self.assign_public_ip = assign_public_ip
        self.capacity_provider_strategy = capacity_provider_strategy

    def _is_reference(self) -> bool:
        value = self.task_definition
        return isinstance(value, str) and not is_spec_path(value) and not value.lstrip().startswith("{")

    def execute(self, context) -> dict[str, Any]:
        # Input first, before any AWS call.
        if self.subnets is not None:
            check_network(self.subnets, self.security_groups)
        if self.capacity_provider_strategy:
            validate_capacity_strategy(
                self.capacity_provider_strategy, FARGATE_CAPACITY_PROVIDERS, "capacity_provider_strategy"
            )
        if self._is_reference():
            task_definition = self.hook.describe_task_definition(self.task_definition.strip())
            if task_definition is None:
                raise FargateInputError(
                    f"task_definition: {self.task_definition!r} is not a registered task definition"
                )
        else:
            task_definition = self.expand_roles(self.validated_request())
        report = run_preflight(
            self.hook,
            task_definition=task_definition,
            subnets=self.subnets,
            security_groups=self.security_groups,
            assign_public_ip=bool(self.assign_public_ip),
            cluster=self.cluster,
            capacity_provider_strategy=self.capacity_provider_strategy,
        )
        for line in report.not_checked:
            self.log.info("Not checked: %s", line)
        if not report.ok:
            context["ti"].xcom_push(key="preflight_report", value=report.as_dict())
            raise PreflightError(report)
        self.log.info("%s", report.text())
        return report.as_dict()
