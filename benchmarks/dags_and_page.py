"""Benchmark the user-facing parts: parsing dags/, and the environments page's listing.

    .venv/bin/python benchmarks/dags_and_page.py [--runs 5] [--environments 10 100 500] [--tasks 1]

Parse: a fresh DagBag over dags/ (what the dag-processor does per file, all of them),
min/median/max over runs, and the peak memory it added. Listing: describe_environments
(what GET /fargate/api/environments does) for N environments of ``--tasks`` tasks each in the local
emulator: the first listing (the caches empty, as after the API server starts) as the page makes it
(waiting PAGE_COST_WAIT_SECONDS for costs, the rest pending), how long until every cost is known,
the same listing waiting for every cost, and then the median of five, with the ECS calls each made.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse(runs: int) -> None:
    from airflow.dag_processing.dagbag import DagBag

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        bag = DagBag(str(ROOT / "dags"))
        times.append(time.perf_counter() - started)
        assert not bag.import_errors, bag.import_errors
    tracemalloc.start()
    DagBag(str(ROOT / "dags"))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"parse dags/ ({len(bag.dag_ids)} DAGs): min {min(times) * 1000:.0f} ms, "
        f"median {statistics.median(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms over {runs} runs (the first includes imports); "
        f"peak {peak / 2**20:.1f} MiB allocated"
    )


def listing(environments: int, tasks: int) -> None:
    from fargate_local.server import LocalEcs
    from fargate_provider.environments.discovery import describe_environments
    from fargate_provider.environments.naming import environment_tags
    from fargate_provider.hooks.fargate import FargateHook
    from fargate_provider.utils.tags import MANAGED_BY_KEY, MANAGED_BY_VALUE, to_ecs_tags

    with LocalEcs(port=0) as server:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
            {"conn_type": "aws", "extra": {"endpoint_url": server.endpoint, "region_name": "us-east-1"}}
        )
        hook = FargateHook(aws_conn_id="aws_default")
        ecs = hook.conn
        now = dt.datetime.now(dt.UTC)
        network = {
            "awsvpcConfiguration": {
                "subnets": server.network["private_subnets"],
                "securityGroups": [server.network["security_group"]],
            }
        }
        for i in range(environments):
            name = f"bench-{i}"
            tags = to_ecs_tags({MANAGED_BY_KEY: MANAGED_BY_VALUE, **environment_tags(name, 8, now)})
            ecs.create_cluster(clusterName=f"env-{name}", tags=tags)
            ecs.register_task_definition(
                family=f"env-{name}",
                networkMode="awsvpc",
                requiresCompatibilities=["FARGATE"],
                cpu="256",
                memory="512",
                containerDefinitions=[{"name": "app", "image": "nginx", "essential": True}],
            )
            ecs.create_service(
                cluster=f"env-{name}",
                serviceName=name,
                taskDefinition=f"env-{name}:1",
                desiredCount=tasks,
                launchType="FARGATE",
                networkConfiguration=network,
                tags=tags,
            )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            found = describe_environments(hook, dt.datetime.now(dt.UTC))
            if all(e["running_count"] == tasks for e in found) and len(found) == environments:
                break
            time.sleep(1)
        from fargate_provider.environments import cost, discovery
        from fargate_provider.environments.page import PAGE_COST_WAIT_SECONDS

        def cold() -> None:  # as the API server's first listing after a start
            cost._CACHE.clear()
            discovery._SERVICES.clear()
            server.calls.clear()

        # The old way, every cost read before the answer (what a caller without cost_wait gets).
        cold()
        started = time.perf_counter()
        describe_environments(hook, dt.datetime.now(dt.UTC))
        full_seconds, full_calls = time.perf_counter() - started, sum(server.calls.values())
        # The page's way: it answers within PAGE_COST_WAIT_SECONDS, costs not read by then pending,
        # and lists again (every 2 s in the browser; here at once) until none is.
        cold()
        started = time.perf_counter()
        first = describe_environments(hook, dt.datetime.now(dt.UTC), cost_wait=PAGE_COST_WAIT_SECONDS)
        cold_seconds = time.perf_counter() - started
        cold_pending = sum(e["cost_pending"] for e in first)
        while any(e["cost_pending"] for e in describe_environments(hook, dt.datetime.now(dt.UTC), cost_wait=0.1)):
            pass
        all_costs_seconds, cold_calls = time.perf_counter() - started, sum(server.calls.values())
        server.calls.clear()
        times = []
        for _ in range(5):
            started = time.perf_counter()
            found = describe_environments(hook, dt.datetime.now(dt.UTC))
            times.append(time.perf_counter() - started)
        calls = sum(server.calls.values()) / 5
        per_listing = {k: v / 5 for k, v in server.calls.items()}
        print(
            f"environments page listing, {environments} environments x {tasks} task(s): "
            f"first listing (page, cost_wait {PAGE_COST_WAIT_SECONDS:g} s) {cold_seconds * 1000:.0f} ms with "
            f"{cold_pending} cost(s) pending, every cost known after {all_costs_seconds * 1000:.0f} ms, "
            f"{cold_calls} ECS calls ({cold_calls / environments:.1f} an environment) [waiting for every cost: "
            f"{full_seconds * 1000:.0f} ms, {full_calls} calls]; "
            f"then median {statistics.median(times) * 1000:.0f} ms, {calls:.0f} ECS calls "
            f"({calls / environments:.2f} an environment: {per_listing})"
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--environments", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--tasks", type=int, default=1, help="tasks each environment's service runs")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="fargate-bench-")
    os.environ.update(
        {
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    parse(args.runs)
    for environments in args.environments:
        listing(environments, args.tasks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
