"""Tokens that make an Airflow retry find what an earlier try created instead of creating more.

All derive from the task instance (dag_id, run_id, task_id, map_index), never the try number.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "airflow-provider-fargate")


def task_instance_identity(context: Mapping[str, Any]) -> str:
    ti = context["ti"]
    return f"{ti.dag_id}|{ti.run_id}|{ti.task_id}|{getattr(ti, 'map_index', -1)}"


def service_client_token(context: Mapping[str, Any]) -> str:
    """CreateService's clientToken (ECS allows 36 characters: a UUID)."""
    return str(uuid.uuid5(_NAMESPACE, task_instance_identity(context)))


def run_task_client_token(context: Mapping[str, Any], generation: int, launch: int = 0) -> str:
    """RunTask's clientToken (at most 64 characters), plus how many of this task instance's
    tasks already ran (``generation``): a retry after a *failed* container, or the next attempt
    after a Spot interruption, starts a new task; a retry after a *crash* does not. ``launch``:
    the request's number within one start, when ECS answered the earlier ones with a failure
    (no capacity, the vCPU quota): nothing was started, and the next request is a new one."""
    suffix = f"|{launch}" if launch else ""
    return str(uuid.uuid5(_NAMESPACE, f"{task_instance_identity(context)}|{generation}{suffix}"))


def started_by_for(context: Mapping[str, Any]) -> str:
    """A startedBy unique per task instance: how a retry finds the tasks an earlier try started."""
    return "airflow-" + uuid.uuid5(_NAMESPACE, task_instance_identity(context)).hex[:24]
