"""Input that can never pass fails its task at once: one FargateInputError (an AirflowFailException and a
ValueError) for every error found before an AWS call, so no retry is spent on it."""

from __future__ import annotations

import json

import pytest

from fargate_provider.exceptions import FargateInputError, TemplateFieldError, fail_fast_on_input_errors
from fargate_provider.roles import RoleError
from fargate_provider.utils.tags import TagError
from fargate_rules.input_errors import InputError
from fargate_rules.sizes import SizeError
from fargate_rules.task_definition_spec import TaskDefinitionError


def test_the_input_error_is_not_retried_and_is_still_a_value_error():
    from airflow.providers.common.compat.sdk import AirflowFailException

    assert issubclass(FargateInputError, AirflowFailException) and issubclass(FargateInputError, ValueError)
    assert issubclass(TemplateFieldError, FargateInputError)
    for pure in (TaskDefinitionError, RoleError, SizeError, TagError):
        assert issubclass(pure, InputError) and issubclass(pure, ValueError)


def test_an_input_error_from_a_pure_module_leaves_as_the_airflow_error_with_its_message():
    @fail_fast_on_input_errors
    def execute():
        raise SizeError("cpu: 3 is not allowed")

    with pytest.raises(FargateInputError, match="^cpu: 3 is not allowed$") as caught:
        execute()
    assert isinstance(caught.value.__cause__, SizeError)

    @fail_fast_on_input_errors
    def other():
        raise KeyError("not an input error")

    with pytest.raises(KeyError):  # anything else leaves as it was
        other()


def test_every_operator_and_sensor_execute_fails_fast():
    """Each operator's and sensor's execute/execute_complete/poke is wrapped (Airflow's own wrapper stays)."""
    from fargate_provider.operators import cluster, preflight, run_task, service, task_definition
    from fargate_provider.operators.base import InputErrorsFailFastMixin
    from fargate_provider.sensors import service as service_sensor
    from fargate_provider.sensors import task as task_sensor

    classes = [
        obj
        for module in (cluster, preflight, run_task, service, task_definition, service_sensor, task_sensor)
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, InputErrorsFailFastMixin) and obj.__module__ == module.__name__
    ]
    assert len(classes) >= 10
    for cls in classes:
        for name in InputErrorsFailFastMixin._FAIL_FAST_METHODS:
            if name in cls.__dict__:
                assert getattr(cls.__dict__[name], "_fails_fast", False), f"{cls.__name__}.{name}"


def test_a_bad_task_definition_fails_the_batch_run_in_one_try(user_dags, emulator, capfd, monkeypatch):
    """The batch DAG keeps its default retries (2, 120 s apart); a task definition ECS can never accept
    fails the run in its first try instead of after two more (the issue measured 4 minutes)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    from tests.emulator.helpers import client

    # Containers whose names repeat: ECS refuses the registration, whatever the retries.
    spec = user_dags.dags_folder / "task_definitions" / "batch-job.json5"
    spec.write_text(
        json.dumps(
            {
                "family": "{{ params.family }}",
                "cpu": "256",
                "memory": "512",
                "containerDefinitions": [
                    {"name": "job", "image": "busybox", "essential": True},
                    {"name": "job", "image": "busybox", "essential": True},
                ],
            }
        )
    )
    monkeypatch.setenv("AIRFLOW_VAR_FARGATE_BATCH_JOB", json.dumps({"cluster": "bad-input", "family": "bad-input"}))
    result = user_dags.run("fargate_batch_job", capfd)
    ecs = client(emulator)
    try:
        assert result.state == "failed", result.task_states
        failed = [task for task, state in result.task_states.items() if state == "failed"]
        assert failed == ["preflight"], result.task_states
        assert "up_for_retry" not in result.task_states.values()
        with create_session() as session:
            tries = {
                ti.task_id: ti.try_number
                for ti in session.query(TaskInstance).filter_by(dag_id="fargate_batch_job", run_id=result.run_id)
            }
        assert tries["preflight"] == 1
        assert "FargateInputError" in result.log and "containerDefinitions" in result.log
        assert ecs.list_task_definitions(familyPrefix="bad-input")["taskDefinitionArns"] == []
    finally:
        if ecs.describe_clusters(clusters=["bad-input"])["clusters"]:
            ecs.delete_cluster(cluster="bad-input")
