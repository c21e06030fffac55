"""Benchmark the local ECS emulator: start-up to `ready`, and how long the lifecycle takes.

    .venv/bin/python benchmarks/emulator.py [--runs 5]

Prints figures; asserts nothing (that is the tests' job).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def startup(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.monotonic()
        process = subprocess.Popen(
            [str(BIN / "fargate-local"), "serve", "--port", "0"], stdout=subprocess.PIPE, text=True
        )
        for line in process.stdout:
            if line.strip() == "ready":
                times.append(time.monotonic() - started)
                break
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    return times


def lifecycle() -> dict[str, float]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    import boto3

    from fargate_local.server import LocalEcs

    figures = {}
    with LocalEcs() as emulator:
        ecs = boto3.client("ecs", endpoint_url=emulator.endpoint, region_name="us-east-1")
        ecs.create_cluster(clusterName="bench")
        ecs.register_task_definition(
            family="bench",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "app", "image": "busybox"}],
        )
        net = {
            "awsvpcConfiguration": {
                "subnets": emulator.network["private_subnets"],
                "securityGroups": [emulator.network["security_group"]],
            }
        }
        fast = {"Delay": 0.05, "MaxAttempts": 1000}
        started = time.monotonic()
        arn = ecs.run_task(cluster="bench", taskDefinition="bench", launchType="FARGATE", networkConfiguration=net)[
            "tasks"
        ][0]["taskArn"]
        ecs.get_waiter("tasks_stopped").wait(cluster="bench", tasks=[arn], WaiterConfig=fast)
        figures["run-task to STOPPED (s)"] = time.monotonic() - started
        started = time.monotonic()
        ecs.create_service(
            cluster="bench",
            serviceName="s",
            taskDefinition="bench",
            desiredCount=3,
            launchType="FARGATE",
            networkConfiguration=net,
        )
        ecs.get_waiter("services_stable").wait(cluster="bench", services=["s"], WaiterConfig=fast)
        figures["create-service (3 tasks) to services_stable (s)"] = time.monotonic() - started
        started = time.monotonic()
        for _ in range(200):
            ecs.describe_services(cluster="bench", services=["s"])
        figures["DescribeServices latency (ms)"] = (time.monotonic() - started) / 200 * 1000
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times = startup(args.runs)
    print(
        f"fargate-local serve to 'ready' over {len(times)} runs: min {min(times):.2f} s, "
        f"median {statistics.median(times):.2f} s, max {max(times):.2f} s"
    )
    for name, value in lifecycle().items():
        print(f"{name}: {value:.2f}")


if __name__ == "__main__":
    main()
