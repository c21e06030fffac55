"""The tags every resource this provider creates carries.

Teardown, the janitor and the environments page find resources by these tags, and never
touch one without ``managed-by=airflow-provider-fargate``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fargate_rules.input_errors import InputError

MANAGED_BY_KEY = "managed-by"
MANAGED_BY_VALUE = "airflow-provider-fargate"
DAG_ID_KEY = "airflow-dag-id"
RUN_ID_KEY = "airflow-run-id"
RESERVED_KEYS = (MANAGED_BY_KEY, DAG_ID_KEY, RUN_ID_KEY)

MAX_TAGS = 50  # ECS's limit per resource
# ECS tag characters: letters, numbers, spaces and _ . : / = + - @
_TAG_CHARS_RE = re.compile(r"^[\w .:/=+\-@]*$", re.UNICODE)


class TagError(InputError):
    """User tags ECS would refuse, or that would overwrite the provider's own."""


def validate_user_tags(tags: Mapping[str, Any] | None, field: str = "tags") -> dict[str, str]:
    """Check user tags before any AWS call; return them as str -> str."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise TagError(f"{field}: must be a mapping of tag key to value, got {type(tags).__name__}")
    result: dict[str, str] = {}
    for key, value in tags.items():
        where = f"{field}.{key}"
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise TagError(f"{where}: tag keys are 1-128 characters")
        if key.lower().startswith("aws:"):
            raise TagError(f"{where}: the 'aws:' prefix is reserved by AWS")
        if key in RESERVED_KEYS:
            raise TagError(f"{where}: is set by the provider itself; reserved keys: {', '.join(RESERVED_KEYS)}")
        value = "" if value is None else str(value)
        if len(value) > 256:
            raise TagError(f"{where}: tag values are at most 256 characters")
        if not _TAG_CHARS_RE.match(key) or not _TAG_CHARS_RE.match(value):
            raise TagError(f"{where}: tags may use letters, numbers, spaces and _ . : / = + - @ only")
        result[key] = value
    if len(result) + len(RESERVED_KEYS) > MAX_TAGS:
        raise TagError(
            f"{field}: at most {MAX_TAGS - len(RESERVED_KEYS)} user tags (ECS allows {MAX_TAGS} per resource)"
        )
    return result


def _tag_value(value: str) -> str:
    return re.sub(r"[^\w .:/=+\-@]", "_", value)[:256]


def provider_tags(dag_id: str | None, run_id: str | None, user_tags: Mapping[str, str] | None = None) -> dict[str, str]:
    """User tags plus the provider's: managed-by, the DAG id and the run id."""
    tags = dict(user_tags or {})
    tags[MANAGED_BY_KEY] = MANAGED_BY_VALUE
    if dag_id:
        tags[DAG_ID_KEY] = _tag_value(dag_id)
    if run_id:
        tags[RUN_ID_KEY] = _tag_value(run_id)
    return tags


def tags_from_context(context: Mapping[str, Any], user_tags: Mapping[str, str] | None = None) -> dict[str, str]:
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None)
    run_id = getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None)
    return provider_tags(dag_id, run_id, user_tags)


def to_ecs_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """ECS spells tags as [{"key": ..., "value": ...}] (lower case, unlike most AWS APIs)."""
    return [{"key": key, "value": value} for key, value in tags.items()]


def from_ecs_tags(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {tag["key"]: tag.get("value", "") for tag in tags or []}


def is_managed(tags: list[dict[str, str]] | Mapping[str, str] | None) -> bool:
    """Ours: the resource (ECS tag list or mapping) carries managed-by=airflow-provider-fargate."""
    return not lacking_tags(tags, {MANAGED_BY_KEY: MANAGED_BY_VALUE})


def lacking_tags(
    tags: list[dict[str, str]] | Mapping[str, str] | None, required: Mapping[str, str] | None
) -> dict[str, str]:
    """The ``required`` tags a resource (ECS tag list or mapping) does not carry with that value."""
    have = dict(tags) if isinstance(tags, Mapping) else from_ecs_tags(tags)
    return {key: value for key, value in (required or {}).items() if have.get(key) != value}


def check_require_tags(require_tags: Any, field: str = "require_tags") -> None:
    """``require_tags`` must be a mapping of tag key to value (checked before any AWS call)."""
    if require_tags is None:
        return
    if not isinstance(require_tags, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in require_tags.items()
    ):
        raise TagError(f"{field}: must be a mapping of tag key to value (strings), got {str(require_tags)[:100]!r}")


def require_tags_error(what: str, lacking: Mapping[str, str]) -> str:
    wanted = ", ".join(f"{k}={v}" for k, v in lacking.items())
    return f"{what} does not carry the tag(s) {wanted}; left alone (require_tags)"


def ownership(
    what: str,
    existing_tags: list[dict[str, str]] | Mapping[str, str] | None,
    wanted_tags: Mapping[str, str],
    *,
    require_tags: Mapping[str, str] | None = None,
    adopt: bool = False,
    log: Any = None,
) -> dict[str, str]:
    """Decide whether an existing resource may be reused by a create; return the tags to write.

    Ours: it carries managed-by=airflow-provider-fargate and ``require_tags``. Not ours: refused
    with NotOursError naming it and its tags, unless ``adopt`` (logged); even then a foreign
    ``managed-by`` is never overwritten.
    """
    from fargate_provider.exceptions import NotOursError

    have = dict(existing_tags) if isinstance(existing_tags, Mapping) else from_ecs_tags(existing_tags)
    lacking = lacking_tags(have, {MANAGED_BY_KEY: MANAGED_BY_VALUE, **(require_tags or {})})
    if not lacking:
        return dict(wanted_tags)
    shown = ", ".join(f"{k}={v}" for k, v in sorted(have.items())) or "none"
    if not adopt:
        raise NotOursError(
            f"{what} already exists and is not ours: it lacks {', '.join(f'{k}={v}' for k, v in lacking.items())} "
            f"(its tags: {shown}). Nothing was changed. Use another name, or adopt=True to take it over."
        )
    tags = dict(wanted_tags)
    if have.get(MANAGED_BY_KEY) not in (None, MANAGED_BY_VALUE):
        tags.pop(MANAGED_BY_KEY, None)  # another tool's resource stays that tool's
    if log is not None:
        log.warning("Adopting %s (adopt=True); its tags were: %s", what, shown)
    return tags
