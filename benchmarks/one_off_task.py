"""Benchmark: one one-off task waited in the worker, this provider against the amazon provider.

    .venv/bin/python benchmarks/one_off_task.py [--speed 1] [--rounds 1]

The same job (Fargate, awslogs; the container runs 20 emulated seconds and prints 5 lines) is
run through Airflow (``dag.test()``, a fresh SQLite metadata DB in a temporary AIRFLOW_HOME)
against the local ECS emulator, by each operator with its defaults, non-deferrable:

* ``fargate``: ``FargateRunTaskOperator(deferrable=False)`` (DescribeTasks every 6 s, the first
  one 6 s after RunTask; a running task's log read every 15 s, one page; the rest after STOPPED);
* ``amazon``: ``EcsRunTaskOperator(deferrable=False, wait_for_completion=True)`` (the
  ``tasks_stopped`` waiter every 6 s, a log fetcher thread every 30 s).

Both wait by polling, so either sees STOPPED up to a poll interval late, depending on where the
stop falls between its polls. So that this phase luck does not decide the comparison, each
round runs the job at four lengths spread over one poll interval (20, 21.5, 23 and 24.5 s),
each operator in turn (the order alternating), after one unmeasured warm-up run of each.

Per run: wall time of ``dag.test()``, the ECS and CloudWatch Logs calls the emulator answered
(``LocalEcs.actions``), and how many of the 5 lines reached the task log. Printed: the mean wall
time over the lengths, per operator, their ratio, and the calls of the 20-s run. ``--speed``:
the emulator's pace (1: realistic: provisioning 5 s, pending 10 s, stopping 5 s).

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

GROUP, LINES = "/ecs/bench", 5
LENGTHS = (20.0, 21.5, 23.0, 24.5)  # one poll interval (6 s) of stop times, in 1.5-s steps
WARM_UP = 1.0
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"  # the emulator's ready-made role

DAGS = {
    "fargate": """
from airflow.sdk import DAG
from fargate_provider.operators.run_task import FargateRunTaskOperator
with DAG(DAG_ID, schedule=None):
    FargateRunTaskOperator(
        task_id="run", cluster="bench", task_definition="FAMILY",
        subnets=SUBNETS, security_groups=GROUPS, deferrable=False,
    )
""",
    "amazon": """
from airflow.sdk import DAG
from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator
with DAG(DAG_ID, schedule=None):
    EcsRunTaskOperator(
        task_id="run", cluster="bench", task_definition="FAMILY", overrides={}, launch_type="FARGATE",
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
    for seconds in (WARM_UP, *LENGTHS):
        register(ecs, family_of(seconds))
        emulator.add_behaviour(family=family_of(seconds), run_seconds=seconds, output_lines=LINES)


def family_of(seconds: float) -> str:
    return f"bench-{seconds:g}".replace(".", "-")


def register(ecs, family: str) -> None:
    ecs.register_task_definition(
        family=family,
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


def run_once(kind: str, emulator, seconds: float) -> dict[str, object]:
    from airflow.dag_processing.dagbag import DagBag

    dag_id = f"bench_{kind}_{time.monotonic_ns()}"
    source = (
        DAGS[kind].replace("FAMILY", family_of(seconds)).replace("SUBNETS", repr(emulator.network["private_subnets"]))
    )
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
    if os.environ.get("BENCH_KEEP_LOGS"):
        Path(os.environ["BENCH_KEEP_LOGS"], f"{kind}.log").write_text(log)
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
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the four job lengths")
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
        for kind in DAGS:
            run_once(kind, emulator, WARM_UP)  # imports, clients, first DagBag: not measured
        results: dict[str, list[dict[str, object]]] = {kind: [] for kind in DAGS}
        order = list(DAGS)
        for _ in range(args.rounds):
            for seconds in LENGTHS:
                for kind in order:
                    results[kind].append({**run_once(kind, emulator, seconds), "seconds": seconds})
                order.reverse()

    print(
        f"One one-off Fargate task ({'/'.join(f'{s:g}' for s in LENGTHS)} s, {LINES} log lines) waited "
        f"in the worker, emulator speed {args.speed:g}, {args.rounds} round(s):"
    )
    means = {}
    for kind, runs in results.items():
        walls = [float(r["wall"]) for r in runs]  # type: ignore[arg-type]
        means[kind] = statistics.mean(walls)
        first = runs[0]
        ecs, logs = first["ecs"], first["logs"]
        assert isinstance(ecs, dict) and isinstance(logs, dict)
        print(
            f"  {kind:8s} states {sorted({str(r['state']) for r in runs})}; wall mean {means[kind]:.1f} s "
            f"(per length {', '.join(f'{w:.1f}' for w in walls)}); "
            f"20-s run: ECS calls {sum(ecs.values())} {ecs}; Logs calls {sum(logs.values())} {logs}; "
            f"lines in the task log {min(int(r['lines']) for r in runs)}/{LINES}"  # type: ignore[call-overload]
        )
    print(f"  wall time fargate / amazon: {means['fargate'] / means['amazon']:.2f}")


if __name__ == "__main__":
    main()
