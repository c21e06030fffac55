"""The example DAG in dags/ parses and runs end to end against aws_endpoint, leaving nothing behind."""

from __future__ import annotations

import shutil
from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"


def test_dags_folder_has_no_import_errors(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS))
    assert bag.import_errors == {}
    assert "fargate_cluster_and_task_definition" in bag.dag_ids


def test_cluster_and_task_definition_dag_runs_and_tears_down(airflow, aws_endpoint, capfd):
    shutil.copy(DAGS / "fargate_cluster_and_task_definition.py", airflow.dags_folder)
    shutil.copytree(DAGS / "task_definitions", airflow.dags_folder / "task_definitions", dirs_exist_ok=True)
    result = airflow.run("fargate_cluster_and_task_definition", capfd, run_conf={"cluster_name": "example"})
    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}
    found = result.xcom["describe_resources"]
    assert found["cluster"]["status"] == "ACTIVE" and found["cluster"]["name"] == "example"
    assert found["task_definition"]["revision"] == "sample-fargate:1"
    assert found["task_definition"]["tags"]["managed-by"] == "airflow-provider-fargate"
    # the emulator fixture fails the test if anything is left
