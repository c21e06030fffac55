"""The example DAG in dags/ parses and runs end to end against aws_endpoint, leaving nothing behind."""

from __future__ import annotations

import shutil
from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"


def test_dags_folder_has_no_import_errors(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS))
    assert bag.import_errors == {}
    assert "fargate_example_service" in bag.dag_ids


def test_example_service_dag_runs_and_tears_down(airflow, emulator, capfd):
    shutil.copy(DAGS / "fargate_example_service.py", airflow.dags_folder)
    shutil.copytree(DAGS / "task_definitions", airflow.dags_folder / "task_definitions", dirs_exist_ok=True)
    result = airflow.run("fargate_example_service", capfd, run_conf={
            "cluster_name": "example",
            "subnets": emulator.network["public_subnets"],
            "security_groups": [emulator.network["security_group"]],
            "desired_count": 2,
        },
    )
    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}
    found = result.xcom["describe_resources"]
    assert found["cluster"]["status"] == "ACTIVE" and found["cluster"]["name"] == "example"
    assert found["task_definition"]["revision"] == "sample-fargate:1"
    assert found["task_definition"]["tags"]["managed-by"] == "airflow-provider-fargate"
    assert found["service"] == {"name": "sample-fargate", "status": "ACTIVE", "running": "2/2", "rollout": "COMPLETED"}
    # the emulator fixture fails the test if anything is left
