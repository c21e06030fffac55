"""The example DAG in dags/ parses and runs end to end against aws_endpoint, leaving nothing behind."""

from __future__ import annotations

import shutil
from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"


def test_dags_folder_has_no_import_errors(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS))
    assert bag.import_errors == {}
    assert {"fargate_example_service", "fargate_example_batch"} <= set(bag.dag_ids)


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


def test_example_batch_dag_runs_the_container_and_reports_cost(airflow, emulator, capfd):
    shutil.copy(DAGS / "fargate_example_batch.py", airflow.dags_folder)
    shutil.copytree(DAGS / "task_definitions", airflow.dags_folder / "task_definitions", dirs_exist_ok=True)
    result = airflow.run(
        "fargate_example_batch",
        capfd,
        run_conf={"cluster": "batch", "subnets": emulator.network["private_subnets"], "security_groups": [emulator.network["security_group"]]},
    )
    assert result.state == "success", result.task_states
    assert "[job] Hello from batch-job:1 on fargate-local" in result.log
    assert "Cost: 1 task(s), 15.0 vCPU-seconds, 30.0 GB-seconds" in result.log
