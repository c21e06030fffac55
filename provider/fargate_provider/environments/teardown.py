"""Teardown tasks that clean up only after a failure.

An ephemeral environment must outlive a successful create run, yet a create that fails half
way must leave nothing behind. Airflow teardown tasks always run once a setup succeeded; this
``pre_execute`` hook turns them into no-ops (skipped) unless a task of the run failed.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

FAILED_STATES = ("failed", "upstream_failed")


def failed_tasks(context: Any) -> list[str]:
    ti = context["ti"]
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
    return sorted(task_id for task_id, state in states.items() if str(state) in FAILED_STATES)


def only_after_failure(existed_xcom: tuple[str, str] | None = None):
    """A ``pre_execute`` hook: skip the teardown unless a task of this run failed.

    :param existed_xcom: (task_id, key) of an XCom that is true when the resources existed
        before this run; then a failure (a rolled-back update) does not tear them down either.
    """

    def pre_execute(context: Any) -> None:
        failed = failed_tasks(context)
        if not failed:
            _skip(context, "No task of this run failed: nothing to clean up.")
        if existed_xcom and context["ti"].xcom_pull(task_ids=existed_xcom[0], key=existed_xcom[1]):
            _skip(
                context,
                f"{', '.join(failed)} failed, but the resources existed before this run; they are left as they are "
                "(a failed deployment is rolled back by the circuit breaker).",
            )
        context["task"].log.info("Cleaning up after failed task(s): %s", ", ".join(failed))

    return pre_execute


def _skip(context: Any, reason: str) -> None:
    """Skip, with the task's console links stored as empty: Airflow reads every link's XCom of a
    finished task, and a missing one is an error-level line on a green run."""
    for link in getattr(context["task"], "operator_extra_links", ()):
        context["ti"].xcom_push(key=link.key, value=None)
    raise AirflowSkipException(reason)
