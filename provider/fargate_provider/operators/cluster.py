"""Create and delete ECS clusters for Fargate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowException

from fargate_provider.exceptions import FargateInputError
from fargate_provider.links.ecs import EcsClusterLink, persist_link
from fargate_provider.operators.base import FargateBaseOperator
from fargate_provider.utils.tags import (
    check_require_tags,
    is_managed,
    lacking_tags,
    ownership,
    require_tags_error,
    tags_from_context,
    validate_user_tags,
)
from fargate_rules.arns import name_from_arn
from fargate_rules.validation import (
    FARGATE_CAPACITY_PROVIDERS,
    validate_capacity_strategy,
    validate_cluster_name,
)


class FargateCreateClusterOperator(FargateBaseOperator):
    """Create an ECS cluster for Fargate, or reuse the ACTIVE one of that name; return its ARN.

    An existing ACTIVE (or PROVISIONING) cluster of that name is reused only if it is ours
    (logged); a reused cluster's tags are brought up to date. Either way the operator waits
    until the cluster is ACTIVE.

    :param cluster_name: the cluster's name: 1-255 letters, numbers, hyphens, underscores.
    :param capacity_providers: FARGATE and/or FARGATE_SPOT (at least one; nothing else).
        Default both.
    :param default_capacity_provider_strategy: e.g. ``[{"capacityProvider": "FARGATE_SPOT", "weight": 1}]``.
        Each item names one of ``capacity_providers``, with ``weight`` 0-1000 and optional
        ``base`` 0-100000; at most one item with a base, at least one with a weight above 0.
        Default None: no default strategy.
    :param container_insights: turn CloudWatch Container Insights on. Default False.
    :param tags: extra tags; the provider adds managed-by, airflow-dag-id, airflow-run-id.
        Keys 1-128 characters, values up to 256; no ``aws:`` prefix, no provider's keys.
    :param require_tags: tags (besides managed-by) an existing cluster must carry to be reused,
        e.g. an environment's ``fargate-environment``.
    :param adopt: reuse (and tag) an existing cluster that is not ours; logged. A foreign
        ``managed-by`` tag is never overwritten. Without it such a cluster fails the task (NotOursError).
        Default False.
    :param aws_conn_id, region_name, verify, botocore_config: see ``FargateBaseOperator``.
    :return: the cluster's ARN.
    :raises FargateInputError: a bad name, capacity providers, strategy or tags (before any AWS call).
    :raises NotOursError: an existing cluster of that name is not ours (and ``adopt`` is False).

    .. seealso:: :doc:`/guides/clusters`
    """

    template_fields: Sequence[str] = aws_template_fields(
        "cluster_name", "tags", "default_capacity_provider_strategy", "require_tags"
    )
    operator_extra_links = (EcsClusterLink(),)

    def __init__(
        self,
        cluster_name: str,
        *,
        capacity_providers: Sequence[str] = FARGATE_CAPACITY_PROVIDERS,
        default_capacity_provider_strategy: Sequence[Mapping[str, Any]] | None = None,
        container_insights: bool = False,
        tags: Mapping[str, str] | None = None,
        require_tags: Mapping[str, str] | None = None,
        adopt: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.require_tags, self.adopt = require_tags, adopt
        self.capacity_providers = tuple(capacity_providers)
        self.default_capacity_provider_strategy = default_capacity_provider_strategy
        self.container_insights = container_insights
        self.tags = tags

    def execute(self, context) -> str:
        name = validate_cluster_name(self.cluster_name)
        unknown = [p for p in self.capacity_providers if p not in FARGATE_CAPACITY_PROVIDERS]
        if unknown or not self.capacity_providers:
            raise FargateInputError(
                f"capacity_providers: {unknown or 'empty'} not allowed; "
                f"allowed: {', '.join(FARGATE_CAPACITY_PROVIDERS)}"
            )
        strategy = validate_capacity_strategy(
            self.default_capacity_provider_strategy, self.capacity_providers, "default_capacity_provider_strategy"
        )
        tags = tags_from_context(context, validate_user_tags(self.tags))
        check_require_tags(self.require_tags)
        persist_link(context, self, EcsClusterLink, cluster_name=name)

        existing = self.hook.describe_cluster(name)
        if existing is not None and existing["status"] in ("ACTIVE", "PROVISIONING"):
            tags = ownership(
                f"Cluster {name}",
                existing.get("tags"),
                tags,
                require_tags=self.require_tags,
                adopt=self.adopt,
                log=self.log,
            )
            self.log.info(
                "Cluster %s already exists (%s); reusing it: %s", name, existing["status"], existing["clusterArn"]
            )
            arn = existing["clusterArn"]
            if lacking_tags(existing.get("tags"), tags):
                # Tags carry state (an environment's expiry): a re-run brings them up to date.
                self.hook.tag_resource(arn, tags)
                self.log.info("Updated the tags of cluster %s.", name)
        else:
            created = self.hook.create_cluster(
                name,
                capacity_providers=self.capacity_providers,
                default_capacity_provider_strategy=strategy,
                container_insights=self.container_insights,
                tags=tags,
            )
            arn = created["clusterArn"]
            self.log.info("Created cluster %s: %s", name, arn)
        self.hook.wait_for_cluster(name, "ACTIVE")
        self.log.info("Cluster %s is ACTIVE.", name)
        return arn


class FargateDeleteClusterOperator(FargateBaseOperator):
    """Delete an ECS cluster; a missing or INACTIVE cluster is success.

    Waits until the cluster is INACTIVE.

    :param cluster_name: the cluster's name or ARN.
    :param cascade: first delete its services (scaled to 0, deleted with force, waited for
        until INACTIVE) and stop its tasks (waited for until STOPPED); without it, a cluster
        that still has services or tasks is not deleted and the task fails naming them.
        Default False.
    :param require_tags: delete only a cluster carrying these tags (e.g. managed-by); one
        without them fails the task and is left alone. Default None: any cluster.
    :param stop_own_tasks: first stop the standalone tasks that carry managed-by=airflow-provider-fargate
        (ours); anyone else's tasks and services still keep the cluster, and the task fails naming them.
        Default False.
    :param aws_conn_id, region_name, verify, botocore_config: see ``FargateBaseOperator``.
    :return: the deleted cluster's ARN; None when it was missing or already INACTIVE.
    :raises FargateInputError: a bad ``cluster_name`` or ``require_tags`` (before any AWS call).
    :raises AirflowException: the cluster lacks ``require_tags``, or still has services or
        tasks and ``cascade`` is False.

    .. seealso:: :doc:`/guides/clusters`
    """

    template_fields: Sequence[str] = aws_template_fields("cluster_name", "require_tags")
    operator_extra_links = (EcsClusterLink(),)

    def __init__(
        self,
        cluster_name: str,
        *,
        cascade: bool = False,
        require_tags: Mapping[str, str] | None = None,
        stop_own_tasks: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cluster_name = cluster_name
        self.cascade = cascade
        self.require_tags = require_tags
        self.stop_own_tasks = stop_own_tasks

    def execute(self, context) -> str | None:
        name = name_from_arn(validate_cluster_name(self.cluster_name, arn_allowed=True))
        check_require_tags(self.require_tags)
        persist_link(context, self, EcsClusterLink, cluster_name=name)
        cluster = self.hook.describe_cluster(name)
        if cluster is None or cluster["status"] == "INACTIVE":
            self.log.info("Cluster %s does not exist (or is already INACTIVE); nothing to delete.", name)
            return None
        lacking = lacking_tags(cluster.get("tags"), self.require_tags)
        if lacking:
            raise AirflowException(require_tags_error(f"Cluster {name}", lacking))

        if self.stop_own_tasks:
            own = [t["taskArn"] for t in self.hook.standalone_tasks(name) if is_managed(t.get("tags"))]
            if own:
                self.log.info("Stopping %d task(s) of ours in %s (stop_own_tasks).", len(own), name)
                self.hook.stop_tasks(name, own, reason=f"Cluster {name} deleted by Airflow")
        services = self._active_services(name)
        tasks = self.hook.list_active_tasks(name)
        if (services or tasks) and not self.cascade:
            raise AirflowException(
                f"Cluster {name} still has {len(services)} service(s) {[name_from_arn(s) for s in services]} and "
                f"{len(tasks)} task(s) {[name_from_arn(t) for t in tasks]}; delete them first or set cascade=True."
            )
        if services:
            self.log.info("Deleting %d service(s) in %s: %s", len(services), name, [name_from_arn(s) for s in services])
            self.hook.delete_services(name, services)
        tasks = self.hook.list_active_tasks(name)  # services' tasks are gone with them
        if tasks:
            self.log.info("Stopping %d task(s) in %s.", len(tasks), name)
            self.hook.stop_tasks(name, tasks, reason=f"Cluster {name} deleted by Airflow (cascade)")
        deleted = self.hook.delete_cluster(name)
        self.hook.wait_for_cluster(name, "INACTIVE")
        self.log.info("Deleted cluster %s.", name)
        return deleted["clusterArn"]

    def _active_services(self, cluster: str) -> list[str]:
        arns = self.hook.list_services(cluster)
        if not arns:
            return []
        return [s["serviceArn"] for s in self.hook.describe_services(cluster, arns) if s["status"] != "INACTIVE"]
