"""A deferred wait whose trigger event is lost (the worker or triggerer died; the try resumes with
``next_method`` set and no event) follows the ECS task or service again: no TypeError, nothing
started twice. Simulated in ``dag.test()`` by losing the first trigger's event."""

from __future__ import annotations

import pytest

RUN_TASK_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.run_task import FargateRunTaskOperator
with DAG(DAG_ID, schedule=None):
    FargateRunTaskOperator(task_id="task", cluster="c", task_definition="job", subnets={subnets!r},
                           security_groups={groups!r}, deferrable=True, poll_interval=0.2)
"""

SERVICE_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.service import FargateCreateServiceOperator
with DAG(DAG_ID, schedule=None):
    FargateCreateServiceOperator(task_id="task", cluster="c", service_name="web", task_definition="job",
                                 desired_count=2, subnets={subnets!r}, security_groups={groups!r}, deferrable=True,
                                 poll_interval=0.2)
"""


@pytest.fixture
def lose_first_event(monkeypatch):
    """Each task's first trigger event never reaches it; later ones do."""
    from airflow.sdk.definitions import dag as dag_module

    real = dag_module._run_inline_trigger
    lost = []

    def run_inline_trigger(trigger, ti):
        if ti.task_id not in lost:
            lost.append(ti.task_id)
            return None
        return real(trigger, ti)

    monkeypatch.setattr(dag_module, "_run_inline_trigger", run_inline_trigger)
    return lost


@pytest.mark.parametrize("dag, operation", [(RUN_TASK_DAG, "RunTask"), (SERVICE_DAG, "CreateService")])
def test_resumed_without_event_follows_what_was_started(
    airflow, ecs, emulator, capfd, lose_first_event, dag, operation
):
    from tests.emulator.helpers import register

    register(ecs)
    dag_id = airflow.write_dag(
        dag.format(subnets=emulator.network["private_subnets"], groups=[emulator.network["security_group"]])
    )
    result = airflow.run(dag_id, capfd)
    assert lose_first_event, "no trigger ran"
    assert result.state == "success", result.log[-3000:]
    assert "Resumed without the trigger's event (it was lost)" in result.log
    assert emulator.calls[operation] == 1  # followed, not started again
    if operation == "CreateService":
        service = ecs.describe_services(cluster="c", services=["web"])["services"][0]
        assert (service["runningCount"], service["desiredCount"]) == (2, 2)


SERVICE_LIFECYCLE_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.run_task import FargateRunTaskOperator
from fargate_provider.operators.service import (
    FargateCreateServiceOperator, FargateDeleteServiceOperator, FargateUpdateServiceOperator)
from fargate_provider.sensors.service import FargateServiceStableSensor
from fargate_provider.sensors.task import FargateTaskStateSensor
NET = dict(subnets={subnets!r}, security_groups={groups!r})
with DAG(DAG_ID, schedule=None):
    create = FargateCreateServiceOperator(task_id="create", cluster="c", service_name="web", task_definition="job",
                                          deferrable=False, poll_interval=0.2, **NET)
    update = FargateUpdateServiceOperator(task_id="update", cluster="c", service="web", desired_count=2,
                                          force_new_deployment=True, deferrable=True, poll_interval=0.2)
    stable = FargateServiceStableSensor(task_id="stable", cluster="c", services="web", deferrable=True,
                                        poll_interval=0.2)
    run = FargateRunTaskOperator(task_id="run", cluster="c", task_definition="job", wait_for_completion=False, **NET)
    stopped = FargateTaskStateSensor(task_id="stopped", cluster="c", tasks=run.output, deferrable=True,
                                     poll_interval=0.2)
    delete = FargateDeleteServiceOperator(task_id="delete", cluster="c", service="web", deferrable=True,
                                          poll_interval=0.2)
    create >> update >> stable >> run >> stopped >> delete
"""


def test_every_deferrable_operator_and_sensor_resumes_without_event(airflow, ecs, emulator, capfd, lose_first_event):
    from tests.emulator.helpers import register

    register(ecs)
    dag_id = airflow.write_dag(
        SERVICE_LIFECYCLE_DAG.format(
            subnets=emulator.network["private_subnets"], groups=[emulator.network["security_group"]]
        )
    )
    result = airflow.run(dag_id, capfd)
    assert result.state == "success", result.log[-3000:]
    assert sorted(lose_first_event) == ["delete", "stable", "stopped", "update"]
    assert result.log.count("Resumed without the trigger's event (it was lost)") == 4
    assert emulator.calls["UpdateService"] == 2  # the update itself and delete's scale-to-0: no second deployment
    assert len(ecs.describe_services(cluster="c", services=["web"])["services"][0]["deployments"]) <= 1
