"""Register/deregister task definitions through Airflow (dag.test, real metadata DB) against the local emulator."""

from __future__ import annotations

import textwrap

from tests.helpers.aws import ecs

TASK_DEFINITION_FILE = """
// as people write them: comments, trailing commas, Jinja
{
  "family": "web-{{ params.suffix }}",
  "cpu": "{{ params.cpu }}",
  "memory": "{{ params.memory }}",
  "containerDefinitions": [
    {
      "name": "app",
      "image": "{{ params.image }}",
      "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"},],
      "environment": [{"name": "RUN_ID", "value": "{{ run_id }}"},],
      "secrets": [
        {"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"},
      ],
    },
  ],
  "tags": [{"key": "from-file", "value": "yes"}],
}
"""

REGISTER_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.task_definition import FargateRegisterTaskDefinitionOperator
with DAG(DAG_ID, schedule=None, params={"image": "nginx:1.27", "suffix": "a", "cpu": "256", "memory": "512"}):
    FargateRegisterTaskDefinitionOperator(
        task_id="register",
        task_definition="task_definitions/web.json5",
        execution_role_arn="ecsTaskExecutionRole",  # ECS needs one for secrets
        tags={"team": "data"},
    )
"""

DEREGISTER_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.task_definition import FargateDeregisterTaskDefinitionOperator
with DAG(DAG_ID, schedule=None, params={"target": "web-a", "keep": 0, "delete": False}):
    FargateDeregisterTaskDefinitionOperator(
        task_id="deregister",
        task_definition="{{ params.target }}",
        keep_latest="{{ params.keep }}",
        delete={delete},
    )
"""


def write_task_definition(airflow):
    folder = airflow.dags_folder / "task_definitions"
    folder.mkdir(exist_ok=True)
    (folder / "web.json5").write_text(textwrap.dedent(TASK_DEFINITION_FILE))


def active_revisions(endpoint, family):
    return ecs(endpoint).list_task_definitions(familyPrefix=family, status="ACTIVE")["taskDefinitionArns"]


def cleanup(airflow, capfd, family):
    dag_id = airflow.write_dag(DEREGISTER_DAG.replace("{delete}", "True"))
    result = airflow.run(dag_id, capfd, run_conf={"target": family, "keep": 0})
    assert result.state == "success"


def test_register_from_templated_json5_file(airflow, aws_endpoint, capfd):
    write_task_definition(airflow)
    dag_id = airflow.write_dag(REGISTER_DAG)
    result = airflow.run(dag_id, capfd)

    assert result.task_states == {"register": "success"}
    arn = result.xcom["register"]
    assert arn.endswith("task-definition/web-a:1")
    described = ecs(aws_endpoint).describe_task_definition(taskDefinition=arn, include=["TAGS"])
    task_def = described["taskDefinition"]
    assert task_def["networkMode"] == "awsvpc" and task_def["requiresCompatibilities"] == ["FARGATE"]
    container = task_def["containerDefinitions"][0]
    assert container["image"] == "nginx:1.27"
    assert container["environment"] == [{"name": "RUN_ID", "value": result.run_id}]
    tags = {t["key"]: t["value"] for t in described["tags"]}
    assert tags == {
        "from-file": "yes",
        "team": "data",
        "managed-by": "airflow-provider-fargate",
        "airflow-dag-id": dag_id,
        "airflow-run-id": result.run_id,
    }
    assert "Registered task definition web-a:1" in result.log
    cleanup(airflow, capfd, "web-a")


def test_templated_run_id_makes_each_run_a_new_revision(airflow, aws_endpoint, capfd):
    # The file puts {{ run_id }} in the container's environment, so each run's spec differs.
    write_task_definition(airflow)
    dag_id = airflow.write_dag(REGISTER_DAG)
    first = airflow.run(dag_id, capfd)
    second = airflow.run(dag_id, capfd)
    assert first.xcom["register"].endswith(":1") and second.xcom["register"].endswith(":2")
    assert "differs from revision 1; registering a new revision" in second.log
    cleanup(airflow, capfd, "web-a")


def test_unchanged_spec_is_reused_across_runs(airflow, aws_endpoint, capfd):
    folder = airflow.dags_folder / "task_definitions"
    folder.mkdir(exist_ok=True)
    (folder / "stable.json5").write_text(
        '{"family": "stable", cpu: "1 vCPU", memory: "2 GB", containerDefinitions: '
        '[{name: "app", image: "{{ params.image }}", portMappings: [{containerPort: 8080}], '
        'environment: [{name: "B", value: "2"}, {name: "A", value: "1"}]}]}'
    )
    dag_id = airflow.write_dag(
        """
        from airflow.sdk import DAG
        from fargate_provider.operators.task_definition import FargateRegisterTaskDefinitionOperator
        with DAG(DAG_ID, schedule=None, params={"image": "busybox:1"}):
            FargateRegisterTaskDefinitionOperator(task_id="register", task_definition="task_definitions/stable.json5")
        """
    )
    first = airflow.run(dag_id, capfd)
    second = airflow.run(dag_id, capfd)
    assert first.xcom["register"] == second.xcom["register"]
    assert first.xcom["register"].endswith("task-definition/stable:1")
    assert "Task definition stable:1 is unchanged; not registering a new revision" in second.log
    assert len(active_revisions(aws_endpoint, "stable")) == 1

    changed = airflow.run(dag_id, capfd, run_conf={"image": "busybox:2"})
    assert changed.xcom["register"].endswith("task-definition/stable:2")
    assert len(active_revisions(aws_endpoint, "stable")) == 2
    cleanup(airflow, capfd, "stable")
    assert active_revisions(aws_endpoint, "stable") == []


def test_skip_if_unchanged_false_always_registers(airflow, aws_endpoint, capfd):
    dag_id = airflow.write_operator_dag(
        "fargate_provider.operators.task_definition.FargateRegisterTaskDefinitionOperator",
        'task_definition={"family": "always", "cpu": "256", "memory": "512", '
        '"containerDefinitions": [{"name": "app", "image": "busybox"}]}, skip_if_unchanged=False',
    )
    airflow.run(dag_id, capfd)
    second = airflow.run(dag_id, capfd)
    assert second.xcom["task"].endswith("always:2")
    cleanup(airflow, capfd, "always")


def test_deregister_keep_latest_then_delete_then_already_gone(airflow, aws_endpoint, capfd):
    client = ecs(aws_endpoint)
    for image in ("a", "b", "c"):
        client.register_task_definition(
            family="old",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "app", "image": image}],
        )
    keep = airflow.write_dag(DEREGISTER_DAG.replace("{delete}", "False"))
    result = airflow.run(keep, capfd, run_conf={"target": "old", "keep": 1})
    assert result.state == "success"
    assert [arn.rsplit(":", 1)[1] for arn in result.xcom["deregister"]] == ["1", "2"]
    assert [arn.rsplit(":", 1)[1] for arn in active_revisions(aws_endpoint, "old")] == ["3"]
    assert "Family old has 3 ACTIVE revision(s); deregistering 2, keeping [3]" in result.log

    # one revision by family:revision, deleted as well
    delete = airflow.write_dag(DEREGISTER_DAG.replace("{delete}", "True"))
    result = airflow.run(delete, capfd, run_conf={"target": "old:3"})
    assert result.state == "success" and result.xcom["deregister"][0].endswith("old:3")
    assert active_revisions(aws_endpoint, "old") == []
    inactive = client.list_task_definitions(familyPrefix="old", status="INACTIVE")["taskDefinitionArns"]
    assert inactive == [arn.replace("old:3", f"old:{n}") for arn in result.xcom["deregister"] for n in (1, 2)]

    # already gone: success, and the log says so
    again = airflow.run(delete, capfd, run_conf={"target": "old:3"})
    assert again.state == "success" and again.xcom["deregister"] == []
    assert "old:3 is already INACTIVE or gone; nothing to deregister" in again.log

    # an INACTIVE revision named with delete=True is deleted (finishing an earlier try's job)
    result = airflow.run(delete, capfd, run_conf={"target": "old:1"})
    assert result.state == "success" and result.xcom["deregister"] == []
    assert "Deleted 1 task definition revision(s)" in result.log
    remaining = client.list_task_definitions(familyPrefix="old", status="INACTIVE")["taskDefinitionArns"]
    assert [arn.rsplit(":", 1)[1] for arn in remaining] == ["2"]
