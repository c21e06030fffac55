"""The emulator as a child process, and the environment that points Airflow at it.

``make demo`` and ``make airflow`` run Airflow's own commands (``airflow dags test``,
``airflow standalone``) in other processes, so the emulator runs as ``fargate-local serve``
and every Airflow process finds it through ``aws_default``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT = 60


@dataclass
class EmulatorProcess:
    process: subprocess.Popen
    endpoint: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_emulator(port: int = 0, host: str = "127.0.0.1") -> EmulatorProcess:
    """Start ``fargate-local serve`` and wait for its ``ready`` line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fargate_local", "serve", "--host", host, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    endpoint, deadline, seen = None, time.monotonic() + READY_TIMEOUT, []
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        match = re.search(r" at (http://\S+),", line)
        if match:
            endpoint = match.group(1)
        if line.strip() == "ready" and endpoint:
            # Keep reading what it prints later, so a full pipe never blocks it.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return EmulatorProcess(process, endpoint)
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("fargate-local did not start:\n" + "".join(seen))


def aws_connection(endpoint: str, region: str = "us-east-1") -> str:
    """``aws_default`` as an AIRFLOW_CONN_ value: the amazon provider's endpoint_url extra, and
    botocore's host-prefix injection off (``config_kwargs``): botocore sends a few operations to
    a prefixed host (CloudWatch Logs' StartLiveTail to ``stream-`` + the endpoint's host), which
    AWS's endpoints resolve and a local address does not."""
    return json.dumps(
        {
            "conn_type": "aws",
            "extra": {"endpoint_url": endpoint, "region_name": region, "config_kwargs": {"inject_host_prefix": False}},
        }
    )


def airflow_environment(home: Path, endpoint: str, dags: Path, plugins: Path | None = None) -> dict[str, str]:
    """os.environ plus what an Airflow process needs to run this repo's DAGs against the emulator."""
    env = dict(os.environ)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    env.update(
        {
            # Airflow starts its components as `airflow …`: this environment's one comes first.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(endpoint),
            # The emulator takes any credentials; real ones are never needed or read.
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    if plugins is not None:
        env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(plugins)
    env.update(environment_variables(endpoint))
    return env


def airflow_variables(network: dict) -> dict[str, str]:
    """The two Variables a platform team sets once for environments behind a load balancer, by
    name (what ``airflow variables import`` reads): the emulator's ready-made ALB listener and
    its environments' domain, from its network (``/_fargate_local/network``); {} without them."""
    from fargate_provider.settings import ENVIRONMENTS_DOMAIN, ENVIRONMENTS_LISTENER_ARN

    if not (network.get("listener_arn") and network.get("environments_domain")):
        return {}
    return {
        ENVIRONMENTS_LISTENER_ARN.name: network["listener_arn"],
        ENVIRONMENTS_DOMAIN.name: network["environments_domain"],
    }


def environment_variables(endpoint: str) -> dict[str, str]:
    """:func:`airflow_variables` of the emulator at ``endpoint``, as AIRFLOW_VAR_ values."""
    from fargate_local.client import LocalEcsClient

    variables = airflow_variables(LocalEcsClient(endpoint).network())
    return {f"AIRFLOW_VAR_{name.upper()}": value for name, value in variables.items()}
