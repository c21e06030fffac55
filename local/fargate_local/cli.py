"""fargate-local: run the local ECS emulator, and talk to a running one.

fargate-local serve [--host 127.0.0.1] [--port 5000] [--region us-east-1] [--speed 100] [--seed 0]
fargate-local describe | reset | behaviour '{"family": "job", "exit_code": 1}' | api-fault DescribeServices --rate 0.5
fargate-local airflow-variables > variables.json   # then: airflow variables import variables.json
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time

from fargate_local.client import LocalEcsClient


def _serve(args: argparse.Namespace) -> int:
    from fargate_local.server import LocalEcs

    started = time.monotonic()
    emulator = LocalEcs(
        args.host, args.port, region=args.region, seed=args.seed, speed=args.speed, verbose=args.verbose
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    emulator.start()
    try:
        LocalEcsClient(emulator.endpoint).health()  # answers requests: only then say ready
        network = emulator.network
        print(
            f"fargate-local: ECS emulator (moto + Fargate control plane) at {emulator.endpoint}, region {args.region}"
        )
        print(f"  export AWS_ENDPOINT_URL={emulator.endpoint}")
        print(
            f"  vpc {network['vpc_id']}; public subnets {','.join(network['public_subnets'])}; "
            f"private subnets {','.join(network['private_subnets'])}; security group {network['security_group']}"
        )
        print(f"  execution role {network['execution_role_arn']} (from iam/ecs-task-execution-role.json)")
        print(
            f"  load balancer {network['load_balancer_dns']}; environments' listener {network['listener_arn']}; "
            f"environments' domain {network['environments_domain']}"
        )
        print(
            f"  emulated time runs {emulator.behaviours.timing.speed:g}x; started in {time.monotonic() - started:.2f} s"
        )
        print("ready", flush=True)
        stop.wait()
    finally:
        emulator.stop()
        print("fargate-local: stopped", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fargate-local", description="Local ECS/Fargate emulator built on moto.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the emulator until Ctrl-C")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    serve.add_argument("--region", default="us-east-1", help="where the ready-made network is created")
    serve.add_argument("--seed", type=int, default=0, help="seed for API-fault sampling and deployment ids")
    serve.add_argument(
        "--speed", type=float, default=None, help="emulated time factor (1 = realistic pace; default 100)"
    )
    serve.add_argument("--verbose", action="store_true", help="log every request")
    for name, help_text in (
        ("describe", "print the network, timing, behaviours, faults and the calls answered"),
        ("reset", "forget all state"),
        # Read from the running emulator: its load balancer's ARN is new each time it starts.
        (
            "airflow-variables",
            "print the Variables that put environments behind its load balancer (JSON for `airflow variables import`)",
        ),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--endpoint", default=None, help="default: $AWS_ENDPOINT_URL or http://127.0.0.1:5000")
    behaviour = commands.add_parser(
        "behaviour", help='add a behaviour rule (JSON), e.g. \'{"image": "bad:*", "pull_failure": true}\''
    )
    behaviour.add_argument("rule")
    behaviour.add_argument("--endpoint", default=None)
    fault = commands.add_parser("api-fault", help="make calls to an ECS operation fail")
    fault.add_argument("operation")
    fault.add_argument("--kind", default="throttle", choices=("throttle", "server_error"))
    fault.add_argument("--rate", type=float, default=1.0)
    fault.add_argument("--count", type=int, default=None)
    fault.add_argument("--endpoint", default=None)
    args = parser.parse_args(argv)

    if args.command == "serve":
        return _serve(args)
    client = LocalEcsClient(args.endpoint)
    try:
        if args.command == "describe":
            result = client.describe()
        elif args.command == "reset":
            result = client.reset()
        elif args.command == "airflow-variables":
            from fargate_local.process import airflow_variables

            result = airflow_variables(client.network())
            if not result:
                raise ValueError(f"the emulator at {client.endpoint} has no ready-made load balancer")
        elif args.command == "behaviour":
            result = client.add_behaviour(**json.loads(args.rule))
        else:
            result = client.add_api_fault(args.operation, args.kind, args.rate, args.count)
    except (ValueError, OSError) as error:
        print(f"fargate-local: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
