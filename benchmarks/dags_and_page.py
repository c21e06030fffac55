"""Benchmark the user-facing parts: parsing dags/, and the environments page's listing.

    .venv/bin/python benchmarks/dags_and_page.py [--runs 5] [--environments 10 100 500] [--tasks 1] [--in-process]

Parse: a fresh DagBag over dags/ (what the dag-processor does per file, all of them),
min/median/max over runs, and the peak memory it added. Listing: describe_environments
(what GET /fargate/api/environments does) for N environments of ``--tasks`` tasks each in the local
emulator (in its own process, as ``make airflow`` runs it; ``--in-process``: in this one): the first
listing (the caches empty, as after the API server starts) as the page makes it
(waiting PAGE_WAIT_SECONDS for services and costs, the rest pending), how long until all is known,
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
from collections import Counter
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


class Emulator:
    """The emulator the listing runs against: ``fargate-local serve`` in its own process, as under
    ``make airflow`` (the API server and the emulator then use a core each), or ``LocalEcs`` in this
    process (sharing its interpreter lock). ``calls()``: the ECS calls it answered so far."""

    def __init__(self, in_process: bool):
        self.in_process = in_process

    def __enter__(self) -> Emulator:
        if self.in_process:
            from fargate_local.server import LocalEcs

            self.server = LocalEcs(port=0).__enter__()
            self.endpoint, self.network = self.server.endpoint, self.server.network
        else:
            from fargate_local.client import LocalEcsClient
            from fargate_local.process import start_emulator

            self.process = start_emulator()
            self.endpoint = self.process.endpoint
            self.client = LocalEcsClient(self.endpoint)
            self.network = self.client.network()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.in_process:
            self.server.__exit__(*exc)
        else:
            self.process.stop()

    def calls(self) -> Counter[str]:
        return Counter(self.server.calls if self.in_process else self.client.describe()["calls"])


def listing(environments: int, tasks: int, in_process: bool) -> None:
    from fargate_provider.environments.discovery import describe_environments
    from fargate_provider.environments.naming import environment_tags
    from fargate_provider.hooks.fargate import FargateHook
    from fargate_provider.utils.tags import MANAGED_BY_KEY, MANAGED_BY_VALUE, to_ecs_tags

    with Emulator(in_process) as server:
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
        from fargate_provider.environments.page import PAGE_WAIT_SECONDS

        calls_before = server.calls()

        def cold() -> None:  # as the API server's first listing after a start
            nonlocal calls_before
            cost._CACHE.clear()
            discovery._SERVICES.clear()
            calls_before = server.calls()

        def calls_since() -> Counter[str]:
            return server.calls() - calls_before

        # The old way, every service and cost read before the answer (what a caller without wait gets).
        cold()
        started = time.perf_counter()
        describe_environments(hook, dt.datetime.now(dt.UTC))
        full_seconds, full_calls = time.perf_counter() - started, sum(calls_since().values())
        # The page's way: it answers within PAGE_WAIT_SECONDS, services and costs not read by then pending,
        # and lists again (every 2 s in the browser; here every 0.5 s) until none is.
        cold()
        started = time.perf_counter()
        first = describe_environments(hook, dt.datetime.now(dt.UTC), wait=PAGE_WAIT_SECONDS)
        cold_seconds = time.perf_counter() - started
        services_pending = sum(e["service_pending"] for e in first)
        cold_pending = sum(e["cost_pending"] for e in first)
        while any(
            e["service_pending"] or e["cost_pending"]
            for e in describe_environments(hook, dt.datetime.now(dt.UTC), wait=0.1)
        ):
            time.sleep(0.5)
        all_costs_seconds, cold_calls = time.perf_counter() - started, sum(calls_since().values())
        calls_before = server.calls()
        times = []
        for _ in range(5):
            started = time.perf_counter()
            found = describe_environments(hook, dt.datetime.now(dt.UTC))
            times.append(time.perf_counter() - started)
        calls = sum(calls_since().values()) / 5
        per_listing = {k: v / 5 for k, v in calls_since().items()}
        print(
            f"environments page listing, {environments} environments x {tasks} task(s), "
            f"emulator {'in this process' if in_process else 'in its own process'}: "
            f"first listing (page, wait {PAGE_WAIT_SECONDS:g} s) {cold_seconds * 1000:.0f} ms with "
            f"{services_pending} service(s) and {cold_pending} cost(s) pending, all known after "
            f"{all_costs_seconds * 1000:.0f} ms, "
            f"{cold_calls} ECS calls ({cold_calls / environments:.1f} an environment) [waiting for all: "
            f"{full_seconds * 1000:.0f} ms, {full_calls} calls]; "
            f"then median {statistics.median(times) * 1000:.0f} ms, {calls:.0f} ECS calls "
            f"({calls / environments:.2f} an environment: {per_listing})"
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--environments", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--tasks", type=int, default=1, help="tasks each environment's service runs")
    parser.add_argument("--in-process", action="store_true", help="the emulator in this process, not its own")
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
        listing(environments, args.tasks, args.in_process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
