"""A planted secret stays out of logs, XCom and rendered fields of a full run: the environment
form's variables travel in no XCom and never reach a log; values whose names look secret
(Airflow's sensitive-name rules) are *** in rendered fields, as are run-task overrides'."""

from __future__ import annotations

PLANTED = "planted-s3cret-8f2c"
PLAIN = "plain-value-51d0"


def _everything_stored(run_id: str) -> str:
    """Every XCom value and rendered field of the run, as text."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = [repr(XComModel.deserialize_value(row)) for row in session.query(XComModel).filter_by(run_id=run_id)]
        rendered = [
            repr(row.rendered_fields) for row in session.query(RenderedTaskInstanceFields).filter_by(run_id=run_id)
        ]
    return "\n".join(xcoms + rendered)


def test_environment_variables_stay_out_of_logs_xcom_and_rendered_fields(user_dags, emulator, capfd, caplog):
    from tests.emulator.helpers import client

    conf = {
        "environment": "hush",
        "desired_count": 1,
        "environment_variables": {"API_KEY": PLANTED, "LOG_LEVEL": PLAIN},
    }
    created = user_dags.run("fargate_ephemeral_environment", capfd, run_conf=conf)
    assert created.state == "success", created.log[-3000:]
    stored = _everything_stored(created.run_id)
    logs = created.log + caplog.text
    assert PLANTED not in logs and PLANTED not in stored
    assert PLAIN not in logs  # the form's variables never reach a log, secret-looking or not
    assert "***" in stored  # the rendered task definition shows the secret-looking value masked
    # It did reach ECS: the container gets its variable.
    environment = client(emulator).describe_task_definition(taskDefinition="env-hush:1")["taskDefinition"][
        "containerDefinitions"
    ][0]["environment"]
    assert {"name": "API_KEY", "value": PLANTED} in environment
    assert (
        user_dags.run(
            "fargate_ephemeral_environment", capfd, run_conf={"environment": "hush", "action": "destroy"}
        ).state
        == "success"
    )


OVERRIDES_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.run_task import FargateRunTaskOperator
with DAG(DAG_ID, schedule=None):
    FargateRunTaskOperator(task_id="task", cluster="c", task_definition="job", subnets={subnets!r},
                           security_groups={groups!r}, deferrable=False, poll_interval=0.2,
                           overrides={{"containerOverrides": [{{"name": "app", "environment": [
                               {{"name": "DB_PASSWORD", "value": {planted!r}}}]}}]}})
"""


def test_run_task_override_values_are_masked_in_rendered_fields(airflow, ecs, emulator, capfd, caplog):
    from tests.emulator.helpers import register

    register(ecs)
    dag_id = airflow.write_dag(
        OVERRIDES_DAG.format(
            subnets=emulator.network["private_subnets"], groups=[emulator.network["security_group"]], planted=PLANTED
        )
    )
    result = airflow.run(dag_id, capfd)
    assert result.state == "success", result.log[-3000:]
    stored = _everything_stored(result.run_id)
    assert PLANTED not in stored and "***" in stored
    assert PLANTED not in result.log + caplog.text
