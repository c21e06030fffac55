"""Register and deregister Fargate task definitions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from fargate_provider.exceptions import FargateInputError
from fargate_provider.links.ecs import (
    EcsTaskDefinitionLink,
    persist_link,
    task_definition_fields,
)
from fargate_provider.operators.base import FargateBaseOperator, require_preflight
from fargate_provider.roles import RoleError, check_role_reference
from fargate_provider.utils.masking import mask_container_environment
from fargate_provider.utils.tags import (
    from_ecs_tags,
    lacking_tags,
    require_tags_error,
    tags_from_context,
    validate_user_tags,
)
from fargate_rules.arns import name_from_arn, revision_of
from fargate_rules.task_definition_spec import (
    TaskDefinitionError,
    is_spec_path,
    load_task_definition,
    same_task_definition,
    validate_task_definition,
)


class TaskDefinitionSpecMixin:
    """A task definition given as a dict or a .json/.json5 file (a Jinja template itself), with
    the operator's roles applied: what the register and preflight operators share."""

    def _init_spec(
        self,
        task_definition: Any,
        family: str | None,
        execution_role_arn: str | None,
        task_role_arn: str | None,
        allow_any_path: bool = False,
    ) -> None:
        self.allow_any_path = allow_any_path
        self.task_definition = task_definition
        self.family = family
        self.execution_role_arn = execution_role_arn
        self.task_role_arn = task_role_arn

    def render_template_fields(self, context, jinja_env=None) -> None:
        super().render_template_fields(context, jinja_env)  # type: ignore[misc]
        # A spec file is itself a template: read and render it here, so the rendered
        # task definition (not just its path) is what runs and what the UI shows.
        if is_spec_path(self.task_definition):
            self.task_definition = load_task_definition(
                self.task_definition,
                search_paths=self._search_paths(),
                render=lambda text: self.render_template(text, context, jinja_env),  # type: ignore[attr-defined]
                allow_any_path=self.allow_any_path,
            )
        # Before Airflow stores the rendered fields: secret-looking environment values become ***.
        mask_container_environment(self.task_definition)

    def _search_paths(self) -> list[str]:
        if not self.has_dag():  # type: ignore[attr-defined]
            return []
        dag = self.dag  # type: ignore[attr-defined]
        folder = str(Path(dag.fileloc).parent) if getattr(dag, "fileloc", None) else None
        return [p for p in [folder, *(dag.template_searchpath or ())] if p]

    def validated_request(self) -> dict[str, Any]:
        """The RegisterTaskDefinition request: the spec with the operator's roles, checked for
        Fargate (no AWS call); TaskDefinitionError lists every problem."""
        spec = load_task_definition(
            self.task_definition, search_paths=self._search_paths(), allow_any_path=self.allow_any_path
        )
        for key, field in (("executionRoleArn", "execution_role_arn"), ("taskRoleArn", "task_role_arn")):
            try:
                role = check_role_reference(getattr(self, field), field)
            except RoleError as err:
                raise TaskDefinitionError([(field, str(err).split(": ", 1)[1])]) from None
            if role:
                spec[key] = role
        request = validate_task_definition(spec, family=self.family)
        if "family" not in request:
            raise TaskDefinitionError([("family", "is required (in the task definition or as the operator's family=)")])
        return request

    def expand_roles(self, request: dict[str, Any]) -> dict[str, Any]:
        """Role names as the ARNs ECS stores (so skip_if_unchanged compares like with like)."""
        for key in ("executionRoleArn", "taskRoleArn"):
            if request.get(key):
                request[key] = self.hook.role_arn(request[key])  # type: ignore[attr-defined]
        return request


class FargateRegisterTaskDefinitionOperator(TaskDefinitionSpecMixin, FargateBaseOperator):
    """Register a Fargate task definition from a dict or a .json/.json5 file; return its ARN.

    The spec is validated for Fargate before any AWS call (every problem at once); setting up
    the roles it names is in :doc:`/guides/aws`.

    :param task_definition: the RegisterTaskDefinition input (as ``aws ecs
        register-task-definition --cli-input-json`` takes it): a dict, or a path to a
        .json/.json5 file (absolute, or relative to the DAG's folder or
        ``template_searchpath``). Jinja-templated in both forms; files may carry ``//``
        comments and trailing commas.
    :param allow_any_path: read a spec file outside the DAG's folder and ``template_searchpath``
        (refused otherwise, ``../`` included). Default False.
    :param family: overrides the spec's ``family`` (required in one or the other).
    :param execution_role_arn: overrides the spec's ``executionRoleArn``: the role ECS uses to
        pull images, read secrets and write awslogs (ECS refuses a Fargate task definition with
        awslogs, secrets or a private ECR image without one). An ARN or a role name; a name is
        expanded to the ARN in the connection's account.
    :param task_role_arn: overrides the spec's ``taskRoleArn``: the role the containers' own AWS
        calls run as. ARN or name, as above.
    :param tags: extra tags; the provider adds managed-by, airflow-dag-id, airflow-run-id.
        Merged over the spec's own ``tags`` (these win).
    :param skip_if_unchanged: when the family's newest ACTIVE revision is the same spec
        (tags aside), register nothing and return that revision's ARN. Default True.
    :param preflight: before registering, check with read-only calls that the roles exist and
        trust ECS, may do what the task needs, and that images, secrets and log groups exist
        (see ``FargatePreflightOperator``); fail with every problem at once. Default False.
    :param aws_conn_id, region_name, verify, botocore_config: see ``FargateBaseOperator``.
    :return: the task definition revision's ARN.
    :raises TaskDefinitionError: the spec (or a role reference) breaks a rule (before any AWS
        call); a ``ValueError``, as are bad ``tags``.
    :raises PreflightError: with ``preflight=True``, what ECS would need is missing.

    .. seealso:: :doc:`/guides/task-definitions`
    """

    template_fields: Sequence[str] = aws_template_fields(
        "task_definition", "family", "tags", "execution_role_arn", "task_role_arn"
    )
    operator_extra_links = (EcsTaskDefinitionLink(),)
    template_fields_renderers = {"task_definition": "json", "tags": "json"}

    def __init__(
        self,
        task_definition: dict[str, Any] | str,
        *,
        family: str | None = None,
        execution_role_arn: str | None = None,
        task_role_arn: str | None = None,
        tags: Mapping[str, str] | None = None,
        skip_if_unchanged: bool = True,
        preflight: bool = False,
        allow_any_path: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._init_spec(task_definition, family, execution_role_arn, task_role_arn, allow_any_path)
        self.tags = tags
        self.skip_if_unchanged = skip_if_unchanged
        self.preflight = preflight

    def execute(self, context) -> str:
        request = self.validated_request()
        file_tags = validate_user_tags(from_ecs_tags(request.pop("tags", None)), field="task_definition.tags")
        user_tags = {**file_tags, **validate_user_tags(self.tags)}
        tags = tags_from_context(context, user_tags)
        request = self.expand_roles(request)
        if self.preflight:
            require_preflight(self.hook, self.log, task_definition=request)

        family = request["family"]
        if self.skip_if_unchanged:
            latest = self.hook.latest_active_task_definition(family)
            if latest is not None and same_task_definition(request, latest):
                arn = latest["taskDefinitionArn"]
                self.log.info(
                    "Task definition %s:%s is unchanged; not registering a new revision (skip_if_unchanged).",
                    family,
                    revision_of(arn),
                )
                persist_link(context, self, EcsTaskDefinitionLink, **task_definition_fields(arn))
                return arn
            if latest is not None:
                self.log.info(
                    "Task definition %s differs from revision %s; registering a new revision.",
                    family,
                    latest["revision"],
                )
        registered = self.hook.register_task_definition(request, tags)
        self.log.info(
            "Registered task definition %s:%s (%s).",
            registered["family"],
            registered["revision"],
            registered["taskDefinitionArn"],
        )
        persist_link(context, self, EcsTaskDefinitionLink, family=registered["family"], revision=registered["revision"])
        return registered["taskDefinitionArn"]


class FargateDeregisterTaskDefinitionOperator(FargateBaseOperator):
    """Deregister one revision, or every ACTIVE revision of a family but the newest ``keep_latest``.

    Revisions already gone are logged, not errors.

    :param task_definition: ``family:revision`` or an ARN (one revision), or a family name
        (its ACTIVE revisions).
    :param keep_latest: with a family, how many of the newest ACTIVE revisions to keep: a whole
        number, 0 or more. Default 0 (deregister them all).
    :param delete: also delete the deregistered revisions (DeleteTaskDefinitions), and those an
        earlier try deregistered but did not delete; a revision that cannot be deleted is
        logged as a warning. Default False.
    :param require_tags: touch only revisions carrying these tags (e.g. managed-by); others
        are logged as a warning and left alone. Default None: any revision.
    :param aws_conn_id, region_name, verify, botocore_config: see ``FargateBaseOperator``.
    :return: the ARNs deregistered (empty when there was nothing to do).
    :raises FargateInputError: an empty ``task_definition`` or a bad ``keep_latest`` (before any AWS call).

    .. seealso:: :doc:`/guides/task-definitions`
    """

    template_fields: Sequence[str] = aws_template_fields("task_definition", "keep_latest", "require_tags")
    operator_extra_links = (EcsTaskDefinitionLink(),)

    def __init__(
        self,
        task_definition: str,
        *,
        keep_latest: int = 0,
        delete: bool = False,
        require_tags: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.task_definition = task_definition
        self.keep_latest = keep_latest
        self.delete = delete
        self.require_tags = require_tags

    def execute(self, context) -> list[str]:
        if not isinstance(self.task_definition, str) or not self.task_definition.strip():
            raise FargateInputError("task_definition: give a family, family:revision or a task definition ARN")
        try:
            keep_latest = int(self.keep_latest)
        except (TypeError, ValueError):
            keep_latest = -1
        if keep_latest < 0:
            raise FargateInputError(f"keep_latest: must be a whole number, 0 or more, got {self.keep_latest!r}")
        name = name_from_arn(self.task_definition.strip())
        persist_link(context, self, EcsTaskDefinitionLink, **task_definition_fields(name))
        if ":" in name:
            targets = [self.task_definition.strip()]
        else:
            active = self.hook.list_task_definition_revisions(name)
            targets = active[: max(len(active) - keep_latest, 0)]
            kept = active[len(targets) :]
            self.log.info(
                "Family %s has %d ACTIVE revision(s); deregistering %d, keeping %s.",
                name,
                len(active),
                len(targets),
                [revision_of(a) for a in kept] or "none",
            )
        deregistered, to_delete = [], []
        for target in targets:
            described = None
            if self.require_tags:
                described = self.hook.describe_task_definition(target)
                lacking = lacking_tags(described.get("tags"), self.require_tags) if described else {}
                if lacking:
                    self.log.warning("%s", require_tags_error(f"Task definition {name_from_arn(target)}", lacking))
                    continue
            arn = self.hook.deregister_task_definition(target, described=described)
            if arn:
                self.log.info("Deregistered %s.", arn)
                deregistered.append(arn)
                if self.delete:
                    to_delete.append(arn)
                continue
            current = self.hook.describe_task_definition(target) if self.delete else None
            if current is not None and current.get("status") == "INACTIVE":
                # Deregistered by an earlier try whose delete did not happen: finish the job.
                to_delete.append(current["taskDefinitionArn"])
            self.log.info("%s is already INACTIVE or gone; nothing to deregister.", target)
        if to_delete:
            failures = self.hook.delete_task_definitions(to_delete)
            for failure in failures:
                self.log.warning("Could not delete %s: %s", failure.get("arn"), failure.get("reason"))
            self.log.info("Deleted %d task definition revision(s).", len(to_delete) - len(failures))
        return deregistered
