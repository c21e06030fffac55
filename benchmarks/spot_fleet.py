"""Benchmark: a 200-shard fan-out on Fargate Spot with interruptions, a Spot shortage and a vCPU quota.

    .venv/bin/python benchmarks/spot_fleet.py [--shards 200] [--speed 1] [--job 60] [--quota 40]

Against the local ECS emulator (in this process): the account's Fargate Spot and On-Demand vCPU
quotas are ``--quota`` vCPUs each (two separate quotas, as in ECS), Fargate Spot has no capacity
for the first 30 emulated seconds, and 20 % of the Spot tasks are interrupted (SpotInterruption)
30 emulated seconds after they reach RUNNING. Each shard is a 1-vCPU, 2-GB task (a quota of 40 holds
40 at once) whose container runs ``--job`` emulated seconds (no awslogs).

Each shard is one ``FargateRunTaskOperator(capacity="spot_then_on_demand")`` with its defaults
(poll 6 s, spot_wait 120 s, one Spot re-run after an interruption, launch backoff capped at 30 s or ``--max-delay``;
divided by ``--speed``), its ``execute`` called as Airflow's worker calls it, all shards at once,
one thread each (as 200 worker slots would run the mapped tasks of ``fargate_batch_fanout``): a
shard whose ``execute`` raises is run again as an Airflow retry (try_number + 1) and counted.

Printed:
* completion: shards done; Airflow tries spent beyond the first (the goal: 0 on infrastructure);
* duplicates: for each shard, ECS tasks that ran at the same time (from DescribeTasks'
  createdAt/stoppedAt per startedBy; the goal: 0);
* wall time against the quota's lower bound: the Spot shortage plus ceil(shards / tasks the
  quota holds at once) × how long one task holds its vCPUs (RunTask to STOPPED, measured alone);
* cost against all-on-demand: the summed cost XComs (each attempt at the rates of the capacity it
  ran on, interrupted ones included) against the same shards run once each on-demand;
* ECS calls by operation, and RunTask refusals by reason.

Prints figures; asserts nothing (that is the tests' job).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AIRFLOW_HOME": tempfile.mkdtemp(prefix="fargate-bench-fleet-"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
)
for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(var, None)

VCPU, CPU, MEMORY = 1.0, "1024", "2048"
SPOT_MISSING, INTERRUPTION_RATE, INTERRUPT_AFTER = 30.0, 0.2, 30.0
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"


class TaskInstance:
    """What the operator reads of Airflow's task instance (identity, try, start) and writes (XCom)."""

    def __init__(self, shard: int, try_number: int):
        self.dag_id, self.run_id, self.task_id, self.map_index = "fargate_batch_fanout", "bench", "run_shard", shard
        self.try_number, self.start_date = try_number, dt.datetime.now(dt.UTC)
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def shard_operator(shard: int, args, subnets, groups):
    from fargate_provider.operators.run_task import FargateRunTaskOperator

    return FargateRunTaskOperator(
        task_id="run_shard",
        cluster="fleet",
        task_definition="shard",
        subnets=subnets,
        security_groups=groups,
        capacity="spot_then_on_demand",
        deferrable=False,
        logs=False,
        poll_interval=6 / args.speed,
        spot_wait=120 / args.speed,
        launch_retry_max_delay=args.max_delay / args.speed,
        launch_timeout=3600,
        overrides={"containerOverrides": [{"name": "job", "environment": [{"name": "SHARD", "value": str(shard)}]}]},
    )


def run_shard(shard: int, args, subnets, groups, start: threading.Barrier, results: dict[int, dict[str, Any]]) -> None:
    """One shard as Airflow runs a mapped task: execute, and again as a retry when it raised. Its
    AWS client is made before the start (a worker's process start-up is not measured)."""
    tries, errors = 0, []
    operator = shard_operator(shard, args, subnets, groups)
    operator.hook.conn  # noqa: B018 (made now, outside the measured time)
    start.wait()
    while True:
        tries += 1
        ti = TaskInstance(shard, tries)
        try:
            operator.execute({"ti": ti, "task_instance": ti})
            results[shard] = {"tries": tries, "cost": ti.xcom.get("cost"), "errors": errors}
            return
        except Exception as error:  # an Airflow retry would follow
            errors.append(f"{type(error).__name__}: {error}"[:300])
            if tries >= 3:
                results[shard] = {"tries": tries, "cost": ti.xcom.get("cost"), "errors": errors}
                return
            operator = shard_operator(shard, args, subnets, groups)


def one_task_alone(ecs, emulator, subnets, groups) -> tuple[float, dict[str, Any]]:
    """Seconds (emulated) one task holds its vCPUs alone (RunTask to STOPPED), and the task as
    DescribeTasks answers once it STOPPED."""
    started = time.monotonic()
    arn = ecs.run_task(
        cluster="fleet",
        taskDefinition="shard",
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": groups}},
    )["tasks"][0]["taskArn"]
    while (task := ecs.describe_tasks(cluster="fleet", tasks=[arn])["tasks"][0])["lastStatus"] != "STOPPED":
        time.sleep(0.05)
    return (time.monotonic() - started) * emulator.behaviours.timing.speed, task


def timeline(by_shard: dict[str, list[dict[str, Any]]], started_at: float, speed: float) -> str:
    """When the shards' first tasks were created (percentiles) and when the last one stopped."""

    def at(value: Any) -> float:
        return (value.timestamp() - started_at) * speed

    firsts = sorted(at(tasks[0]["createdAt"]) for tasks in by_shard.values())
    if not firsts:
        return "no tasks"
    last = max(at(t["stoppedAt"]) for tasks in by_shard.values() for t in tasks)

    def pct(q: float) -> float:
        return firsts[min(int(q * len(firsts)), len(firsts) - 1)]

    return (
        f"first task of a shard created: p10 {pct(0.1):.0f}, p50 {pct(0.5):.0f}, p80 {pct(0.8):.0f}, "
        f"p90 {pct(0.9):.0f}, max {firsts[-1]:.0f}; last task stopped {last:.0f}"
    )


def utilization(by_shard: dict[str, list[dict[str, Any]]], started_at: float, speed: float, quota_tasks: int) -> str:
    """How full the quota was: the share of the run's task-slots in use, in 30-s windows."""
    spans = [
        ((t["createdAt"].timestamp() - started_at) * speed, (t["stoppedAt"].timestamp() - started_at) * speed)
        for tasks in by_shard.values()
        for t in tasks
    ]
    if not spans:
        return "no tasks"
    end = max(stop for _, stop in spans)
    windows = []
    for begin in range(0, int(end), 30):
        held = sum(max(0.0, min(stop, begin + 30) - max(start, begin)) for start, stop in spans)
        windows.append(f"{held / (30 * quota_tasks):.0%}")
    return " ".join(windows)


def overlaps(tasks: list[dict[str, Any]]) -> int:
    """Pairs of one shard's tasks that ran at the same time."""
    found = 0
    for a, b in zip(tasks, tasks[1:], strict=False):
        if b["createdAt"] < a["stoppedAt"]:
            found += 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=200)
    parser.add_argument("--speed", type=float, default=1.0, help="the emulator's pace (1: realistic)")
    parser.add_argument("--job", type=float, default=60.0, help="emulated seconds each shard's container runs")
    parser.add_argument("--quota", type=float, default=40.0, help="vCPUs of each of the two Fargate quotas")
    parser.add_argument("--max-delay", type=float, default=30.0, help="the operators' launch_retry_max_delay")
    args = parser.parse_args()

    import boto3

    from fargate_local.server import LocalEcs
    from fargate_provider.utils.pricing import task_cost

    log_path = Path(os.environ["AIRFLOW_HOME"]) / "operators.log"
    logging.basicConfig(filename=log_path, level=logging.INFO)
    sys.stdout.flush()
    saved_stdout = os.dup(1)
    log_file = open(log_path, "ab")
    os.dup2(log_file.fileno(), 1)
    with LocalEcs(port=0, speed=args.speed) as emulator:
        os.environ["AWS_ENDPOINT_URL"] = emulator.endpoint
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
            {"conn_type": "aws", "extra": {"endpoint_url": emulator.endpoint, "region_name": "us-east-1"}}
        )
        ecs = boto3.client("ecs", endpoint_url=emulator.endpoint, region_name="us-east-1")
        ecs.create_cluster(clusterName="fleet", capacityProviders=["FARGATE", "FARGATE_SPOT"])
        ecs.register_task_definition(
            family="shard",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu=CPU,
            memory=MEMORY,
            executionRoleArn=EXECUTION_ROLE,
            containerDefinitions=[{"name": "job", "image": "busybox:1.36", "essential": True}],
        )
        emulator.add_behaviour(family="shard", run_seconds=args.job)
        subnets, groups = emulator.network["private_subnets"], [emulator.network["security_group"]]
        occupancy, alone = one_task_alone(ecs, emulator, subnets, groups)

        emulator.set_vcpu_quota(on_demand=args.quota, spot=args.quota)
        before = Counter(emulator.calls)
        start = threading.Barrier(args.shards + 1)
        results: dict[int, dict[str, Any]] = {}
        threads = [
            threading.Thread(target=run_shard, args=(shard, args, subnets, groups, start, results), daemon=True)
            for shard in range(args.shards)
        ]
        for thread in threads:
            thread.start()
        while start.n_waiting < args.shards:  # every shard's client made
            time.sleep(0.05)
        emulator.set_spot(
            capacity_missing_for=SPOT_MISSING, interruption_rate=INTERRUPTION_RATE, interrupt_after=INTERRUPT_AFTER
        )
        started, started_at = time.monotonic(), time.time()
        start.wait()  # go
        for thread in threads:
            thread.join()
        wall = (time.monotonic() - started) * args.speed  # emulated seconds
        calls = Counter(emulator.calls)
        calls.subtract(before)

        by_shard: dict[str, list[dict[str, Any]]] = {}
        paginator = ecs.get_paginator("list_tasks")
        arns = [a for page in paginator.paginate(cluster="fleet", desiredStatus="STOPPED") for a in page["taskArns"]]
        described = [
            task
            for i in range(0, len(arns), 100)
            for task in ecs.describe_tasks(cluster="fleet", tasks=arns[i : i + 100])["tasks"]
        ]
        for task in described:
            if task.get("startedBy"):
                by_shard.setdefault(task["startedBy"], []).append(task)
        for tasks in by_shard.values():
            tasks.sort(key=lambda t: t["createdAt"])
        throttled = dict(emulator.quotas.throttled)
        spot_market = emulator.describe()["spot"]
    sys.stdout.flush()
    os.dup2(saved_stdout, 1)

    failed = [s for s, r in results.items() if r["cost"] is None]
    extra_tries = sum(r["tries"] - 1 for r in results.values())
    usd = sum(r["cost"]["usd"] for r in results.values() if r["cost"])
    tasks = sum(r["cost"]["tasks"] for r in results.values() if r["cost"])
    spot_tasks = sum(r["cost"]["spot_tasks"] for r in results.values() if r["cost"])
    providers = Counter(p for r in results.values() if r["cost"] for p in r["cost"]["capacity"])
    stop_codes = Counter(t.get("stopCode") for tasks_ in by_shard.values() for t in tasks_)
    duplicates = sum(overlaps(t) for t in by_shard.values())
    at_once = max(math.floor(args.quota / VCPU), 1)
    # the work actually done (every attempt's vCPU-seconds, interrupted ones included) spread over the quota
    held = sum(
        ((t["stoppedAt"] - t["createdAt"]).total_seconds() * args.speed) for tasks_ in by_shard.values() for t in tasks_
    )
    area_bound = SPOT_MISSING + held * VCPU / args.quota
    lower_bound = SPOT_MISSING + math.ceil(args.shards / at_once) * occupancy
    all_on_demand = args.shards * task_cost(alone, region="us-east-1").usd  # each shard once, uninterrupted

    print(
        f"spot_fleet: {args.shards} shards of a {args.job:g}-s job ({VCPU:g} vCPU, {int(MEMORY) / 1024:g} GB), "
        f"speed {args.speed:g}"
    )
    print(
        f"  set-up: vCPU quotas {args.quota:g} On-Demand + {args.quota:g} Spot; Spot missing the first "
        f"{SPOT_MISSING:g} s; {INTERRUPTION_RATE:.0%} of Spot tasks interrupted {INTERRUPT_AFTER:g} s after RUNNING"
    )
    print(f"  completion: {len(results) - len(failed)}/{args.shards} shards succeeded; failed: {failed or 'none'}")
    print(f"  Airflow tries beyond the first: {extra_tries}")
    for shard, result in sorted(results.items()):
        for error in result["errors"]:
            print(f"    shard {shard}: {error}")
    print(f"  duplicates (one shard's tasks running at the same time): {duplicates}")
    print(
        f"  ECS tasks: {tasks} ({spot_tasks} on Fargate Spot, {tasks - spot_tasks} on Fargate); "
        f"stop codes {dict(stop_codes)}; capacity {dict(providers)}"
    )
    print(
        f"  wall: {wall:.0f} s emulated; lower bound {lower_bound:.0f} s (Spot shortage {SPOT_MISSING:g} s + "
        f"{math.ceil(args.shards / at_once)} wave(s) of {at_once} × {occupancy:.1f} s a task holds its vCPUs); "
        f"ratio {wall / lower_bound:.2f}; against the work actually done (every attempt's vCPU-seconds over the "
        f"quota, + the shortage: {area_bound:.0f} s) {wall / area_bound:.2f}"
    )
    print(f"  cost: ${usd:.4f}; all on-demand, each shard once: ${all_on_demand:.4f}; ratio {usd / all_on_demand:.1%}")
    print(f"  ECS calls: {dict(sorted((k, v) for k, v in calls.items() if v))}; throttled {throttled}")
    print("  timeline (emulated s from the start): " + timeline(by_shard, started_at, args.speed))
    print("  quota in use, 30-s windows: " + utilization(by_shard, started_at, args.speed, at_once))
    print(f"  emulator's Spot market at the end: {spot_market}")
    print(f"  operator log: {log_path}")


if __name__ == "__main__":
    main()
