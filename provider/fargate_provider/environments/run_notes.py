"""A note on each run of the environment DAG that says what it does, for runs that do not say it already.

``fargate-env`` and the environments page give their runs ids such as ``create-pr-42-2026…``; a run
from Airflow's Trigger form gets Airflow's ``manual__<timestamp>``, which the form cannot change and
a timetable cannot either (``Timetable.generate_run_id`` is not given the run's conf). So the
scheduler, when such a run starts, gives it the note ``create pr-42`` (the run's action and
environment); a note someone wrote in the form is kept. The Grid view and the run's page show notes.

An Airflow listener (``on_dag_run_running``), registered by the plugin in ``plugins/``; it runs in
the scheduler, on the run it is starting, in the scheduler's session.
"""

from __future__ import annotations

import re
from typing import Any

from airflow.listeners import hookimpl

from fargate_provider.environments.naming import ACTIONS, DAG_ID, NAME_PATTERN


def note_for(run_id: str, conf: Any) -> str | None:
    """``"create pr-42"`` for a run of the environment DAG whose id does not already start with that
    (``create-pr-42-…``); None when the conf names no valid action and environment."""
    if not isinstance(conf, dict):
        return None
    action, environment = conf.get("action", "create"), conf.get("environment")
    if action not in ACTIONS or not isinstance(environment, str) or not re.fullmatch(NAME_PATTERN, environment):
        return None
    if run_id.startswith(f"{action}-{environment}-"):
        return None
    return f"{action} {environment}"


@hookimpl
def on_dag_run_running(dag_run: Any, msg: str) -> None:
    if dag_run.dag_id != DAG_ID or dag_run.note:
        return
    note = note_for(dag_run.run_id, dag_run.conf)
    if note:
        dag_run.note = note
