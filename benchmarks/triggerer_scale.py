"""Benchmark: N concurrent deferred waits in one asyncio loop, as Airflow's triggerer runs them,
against the local ECS emulator (``fargate-local serve`` in its own process).

    .venv/bin/python benchmarks/triggerer_scale.py [--n 100 500 1000] [--clusters 100]
        [--interval 5] [--rounds 3] [--kinds service task amazon] [--speed 1000] [--logs [--chatty 0.5]]

Kinds, each run in a fresh child process (so peak RSS is per scenario):

* ``service``: FargateServiceTrigger waiting for INACTIVE on ACTIVE services of desiredCount 0
  (shared poller: one DescribeServices per cluster per 10 services a round);
* ``scaledown``: FargateServiceTrigger waiting for STABLE on services of desiredCount 1 whose
  deployment is in progress (its task held in PENDING), until the parent scales each to 0
  (UpdateService desiredCount=0, as an environment put to sleep): the deployment then completes,
  with ECS's Service Action and Deployment State Change events;
* ``task``: FargateTaskTrigger waiting for STOPPED on tasks kept running (shared poller: one
  DescribeTasks per cluster per 100 tasks a round);
* ``amazon``: the amazon provider's TaskDoneTrigger on the same kind of tasks (the anchor: one
  DescribeTasks per task per waiter_delay, two aiobotocore clients per trigger).

``--logs``: the tasks log with awslogs and each task wait follows its stream (FargateTaskTrigger's
``logs``, TaskDoneTrigger's ``log_group``/``log_stream``), so GetLogEvents per round is measured
too. A ``--chatty`` fraction of the tasks prints a line every second; the others a line every two
minutes, as a batch job between phases does.

The waits are spread over ``--clusters`` clusters. Per scenario the child measures: the calls
the emulator answered per poll round (over ``--rounds`` rounds, after every trigger has polled
once; for the anchor a "round" is one ``--interval``), peak RSS (ru_maxrss) and that minus a
baseline taken after imports, the time until every trigger's item was described once, the
event-loop lag (a side task sleeping 0.1 s), and then, once the parent has stopped every task
(StopTask) or deleted every service (DeleteService) at known times, the detection latency:
each trigger's event time minus the time its item's StopTask/DeleteService returned. The changes are spread
evenly over one poll interval (``--at-once``: all right after a round), so that they fall at
every phase of the shared poller's round, as real task ends do.

``--events off on lossy``: the service and task waits with ``[fargate] events_queue_url`` set to a
queue an EventBridge rule fills with the emulator's ECS events (``on``), or with 5 % of the events
lost and 10 % each duplicated and reordered (``lossy``); polling stays as the reconciler every
``--reconcile`` seconds. Calls are then counted over ``--rounds`` intervals of time (the waits poll
no rounds of their own) and shown also as Describe calls per wait-hour; the detection latency of a
lost event is the reconciler's.

``--live off on`` (with ``--logs``): the task waits without and with ``[fargate] live_logs`` (CloudWatch
Logs Live Tail sessions shared in the triggerer; GetLogEvents stays the completeness net). Line
latency: for every line written in the first half of the counted window (read back with
FilterLogEvents), the time the triggers first took it (from Live Tail or a GetLogEvents page) minus
its CloudWatch timestamp; a line not taken by the end of the window counts as later than that.

Prints figures; asserts nothing (that is the tests' job).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KINDS = ("service", "scaledown", "task", "amazon")
SERVICE_KINDS = ("service", "scaledown")
FAMILY = "bench"
TAG = "@@"  # lines of the child's stdout meant for the parent


# ---------------------------------------------------------------------------------------- parent


def _environment(home: Path, endpoint: str | None = None) -> None:
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__FARGATE__RESUME_NOT_BEFORE_SECONDS": "0",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    if endpoint:
        from fargate_local.process import aws_connection

        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection(endpoint)
        os.environ["AWS_ENDPOINT_URL"] = endpoint


def _spread(n: int, clusters: int) -> dict[str, int]:
    """``n`` waits over ``min(clusters, n)`` clusters, as evenly as can be."""
    used = max(1, min(clusters, n))
    return {f"bench{i:03d}": n // used + (1 if i < n % used else 0) for i in range(used)}


def _limit(kind: str, spread: dict[str, int]) -> int:
    per_call = 10 if kind in SERVICE_KINDS else 100  # DescribeServices: 10 services; DescribeTasks: 100 tasks
    return sum(math.ceil(count / per_call) for count in spread.values())


LOG_GROUP = "/bench/tasks"
LOG_RUN_SECONDS = 1800.0  # real seconds a logging task runs (longer than any scenario), printing as it goes
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"  # the emulator's ready-made role


def _register(ecs, family: str, logs: bool) -> None:
    container = {"name": "app", "image": "busybox:1.36", "essential": True}
    extra = {}
    if logs:  # ECS refuses awslogs on Fargate without an execution role
        extra["executionRoleArn"] = EXECUTION_ROLE
        container["logConfiguration"] = {
            "logDriver": "awslogs",
            "options": {"awslogs-group": LOG_GROUP, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"},
        }
    ecs.register_task_definition(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[container],
        **extra,
    )


def _setup(control, ecs, kind: str, spread: dict[str, int], args) -> list[dict[str, str]]:
    """A clean emulator with ``spread``'s clusters, and the items to wait for: services of
    desiredCount 0 (ACTIVE for ever) or tasks that run until stopped (with ``--logs``: for
    ``LOG_RUN_SECONDS``, printing, each item naming its stream)."""
    network = control.reset()
    control.set_timing(speed=args.speed)
    logs = args.logs and kind not in SERVICE_KINDS
    families = {FAMILY: 1.0}
    if logs:
        import boto3

        boto3.client("logs", endpoint_url=ecs.meta.endpoint_url, region_name="us-east-1").create_log_group(
            logGroupName=LOG_GROUP
        )
        run = LOG_RUN_SECONDS * args.speed  # emulated seconds
        control.add_behaviour(family=FAMILY, run_seconds=run, output_lines=int(LOG_RUN_SECONDS))  # a line a second
        control.add_behaviour(family=f"{FAMILY}-quiet", run_seconds=run, output_lines=int(LOG_RUN_SECONDS / 120))
        families = {FAMILY: args.chatty, f"{FAMILY}-quiet": 1.0 - args.chatty}
    elif kind == "scaledown":  # the service's task stays PENDING: its deployment is in progress
        control.add_behaviour(family=FAMILY, start_delay=1e9)
    else:
        control.add_behaviour(family=FAMILY, run_seconds=1e9)
    for family in families:
        _register(ecs, family, logs)
    net = {
        "awsvpcConfiguration": {"subnets": network["private_subnets"], "securityGroups": [network["security_group"]]}
    }

    def run_tasks(cluster: str, family: str, count: int) -> list[str]:
        arns: list[str] = []
        while len(arns) < count:  # RunTask starts up to 10 a call
            try:
                answer = ecs.run_task(
                    cluster=cluster,
                    taskDefinition=family,
                    launchType="FARGATE",
                    count=min(10, count - len(arns)),
                    networkConfiguration=net,
                )
            except ecs.exceptions.ClientError as error:  # Fargate's launch rate: wait for the bucket
                if error.response["Error"]["Code"] != "ThrottlingException":
                    raise
                time.sleep(1)
                continue
            assert not answer.get("failures"), answer["failures"]
            arns += [t["taskArn"] for t in answer["tasks"]]
        return arns

    def cluster_items(cluster: str, count: int) -> list[dict[str, str]]:
        ecs.create_cluster(clusterName=cluster)
        if kind in SERVICE_KINDS:
            for i in range(count):
                ecs.create_service(
                    cluster=cluster,
                    serviceName=f"s{i}",
                    taskDefinition=FAMILY,
                    desiredCount=1 if kind == "scaledown" else 0,
                    launchType="FARGATE",
                    networkConfiguration=net,
                )
            return [{"cluster": cluster, "item": f"s{i}"} for i in range(count)]
        arns: list[str] = []
        for index, (family, share) in enumerate(families.items()):
            last = index == len(families) - 1
            arns += run_tasks(cluster, family, count - len(arns) if last else round(count * share))
        if not logs:
            return [{"cluster": cluster, "item": arn} for arn in arns]
        # <awslogs-stream-prefix>/<container name>/<task id>
        return [{"cluster": cluster, "item": arn, "stream": f"ecs/app/{arn.rsplit('/', 1)[-1]}"} for arn in arns]

    with ThreadPoolExecutor(8) as pool:
        items = [i for chunk in pool.map(lambda kv: cluster_items(*kv), spread.items()) for i in chunk]
    if kind not in SERVICE_KINDS:  # wait until every task is RUNNING, so the waits start on a steady state
        deadline = time.monotonic() + 120
        for cluster in spread:
            arns = [i["item"] for i in items if i["cluster"] == cluster]
            for start in range(0, len(arns), 100):
                while True:
                    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns[start : start + 100])["tasks"]
                    if all(t["lastStatus"] == "RUNNING" for t in tasks) or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
    return items


def _change(ecs, kind: str, items: list[dict[str, str]], spread_s: float) -> dict[str, tuple[float, float]]:
    """Stop every task / delete every service, item i at ``i / N * spread_s`` from now (so the
    changes fall at every phase of the poll interval); (sent, returned) epoch times per item."""
    order = list(enumerate(items))
    random.Random(0).shuffle(order)  # not in creation order, which the anchor's poll phases follow
    order = [(rank, item) for rank, (_, item) in enumerate(order)]
    t0 = time.time()

    def one(indexed: tuple[int, dict[str, str]]) -> tuple[str, tuple[float, float]]:
        index, item = indexed
        time.sleep(max(t0 + spread_s * index / len(items) - time.time(), 0.0))
        sent = time.time()
        if kind == "service":
            ecs.delete_service(cluster=item["cluster"], service=item["item"], force=True)
        elif kind == "scaledown":
            ecs.update_service(cluster=item["cluster"], service=item["item"], desiredCount=0)
        else:
            ecs.stop_task(cluster=item["cluster"], task=item["item"], reason="benchmark")
        return f"{item['cluster']}/{item['item']}", (sent, time.time())

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(one, order))


EVENT_DELIVERY = {"on": {}, "lossy": {"loss": 0.05, "duplicate": 0.1, "reorder": 0.1}}


def _events_queue(endpoint: str, control, events: str, reconcile: float) -> str | None:
    """For ``events`` on/lossy: the queue and rule the provider makes for ECS's events
    (``fargate_provider.ecs_events_queue``), set for the child; the name."""
    from fargate_provider.ecs_events_queue import create_events_queue
    from fargate_provider.hooks.fargate import FargateHook

    os.environ.pop("AIRFLOW__FARGATE__EVENTS_QUEUE_URL", None)
    control.set_event_delivery(loss=0, duplicate=0, reorder=0, delay=0)
    if events == "off":
        return None
    name = f"fargate-ecs-events-{random.randrange(10**6)}"
    made = create_events_queue(FargateHook(aws_conn_id="aws_default", region_name="us-east-1"), name)
    control.set_event_delivery(**EVENT_DELIVERY[events])
    os.environ["AIRFLOW__FARGATE__EVENTS_QUEUE_URL"] = made.queue_url
    os.environ["AIRFLOW__FARGATE__EVENTS_RECONCILE_SECONDS"] = str(reconcile)
    return name


def _remove_events_queue(endpoint: str, name: str | None) -> None:
    from fargate_provider.ecs_events_queue import delete_events_queue
    from fargate_provider.hooks.fargate import FargateHook

    os.environ.pop("AIRFLOW__FARGATE__EVENTS_QUEUE_URL", None)
    if name is not None:
        delete_events_queue(FargateHook(aws_conn_id="aws_default", region_name="us-east-1"), name)


def scenario(
    control, ecs, endpoint: str, kind: str, n: int, args, workdir: Path, events: str = "off", live: str = "off"
) -> dict:
    spread = _spread(n, args.clusters)
    os.environ["AIRFLOW__FARGATE__LIVE_LOGS"] = str(live == "on")
    started = time.monotonic()
    items = _setup(control, ecs, kind, spread, args)
    setup_s = time.monotonic() - started
    made = _events_queue(endpoint, control, events, args.reconcile)  # (after the setup's reset)
    spec = workdir / f"{kind}-{n}.json"
    spec.write_text(
        json.dumps(
            {
                "kind": kind,
                "items": items,
                "interval": args.interval,
                "rounds": args.rounds,
                "endpoint": endpoint,
                "timeout": args.timeout,
                "log_group": LOG_GROUP,
                "events": events,
                "live": live,
            }
        )
    )
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", str(spec)],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
        cwd=REPO,
    )
    assert child.stdout is not None and child.stdin is not None
    stops: dict[str, tuple[float, float]] = {}
    result = None
    for line in child.stdout:
        if not line.startswith(TAG):
            continue
        word, _, rest = line[len(TAG) :].strip().partition(" ")
        if word == "READY":  # every trigger has polled and the rounds are counted: change the state now
            t0 = time.time()
            stops = _change(ecs, kind, items, 0.0 if args.at_once else args.interval)
            child.stdin.write(f"{time.time() - t0}\n")
            child.stdin.flush()
        elif word == "RESULT":
            result = json.loads(rest)
    child.wait()
    _remove_events_queue(endpoint, made)
    if result is None:
        raise RuntimeError(f"{kind} N={n}: the child failed (exit {child.returncode})")
    latencies = [result["events"][key] - stops[key][1] for key in result["events"] if key in stops]
    result.update(
        n=n,
        kind=kind,
        setup_s=setup_s,
        limit=_limit(kind, spread),
        clusters=len(spread),
        latencies=latencies,
        changed=len(stops),
        events=events,
        live=live,
        interval=args.interval,
    )
    return result


def _row(r: dict) -> str:
    calls = r["calls_per_round"]
    op = "DescribeServices" if r["kind"] in SERVICE_KINDS else "DescribeTasks"
    shown = f"{calls.get(op, 0):.1f} {op} ({r['limit']})"
    others = [f"{v:.1f} {k}" for k, v in calls.items() if k != op and v]
    if others:
        shown += " + " + " + ".join(others)
    n = r["n"]
    peak, base = r["peak_rss_mb"], r["baseline_rss_mb"]
    rss = f"{peak:.0f} (+{peak - base:.0f} over {base:.0f}; {(peak - base) / n * 1024:.0f} KB/trigger)"
    if r["kind"] != "amazon":
        per_wait_hour = calls.get(op, 0) * 3600 / r["interval"] / n
        shown += f"; {per_wait_hour:.2f} a wait-hour"
    lat = r["latencies"]
    detect = f"{statistics.median(lat):.2f} / {_p95(lat):.2f} / {max(lat):.2f}" if lat else "-"
    if len(lat) < n or r["statuses"] != {r["expected_status"]: n}:
        detect += f" ({len(lat)}/{n} events: {r['statuses']})"
    first = "-" if r["first_round_s"] is None else f"{r['first_round_s']:.2f}"
    lag = r["lag_max_s"]
    lags = f"{lag['steady']:.3f} (start {lag['startup']:.3f}, detect {lag['detection']:.3f})"
    kind = {
        "service": "service waits (INACTIVE)",
        "scaledown": "service waits (STABLE, scaled to 0)",
        "task": "task waits",
        "amazon": "amazon TaskDoneTrigger",
    }[r["kind"]]
    if r.get("logs"):
        kind += " + logs" + (" (Live Tail)" if r.get("live") == "on" else "")
    if r.get("events", "off") != "off":
        kind += {"on": " + ECS events", "lossy": " + ECS events (5 % lost, 10 % duplicated, 10 % reordered)"}[
            r["events"]
        ]
    lines = r.get("line_latency")
    if lines:
        shown += (
            f"; lines: {_seconds(lines['p50'], lines['within_s'])} / {lines['p95']} s p50/p95 "
            f"({lines['lines']} lines written in "
            f"{lines['window_s']:.0f} s, {lines['late']} not shown within {lines['within_s']:.0f} s)"
        )
    return f"| {n} | {kind} | {shown} | {rss} | {first} | {detect} | {lags} |"


def _seconds(value: float, within: float) -> str:
    return f"> {within:.0f}" if value == math.inf else f"{value:.1f}"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


HEADER = (
    "| N | kind | calls/round (limit) | peak RSS MB (per trigger) | first round s | detection median/p95/max s "
    "| loop lag max s (steady; start, detect) |\n|---|---|---|---|---|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--interval", type=float, default=5.0, help="poll interval (s)")
    parser.add_argument("--rounds", type=int, default=3, help="poll rounds to count calls over")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--speed", type=float, default=1000.0, help="emulator's emulated-time factor")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a scenario's phases may take")
    parser.add_argument("--logs", action="store_true", help="task waits follow each task's awslogs stream")
    parser.add_argument(
        "--chatty",
        type=float,
        default=0.5,
        help="with --logs: the fraction of tasks printing a line a second (the others: every 2 minutes)",
    )
    parser.add_argument(
        "--at-once",
        action="store_true",
        help="change every item at once after a round, instead of spread over one interval",
    )
    parser.add_argument(
        "--events",
        nargs="+",
        choices=("off", "on", "lossy"),
        default=["off"],
        help="service and task waits without ECS events, with them, with them lossy (see above)",
    )
    parser.add_argument("--reconcile", type=float, default=60.0, help="with --events: the reconcile interval (s)")
    parser.add_argument(
        "--live",
        nargs="+",
        choices=("off", "on"),
        default=["off"],
        help="with --logs: task waits without and with [fargate] live_logs (Live Tail)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 0 <= args.chatty <= 1:
        parser.error("--chatty: a fraction from 0 to 1")
    if args.child:
        _child(Path(args.child))
        return

    with tempfile.TemporaryDirectory(prefix="triggerer-scale-") as tmp:
        workdir = Path(tmp)
        (workdir / "airflow").mkdir()
        _environment(workdir / "airflow")
        import boto3
        from botocore.config import Config

        from fargate_local.client import LocalEcsClient
        from fargate_local.process import start_emulator

        emulator = start_emulator()
        try:
            _environment(workdir / "airflow", emulator.endpoint)
            control = LocalEcsClient(emulator.endpoint, timeout=60)
            ecs = boto3.client(
                "ecs",
                endpoint_url=emulator.endpoint,
                region_name="us-east-1",
                config=Config(max_pool_connections=16, retries={"mode": "standard", "total_max_attempts": 5}),
            )
            print(
                f"emulator at {emulator.endpoint}; interval {args.interval:g} s, {args.rounds} rounds, "
                f"up to {args.clusters} clusters, emulated time x{args.speed:g}"
                + (f"; task waits follow logs, {args.chatty:.0%} of tasks print a line a second" if args.logs else ""),
                flush=True,
            )
            rows = []
            runs = [
                (n, kind, events, live)
                for n in args.n
                for kind in args.kinds
                for events in (args.events if kind != "amazon" else ["off"])
                for live in (args.live if kind == "task" and args.logs else ["off"])
            ]
            for n, kind, events, live in runs:
                result = scenario(control, ecs, emulator.endpoint, kind, n, args, workdir, events, live)
                rows.append(_row(result))
                print(
                    f"{kind} N={n} on {result['clusters']} clusters (setup {result['setup_s']:.1f} s, "
                    f"{result['rounds_counted']} rounds over {result['counted_s']:.1f} s, "
                    f"changes sent in {result['change_s']:.1f} s): calls/round {result['calls_per_round']}, "
                    f"client-side {result['client_calls_per_round']}; {result['trigger_log_lines']} lines in the "
                    f"triggers' log"
                    + (f"; ECS events read: {result['consumer']}" if result["consumer"] else "")
                    + (f"; Live Tail: {result['live_tail']}" if result.get("live_tail") else ""),
                    flush=True,
                )
                print(rows[-1], flush=True)
            print()
            print(HEADER)
            print("\n".join(rows))
        finally:
            emulator.stop()


# ----------------------------------------------------------------------------------------- child


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def _child(spec_path: Path) -> None:
    import asyncio
    import logging

    from aiobotocore.client import AioBaseClient
    from airflow.providers.amazon.aws.triggers.ecs import TaskDoneTrigger

    from fargate_local.client import LocalEcsClient
    from fargate_provider.state.service import INACTIVE_TARGET, STABLE_TARGET, ServiceWatch
    from fargate_provider.state.task import LogFollower
    from fargate_provider.triggers.live_tail import hubs
    from fargate_provider.triggers.polling import pollers
    from fargate_provider.triggers.service import FargateServiceTrigger
    from fargate_provider.triggers.task import FargateTaskTrigger

    logging.disable(logging.INFO)  # stdlib loggers' info lines (botocore, the poller)
    spec = json.loads(spec_path.read_text())
    # The triggers log (structlog) to stdout: a triggerer sends those lines to the task logs. Here
    # they go to a file, as they would to the log files; the parent gets its own copy of the pipe
    # (a pipe nobody reads while it stops tasks would block the loop on a full buffer).
    to_parent = os.fdopen(os.dup(1), "w", buffering=1)
    trigger_log = open(spec_path.with_suffix(".log"), "w")
    sys.stdout.flush()
    os.dup2(trigger_log.fileno(), 1)
    kind, items, interval, rounds = spec["kind"], spec["items"], spec["interval"], spec["rounds"]
    timeout = spec["timeout"]
    control = LocalEcsClient(spec["endpoint"], timeout=60)
    n = len(items)
    baseline = _rss_mb()

    # Instrumentation: when each item is first described (by any call), and client-side call counts.
    first_seen: dict[str, float] = {}
    client_calls: Counter[str] = Counter()
    make_api_call = AioBaseClient._make_api_call

    async def counted(self, operation_name, api_params):
        answer = await make_api_call(self, operation_name, api_params)
        client_calls[operation_name] += 1
        if operation_name == "GetLogEvents":
            client_calls["log lines"] += len(answer.get("events", []))
        if operation_name in ("DescribeServices", "DescribeTasks"):
            now = time.monotonic()
            cluster = api_params.get("cluster")
            for item in api_params.get("services") or api_params.get("tasks") or []:
                first_seen.setdefault(f"{cluster}/{item}", now)
        return answer

    AioBaseClient._make_api_call = counted

    # Line latency: when the triggers first took each line (a GetLogEvents page or Live Tail).
    first_taken: dict[tuple[str, int, str], float] = {}
    take, live_line = LogFollower.take, LogFollower.live_line

    def timed_take(self, stream, page):
        now = time.time()
        for event in page.get("events", []):
            first_taken.setdefault((stream.stream, event.get("timestamp"), event["message"]), now)
        return take(self, stream, page)

    def timed_live_line(self, stream, timestamp, message):
        first_taken.setdefault((stream.stream, timestamp, message), time.time())
        return live_line(self, stream, timestamp, message)

    LogFollower.take, LogFollower.live_line = timed_take, timed_live_line

    def key_of(item: dict[str, str]) -> str:
        return f"{item['cluster']}/{item['item']}"

    def build(item: dict[str, str]):
        if kind in SERVICE_KINDS:
            watch = ServiceWatch([item["item"]], INACTIVE_TARGET if kind == "service" else STABLE_TARGET)
            return FargateServiceTrigger(
                cluster=item["cluster"], watch=watch.to_kwargs(), poll_interval=interval, timeout=100000
            )
        stream = item.get("stream")
        if kind == "task":
            logs = None
            if stream:
                logs = LogFollower(
                    [{"container": "app", "group": spec["log_group"], "region": "us-east-1", "stream": stream}]
                ).to_kwargs()
            return FargateTaskTrigger(
                cluster=item["cluster"], tasks=[item["item"]], target_state="STOPPED", poll_interval=interval, logs=logs
            )
        return TaskDoneTrigger(
            cluster=item["cluster"],
            task_arn=item["item"],
            waiter_delay=int(interval),
            waiter_max_attempts=1000000,
            aws_conn_id="aws_default",
            log_group=spec["log_group"] if stream else None,
            log_stream=stream,
        )

    phase = ["startup"]
    lags: dict[str, float] = {"startup": 0.0, "steady": 0.0, "detection": 0.0}
    events: dict[str, float] = {}
    statuses: Counter[str] = Counter()

    async def lag_probe():
        while True:
            started = time.monotonic()
            await asyncio.sleep(0.1)
            late = time.monotonic() - started - 0.1
            lags[phase[0]] = max(lags[phase[0]], late)

    async def wait(key: str, trigger) -> None:
        try:
            async for event in trigger.run():
                events[key] = time.time()
                statuses[str(event.payload.get("status"))] += 1
                return
        except Exception as error:  # the anchor raises instead of failing with an event
            statuses[f"raised {type(error).__name__}"] += 1

    async def until(what: str, condition, limit: float = timeout, step: float = 0.02):
        deadline = time.monotonic() + limit
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            await asyncio.sleep(step)

    async def emulator_calls() -> Counter[str]:
        state = await asyncio.to_thread(control.describe)
        calls = Counter({action.split(":", 1)[1]: count for action, count in state["actions"].items()})
        calls["GetLogEvents throttled"] = state.get("throttled", {}).get("logs:GetLogEvents", 0)
        return calls

    async def run() -> dict:
        probe = asyncio.create_task(lag_probe())
        keys = [key_of(i) for i in items]
        triggers = [build(i) for i in items]
        started = time.monotonic()
        running = [asyncio.create_task(wait(k, t)) for k, t in zip(keys, triggers, strict=True)]
        # every trigger polled once
        await until("every trigger to poll once", lambda: len(first_seen) >= n, step=0.01)
        first_round = max(first_seen[k] for k in keys) - started
        phase[0] = "steady"
        # calls per round, counted at the emulator (and by the client, to cross-check)
        if kind == "amazon" or spec["events"] != "off":
            # Out of the start-up burst (the anchor's waits keep their own pace; with events, the
            # queue's start-up events are read), then calls over ``rounds`` intervals of time.
            await asyncio.sleep(interval)
            before, client_before, t = await emulator_calls(), Counter(client_calls), time.monotonic()
            await asyncio.sleep(rounds * interval)
            after, client_after = await emulator_calls(), Counter(client_calls)
            counted_rounds = rounds
        else:
            [poller] = pollers()
            start = poller.rounds + 1  # a round begun after every wait had its first answer
            await until(f"round {start}", lambda: poller.rounds >= start)
            before, client_before, t = await emulator_calls(), Counter(client_calls), time.monotonic()
            await until(f"round {start + rounds}", lambda: poller.rounds >= start + rounds)
            after, client_after = await emulator_calls(), Counter(client_calls)
            counted_rounds = rounds
        counted_s = time.monotonic() - t
        line_latency = None
        if any("stream" in i for i in items):
            line_latency = await asyncio.to_thread(_line_latency, spec, first_taken, time.time() - counted_s, counted_s)
        ops = ("DescribeServices", "DescribeTasks", "GetLogEvents", "GetLogEvents throttled")
        per_round = {op: (after[op] - before[op]) / counted_rounds for op in ops}
        client_per_round = {op: (client_after[op] - client_before[op]) / counted_rounds for op in (*ops, "log lines")}
        # the parent now stops every task / deletes every service and tells how long that took
        phase[0] = "detection"
        print(f"{TAG}READY", file=to_parent, flush=True)
        change_s = float(await asyncio.to_thread(sys.stdin.readline))
        try:
            await asyncio.wait_for(asyncio.gather(*running), timeout=timeout)
        except TimeoutError:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        probe.cancel()
        consumer = pollers()[0].events if kind != "amazon" and pollers() else None
        tails = hubs()
        return {
            "line_latency": line_latency,
            "live_tail": {k: sum(h.counts[k] for h in tails) for k in tails[0].counts} if tails else None,
            "consumer": dict(consumer.counts) if consumer else None,
            "calls_per_round": {k: v for k, v in per_round.items() if v or not k.startswith("GetLogEvents")},
            "client_calls_per_round": {k: v for k, v in client_per_round.items() if v},
            "rounds_counted": counted_rounds,
            "counted_s": counted_s,
            "change_s": change_s,
            "first_round_s": first_round,
            "lag_max_s": lags,
            "events": events,
            "statuses": dict(statuses),
            "logs": any("stream" in i for i in items),
        }

    result = asyncio.run(run())
    result.update(
        baseline_rss_mb=baseline,
        peak_rss_mb=_rss_mb(),
        expected_status={"service": "success", "scaledown": "success", "task": "done", "amazon": "success"}[kind],
    )
    sys.stdout.flush()
    with open(trigger_log.name, "rb") as written:
        result["trigger_log_lines"] = sum(1 for _ in written)
    print(f"{TAG}RESULT {json.dumps(result)}", file=to_parent, flush=True)


def _line_latency(spec: dict, first_taken: dict, window_start: float, window_s: float) -> dict:
    """Every line written in the first half of the counted window (FilterLogEvents over the group),
    and how long after its timestamp the triggers first took it, up to the window's end."""
    import boto3

    logs = boto3.client("logs", endpoint_url=spec["endpoint"], region_name="us-east-1")
    half = window_s / 2
    start_ms, end_ms = int(window_start * 1000), int((window_start + half) * 1000)
    written = []
    for page in logs.get_paginator("filter_log_events").paginate(
        logGroupName=spec["log_group"], startTime=start_ms, endTime=end_ms
    ):
        written += [(e["logStreamName"], e["timestamp"], e["message"]) for e in page["events"]]
    window_end = window_start + window_s
    delays = [first_taken[w] - w[1] / 1000 for w in written if first_taken.get(w, math.inf) <= window_end]
    late = len(written) - len(delays)
    ordered = sorted(delays) + [math.inf] * late
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)] if ordered else math.nan
    return {
        "lines": len(written),
        "window_s": half,
        "within_s": window_s - half,
        "late": late,
        "p50": statistics.median(ordered) if ordered else math.nan,
        "p95": f"{p95:.1f}" if p95 != math.inf else f"> {window_s - half:.0f}",
    }


if __name__ == "__main__":
    main()
