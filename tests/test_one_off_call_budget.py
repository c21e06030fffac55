"""The one-off path makes no more AWS calls than the amazon provider's EcsRunTaskOperator on the
same job (issue 25): both through Airflow (dag.test) against the emulator, the same pace.

The emulator runs at 20× speed and every interval of both operators is scaled by the same
factor, so the calls are those of a 20-s job printing 5 lines at real pace (see
``benchmarks/one_off_task.py`` for the real-pace figures)."""

from __future__ import annotations

import time
from collections import Counter

from tests.emulator.helpers import client, register

SPEED = 20.0
POLL = 6 / SPEED  # both operators' default: 6 s between DescribeTasks

OURS = f"""
from airflow.sdk import DAG
from fargate_provider.operators.run_task import FargateRunTaskOperator
with DAG(DAG_ID, schedule=None, params={{"subnets": [], "groups": []}}, render_template_as_native_obj=True):
    FargateRunTaskOperator(
        task_id="run", cluster="c", task_definition="job",
        subnets="{{{{ params.subnets }}}}", security_groups="{{{{ params.groups }}}}", deferrable=False,
        poll_interval={POLL}, log_interval={15 / SPEED},
    )
"""

ANCHOR = f"""
from datetime import timedelta
from airflow.sdk import DAG
from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator
with DAG(DAG_ID, schedule=None, params={{"subnets": [], "groups": []}}, render_template_as_native_obj=True):
    EcsRunTaskOperator(
        task_id="run", cluster="c", task_definition="job", overrides={{}}, launch_type="FARGATE",
        network_configuration={{"awsvpcConfiguration": {{
            "subnets": "{{{{ params.subnets }}}}", "securityGroups": "{{{{ params.groups }}}}"}}}},
        awslogs_group="/ecs/job", awslogs_region="us-east-1", awslogs_stream_prefix="ecs/app",
        awslogs_fetch_interval=timedelta(seconds={30 / SPEED}), waiter_delay={POLL}, deferrable=False,
    )
"""


def calls_of(airflow, emulator, capfd, source: str) -> tuple[str, Counter[str], str]:
    conf = {"subnets": emulator.network["private_subnets"], "groups": [emulator.network["security_group"]]}
    before = Counter(emulator.actions)
    result = airflow.run(airflow.write_dag(source), capfd, run_conf=conf)
    calls = Counter(emulator.actions)
    calls.subtract(before)
    return result.task_states["run"], +calls, result.log


def test_a_one_off_task_waited_in_the_worker_makes_no_more_calls_than_the_amazon_operator(
    airflow, emulator, ecs, capfd, monkeypatch
):
    from airflow.providers.amazon.aws.operators import ecs as amazon_ecs

    # its fixed 10-s wait for the container's name after RunTask, at the same pace as the rest
    monkeypatch.setattr(amazon_ecs, "sleep", lambda seconds: time.sleep(seconds / SPEED))
    emulator.set_timing(speed=SPEED)
    emulator.add_behaviour(family="job", run_seconds=20, output_lines=5)
    logs = client(emulator, "logs")
    logs.create_log_group(logGroupName="/ecs/job")
    try:
        register(ecs, logs_group="/ecs/job")
        ours_state, ours, ours_log = calls_of(airflow, emulator, capfd, OURS)
        anchor_state, anchor, anchor_log = calls_of(airflow, emulator, capfd, ANCHOR)
    finally:
        logs.delete_log_group(logGroupName="/ecs/job")
    assert (ours_state, anchor_state) == ("success", "success"), ours_log[-2000:]
    for log in (ours_log, anchor_log):
        assert all(f"line {i} of 5 from app" in log for i in range(1, 6))

    def total(calls: Counter[str], service: str) -> int:
        return sum(n for action, n in calls.items() if action.startswith(service + ":"))

    assert total(ours, "ecs") <= total(anchor, "ecs"), (ours, anchor)
    assert total(ours, "logs") <= total(anchor, "logs"), (ours, anchor)
    assert ours["ecs:ListTasks"] == 0  # a first try: RunTask's clientToken is the exactly-once guard
