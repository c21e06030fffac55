"""Benchmark: preview environments as CI makes them, with ``fargate-env`` against ``make airflow``'s stack.

    .venv/bin/python benchmarks/preview_environment.py [--burst 10]

Starts ``scripts/airflow_local.py`` (airflow standalone: API server, scheduler, triggerer, DAG
processor, LocalExecutor; the local emulator, its load balancer Variables set) on free ports in a
temporary home, signs in as admin, and measures in wall-clock seconds (Airflow's own loops run in
real time; the emulator plays ECS at its default pace):

* ``fargate-env up NAME --wait``: from the command's start to its exit with the URL (the
  environment stable: every target healthy), and the same for ``sleep``, ``wake`` and ``down``;
* a burst: ``--burst`` environments triggered at once (``fargate-env up`` without ``--wait``), then
  each run followed until it ends: the time from the trigger to each environment's run ending, the
  last one against one create alone;
* then every environment destroyed again (not measured).

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAG_ID = "fargate_ephemeral_environment"
IMAGE = "public.ecr.aws/nginx/nginx:1.27"
FARGATE_ENV = str(Path(sys.executable).parent / "fargate-env")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(base: str, method: str, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, object]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(
        base + path, method=method, headers=headers, data=None if body is None else json.dumps(body).encode()
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


def wait_for(what: str, check, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


def fargate_env(base: str, token: str, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS"))}
    env.update({"AIRFLOW_URL": base, "AIRFLOW_TOKEN": token})
    started = time.monotonic()
    done = subprocess.run([FARGATE_ENV, *args], env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"fargate-env {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    return time.monotonic() - started, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=10)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="fargate-bench-preview-"))
    port, emulator_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_ENDPOINT"))}
    env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
    env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(free_port())
    log = (home / "stack.log").open("w")
    stack = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "airflow_local.py"), "--home", str(home / "airflow"),
         "--port", str(port), "--emulator-port", str(emulator_port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
    )  # fmt: skip
    base = f"http://localhost:{port}"
    try:
        started = time.monotonic()

        def healthy():
            status, body = call(base, "GET", "/api/v2/monitor/health")
            parts = ("scheduler", "triggerer", "dag_processor")
            return status == 200 and isinstance(body, dict) and all(body[p]["status"] == "healthy" for p in parts)

        wait_for("airflow standalone to be healthy", healthy, timeout=300, interval=2)
        passwords = home / "airflow" / "simple_auth_manager_passwords.json.generated"
        password = json.loads(passwords.read_text())["admin"]
        status, token_body = call(base, "POST", "/auth/token", body={"username": "admin", "password": password})
        token = token_body["access_token"]  # type: ignore[index]
        wait_for(f"{DAG_ID} to be parsed", lambda: call(base, "GET", f"/api/v2/dags/{DAG_ID}", token)[0] == 200, 180)
        call(base, "PATCH", f"/api/v2/dags/{DAG_ID}", token, {"is_paused": False})
        print(f"preview_environment: make airflow's stack ready in {time.monotonic() - started:.0f} s ({home})")

        timings = {}
        for command in ("up", "sleep", "wake", "down"):
            extra = ["--image", IMAGE] if command == "up" else []
            seconds, done = fargate_env(base, token, command, "bench-one", *extra, "--wait", "--json")
            timings[command] = seconds
            print(f"  fargate-env {command} bench-one --wait: {seconds:.1f} s -> {done.stdout.strip()[:160]}")

        names = [f"burst-{i}" for i in range(args.burst)]
        triggered = {}
        burst_start = time.monotonic()
        for name in names:
            _, done = fargate_env(base, token, "up", name, "--image", IMAGE, "--json")
            triggered[name] = (time.monotonic(), json.loads(done.stdout)["dag_run_id"])
        ended: dict[str, float] = {}
        states: dict[str, str] = {}

        def all_ended():
            for name, (_, run_id) in triggered.items():
                if name in ended:
                    continue
                _, run = call(base, "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", token)
                if isinstance(run, dict) and run.get("state") in ("success", "failed"):
                    ended[name], states[name] = time.monotonic(), run["state"]
            return len(ended) == len(triggered)

        wait_for("the burst's runs to end", all_ended, timeout=60 * 60, interval=2)
        waits = sorted(ended[n] - triggered[n][0] for n in names)
        print(
            f"  burst of {args.burst} (triggered in {max(t for t, _ in triggered.values()) - burst_start:.1f} s): "
            f"{sum(s == 'success' for s in states.values())}/{args.burst} succeeded; trigger to run end: "
            f"median {statistics.median(waits):.0f} s, last {waits[-1]:.0f} s = {waits[-1] / timings['up']:.1f}x "
            f"one create alone ({timings['up']:.0f} s)"
        )
        for name in names:
            fargate_env(base, token, "down", name, "--wait")
    finally:
        os.killpg(stack.pid, signal.SIGINT)
        try:
            stack.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
        log.close()


if __name__ == "__main__":
    main()
