"""Benchmark: one one-off task waited in the worker, this provider against the amazon provider.

    .venv/bin/python benchmarks/one_off_task.py [--speed 1] [--runs 1]

The same job (Fargate, awslogs; the container runs 20 emulated seconds and prints 5 lines) is
run through Airflow (``dag.test()``, a fresh SQLite metadata DB in a temporary AIRFLOW_HOME)
against the local ECS emulator, once by each operator with its defaults, non-deferrable:

* ``fargate``: ``FargateRunTaskOperator(deferrable=False)`` (polls every 6 s, reads the logs
  after each poll and once more after STOPPED);
* ``amazon``: ``EcsRunTaskOperator(deferrable=False, wait_for_completion=True)`` (the
  ``tasks_stopped`` waiter every 6 s, a log fetcher thread every 30 s).

Per run: wall time of ``dag.test()``, the ECS and CloudWatch Logs calls the emulator answered
(``LocalEcs.actions``), and how many of the 5 lines reached the task log. ``--speed``: the
emulator's pace (1: realistic, the job takes 20 s plus provisioning, pending and stopping).

Prints figures; asserts nothing (that is the tests' job).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOME = Path(tempfile.mkdtemp(prefix="fargate-bench-airflow-"))
(HOME / "dags").mkdir()
os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(HOME / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
        "AIRFLOW__FARGATE__RESUME_NOT_BEFORE_SECONDS": "0",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
)
for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(var, None)

FAMILY, GROUP, LINES, RUN_SECONDS = "bench", "/ecs/bench", 5, 20.0
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"  # the emulator's ready-made role

DAGS = {
    "fargate": """
from airflow.sdk import DAG
from fargate_provider.operators.run_task import FargateRunTaskOperator
with DAG(DAG_ID, schedule=None):
    FargateRunTaskOperator(
        task_id="run", cluster="bench", task_definition="bench",
        subnets=SUBNETS, security_groups=GROUPS, deferrable=False,
    )
""",
    "amazon": """
from airflow.sdk import DAG
from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator
with DAG(DAG_ID, schedule=None):
    EcsRunTaskOperator(
        task_id="run", cluster="bench", task_definition="bench", overrides={}, launch_type="FARGATE",
        network_configuration={"awsvpcConfiguration": {"subnets": SUBNETS, "securityGroups": GROUPS}},
        awslogs_group="/ecs/bench", awslogs_region="us-east-1", awslogs_stream_prefix="ecs/app",
        deferrable=False,
    )
""",
}


def setup(emulator) -> None:
    import boto3

    ecs = boto3.client("ecs", endpoint_url=emulator.endpoint, region_name="us-east-1")
    logs = boto3.client("logs", endpoint_url=emulator.endpoint, region_name="us-east-1")
    ecs.create_cluster(clusterName="bench")
    logs.create_log_group(logGroupName=GROUP)
    ecs.register_task_definition(
        family=FAMILY,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        executionRoleArn=EXECUTION_ROLE,
        containerDefinitions=[
            {
                "name": "app",
                "image": "busybox:1.36",
                "essential": True,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": GROUP,
                        "awslogs-region": "us-east-1",
                        "awslogs-stream-prefix": "ecs",
                    },
                },
            }
        ],
    )
    emulator.add_behaviour(family=FAMILY, run_seconds=RUN_SECONDS, output_lines=LINES)


def run_once(kind: str, emulator) -> dict[str, object]:
    from airflow.dag_processing.dagbag import DagBag

    dag_id = f"bench_{kind}_{time.monotonic_ns()}"
    source = DAGS[kind].replace("SUBNETS", repr(emulator.network["private_subnets"]))
    source = source.replace("GROUPS", repr([emulator.network["security_group"]]))
    path = HOME / "dags" / f"{dag_id}.py"
    path.write_text(f"DAG_ID = {dag_id!r}\n{source}")
    bag = DagBag(str(path))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)

    before = Counter(emulator.actions)
    out = tempfile.TemporaryFile(mode="w+b")
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(out.fileno(), 1)  # the task log goes to stdout; kept aside to count the lines
    try:
        started = time.monotonic()
        dag_run = dag.test()
        wall = time.monotonic() - started
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    out.seek(0)
    log = out.read().decode(errors="replace")
    calls = Counter(emulator.actions)
    calls.subtract(before)
    seen = {int(m) for m in re.findall(rf"line (\d) of {LINES} from app", log)}
    return {
        "state": str(getattr(dag_run.state, "value", dag_run.state)),
        "wall": wall,
        "ecs": {a.split(":", 1)[1]: n for a, n in sorted(calls.items()) if a.startswith("ecs:") and n},
        "logs": {a.split(":", 1)[1]: n for a, n in sorted(calls.items()) if a.startswith("logs:") and n},
        "lines": len(seen),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speed", type=float, default=1.0, help="the emulator's pace (1: realistic)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each operator")
    args = parser.parse_args()

    from airflow.utils import db

    from fargate_local.server import LocalEcs

    db.resetdb(skip_init=False)
    with LocalEcs(port=0, speed=args.speed) as emulator:
        os.environ["AWS_ENDPOINT_URL"] = emulator.endpoint
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
            {"conn_type": "aws", "extra": {"endpoint_url": emulator.endpoint, "region_name": "us-east-1"}}
        )
        setup(emulator)
        results: dict[str, list[dict[str, object]]] = {kind: [] for kind in DAGS}
        for _ in range(args.runs):
            for kind in DAGS:
                results[kind].append(run_once(kind, emulator))

    print(
        f"One one-off Fargate task ({RUN_SECONDS:g} s, {LINES} log lines) waited in the worker, "
        f"emulator speed {args.speed:g}, {args.runs} run(s) each:"
    )
    for kind, runs in results.items():
        walls = [float(r["wall"]) for r in runs]  # type: ignore[arg-type]
        last = runs[-1]
        ecs, logs = last["ecs"], last["logs"]
        assert isinstance(ecs, dict) and isinstance(logs, dict)
        print(
            f"  {kind:8s} state {last['state']}; wall median {statistics.median(walls):.1f} s "
            f"(min {min(walls):.1f}, max {max(walls):.1f}); "
            f"ECS calls {sum(ecs.values())} {ecs}; Logs calls {sum(logs.values())} {logs}; "
            f"lines in the task log {last['lines']}/{LINES}"
        )


if __name__ == "__main__":
    main()
