"""Real clients against the emulator: AWS's Fargate CLI tutorial with the `aws` command, and
the `fargate-local` command itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TASK_JSON = Path(__file__).resolve().parent.parent / "data" / "fargate-task.json"


def aws(emulator, *args: str) -> dict:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""}
    env.pop("AWS_ENDPOINT_URL", None)  # the tutorial's commands, plus --endpoint-url only
    result = subprocess.run(
        [str(BIN / "aws"), *args, "--endpoint-url", emulator.endpoint, "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_aws_fargate_cli_tutorial(emulator):
    subnet, group = emulator.network["public_subnets"][0], emulator.network["security_group"]
    cluster = aws(emulator, "ecs", "create-cluster", "--cluster-name", "fargate-cluster")["cluster"]
    assert cluster["status"] == "ACTIVE"
    registered = aws(emulator, "ecs", "register-task-definition", "--cli-input-json", f"file://{TASK_JSON}")
    assert registered["taskDefinition"]["revision"] == 1
    assert aws(emulator, "ecs", "list-task-definitions")["taskDefinitionArns"][0].endswith("sample-fargate:1")
    service = aws(
        emulator,
        "ecs",
        "create-service",
        "--cluster",
        "fargate-cluster",
        "--service-name",
        "fargate-service",
        "--task-definition",
        "sample-fargate:1",
        "--desired-count",
        "1",
        "--launch-type",
        "FARGATE",
        "--network-configuration",
        f"awsvpcConfiguration={{subnets=[{subnet}],securityGroups=[{group}],assignPublicIp=ENABLED}}",
        "--enable-execute-command",
    )["service"]
    assert service["enableExecuteCommand"] is True
    assert aws(emulator, "ecs", "list-services", "--cluster", "fargate-cluster")["serviceArns"] == [
        service["serviceArn"]
    ]
    aws(emulator, "ecs", "wait", "services-stable", "--cluster", "fargate-cluster", "--services", "fargate-service")
    described = aws(
        emulator, "ecs", "describe-services", "--cluster", "fargate-cluster", "--services", "fargate-service"
    )
    assert described["services"][0]["runningCount"] == 1
    aws(emulator, "ecs", "delete-service", "--cluster", "fargate-cluster", "--service", "fargate-service", "--force")
    aws(emulator, "ecs", "wait", "services-inactive", "--cluster", "fargate-cluster", "--services", "fargate-service")
    aws(emulator, "ecs", "deregister-task-definition", "--task-definition", "sample-fargate:1")
    deleted = aws(emulator, "ecs", "delete-cluster", "--cluster", "fargate-cluster")["cluster"]
    assert deleted["status"] == "INACTIVE"


def _serve(*extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "fargate-local"), "serve", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_until_ready(process: subprocess.Popen, timeout: float = 30) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if line.strip() == "ready":
            return lines
    raise AssertionError(f"fargate-local never said ready: {lines}")


def test_fargate_local_serve_describe_and_ctrl_c():
    process = _serve("--speed", "1")
    try:
        lines = _read_until_ready(process)
        endpoint = next(line.split("=", 1)[1] for line in lines if "export AWS_ENDPOINT_URL=" in line)
        described = subprocess.run(
            [str(BIN / "fargate-local"), "describe", "--endpoint", endpoint],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        info = json.loads(described.stdout)
        assert info["endpoint"] == endpoint and info["timing"]["speed"] == 1.0
        assert len(info["network"]["public_subnets"]) == 2 and len(info["network"]["private_subnets"]) == 2
        assert info["network"]["security_group"].startswith("sg-")
        rule = subprocess.run(
            [str(BIN / "fargate-local"), "behaviour", '{"family": "job", "exit_code": 2}', "--endpoint", endpoint],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert json.loads(rule.stdout)["behaviours"] == [{"family": "job", "exit_code": 2}]
        # the network is discoverable by tag, too
        import boto3

        ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1")
        private = ec2.describe_subnets(Filters=[{"Name": "tag:fargate:subnet-kind", "Values": ["private"]}])["Subnets"]
        assert sorted(s["SubnetId"] for s in private) == sorted(info["network"]["private_subnets"])
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "fargate-local: stopped" in out


def test_python_dash_m_runs_the_same_cli():
    result = subprocess.run(
        [sys.executable, "-m", "fargate_local", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "serve" in result.stdout and "describe" in result.stdout
