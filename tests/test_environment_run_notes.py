"""Runs of the environment DAG from Airflow's Trigger form get Airflow's ``manual__…`` id; the plugin's
listener notes what they do (fargate_provider.environments.run_notes). Through a real scheduler in
tests/test_airflow_standalone.py; the rule here."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fargate_provider.environments import run_notes
from fargate_provider.environments.naming import DAG_ID, run_id_for


@pytest.mark.parametrize(
    ("run_id", "conf", "note"),
    [
        ("manual__2026-12-08T02:00:00+00:00", {"environment": "pr-42", "action": "create"}, "create pr-42"),
        ("manual__2026-12-08T02:00:00+00:00", {"environment": "pr-42"}, "create pr-42"),  # the form's default
        ("manual__2026-12-08T02:00:00+00:00", {"environment": "pr-42", "action": "sleep"}, "sleep pr-42"),
        ("create-pr-42-20261208T020000000000Z", {"environment": "pr-42", "action": "create"}, None),  # says it
        ("manual__x", {"environment": "Bad Name", "action": "create"}, None),
        ("manual__x", {"environment": "pr-42", "action": "explode"}, None),
        ("manual__x", None, None),
    ],
)
def test_the_note_says_the_action_and_the_environment_unless_the_run_id_does(run_id, conf, note):
    assert run_notes.note_for(run_id, conf) == note


def test_the_listener_notes_only_the_environment_dags_runs_and_keeps_a_note_someone_wrote():
    import datetime as dt

    def run(dag_id: str, note: str | None = None, run_id: str = "manual__2026-12-08T02:00:00+00:00"):
        return SimpleNamespace(dag_id=dag_id, run_id=run_id, conf={"environment": "pr-7", "action": "wake"}, note=note)

    form = run(DAG_ID)
    run_notes.on_dag_run_running(dag_run=form, msg="started")
    assert form.note == "wake pr-7"
    written = run(DAG_ID, note="waking for the demo")
    run_notes.on_dag_run_running(dag_run=written, msg="started")
    assert written.note == "waking for the demo"
    other = run("some_other_dag")
    run_notes.on_dag_run_running(dag_run=other, msg="started")
    assert other.note is None
    from_cli = run(DAG_ID, run_id=run_id_for("wake", "pr-7", dt.datetime.now(dt.UTC)))
    run_notes.on_dag_run_running(dag_run=from_cli, msg="started")
    assert from_cli.note is None
